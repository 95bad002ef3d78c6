package pool

import (
	"fmt"
	"strings"
)

// DomainID names a domain of one Topology; 0 is the root. IDs are dense and
// in depth-first order.
type DomainID int32

// ChipID names a chip of one Topology. IDs are dense and in depth-first
// order, so every domain owns the contiguous range [ChipLo, ChipHi).
type ChipID int32

// KindID indexes Topology.Kinds.
type KindID uint16

// NoDomain is returned where there is no such domain.
const NoDomain DomainID = -1

// Level is one named tier of the tree. Bandwidth and latency describe traffic
// that stays inside one domain of the level.
type Level struct {
	Name string `json:"name"`
	// Host marks the level whose domains are machines (agents, CPU, memory).
	Host             bool      `json:"host,omitempty"`
	BandwidthGBps    float64   `json:"bandwidth_gbps"`        // per chip, one direction
	LatencyUs        float64   `json:"latency_us"`            // one hop
	Oversubscription float64   `json:"oversubscription"`      // >= 1
	Shape            ShapeRule `json:"shape,omitempty"`       // how one rank may sit in a domain
	DomainSize       int       `json:"domain_size,omitempty"` // chips per domain when all are equal, else 0
}

// ShapeRule restricts how one rank's chips sit inside the domains of a level.
// It applies to ranks of whole chips on levels at or below the host level.
type ShapeRule struct {
	// Counts lists the chip counts a rank may take inside one domain; empty
	// means any.
	Counts []int `yaml:"counts,omitempty" json:"counts,omitempty"`
	// MaxCount caps the chips of one rank inside one domain; 0 means no cap.
	MaxCount int `yaml:"maxCount,omitempty" json:"max_count,omitempty"`
	// Align: a rank of at most one domain's size sits inside one domain, and
	// a rank whose size is a multiple of the domain size takes whole domains.
	Align bool `yaml:"align,omitempty" json:"align,omitempty"`
}

// IsZero reports whether the rule restricts nothing.
func (r ShapeRule) IsZero() bool { return len(r.Counts) == 0 && r.MaxCount == 0 && !r.Align }

type kindTotal struct {
	kind  KindID
	total int32
}

type domInfo struct {
	parent         DomainID
	host           DomainID // host ancestor-or-self; NoDomain above the host level
	level          uint8
	name           string // local name, unique among siblings
	childLo        int32  // children are Topology.children[childLo:childHi]
	childHi        int32
	chipLo, chipHi ChipID
	leaf           bool // chips sit directly in this domain
	cpuMilli       int64
	memoryMiB      int64
	maxRanks       int32 // hosts only; 0: no limit
	powerBudgetMW  int64 // 0: no budget; else milliwatts
	spare          bool  // hosts only: held back for recovery (DomainSpec.Spares)
	kindLo, kindHi int32 // kinds in this subtree: Topology.kinds[kindLo:kindHi]
}

type chipInfo struct {
	leaf  DomainID
	host  DomainID
	kind  KindID
	index uint16 // device index within its host
}

// Topology is the immutable shape of a pool. It is safe for concurrent use.
type Topology struct {
	Name        string
	Description string
	Levels      []Level
	HostLevel   int
	Kinds       []ChipKind // kinds present in the pool

	doms       []domInfo
	children   []DomainID
	chips      []chipInfo
	kinds      []kindTotal
	hosts      []DomainID
	hostByName map[string]DomainID
	powerMW    []int64 // per KindID: rounded watts × 1000 thousandths = mW at full use
	hasBudgets bool
	spares     []DomainID // spare hosts, in topology order
}

// Spares returns the spare hosts: held back for recovery, so that only a
// job replacing ranks it lost to a fault places ranks there.
func (t *Topology) Spares() []DomainID { return t.spares }

// IsSpare reports whether host h is a spare.
func (t *Topology) IsSpare(h DomainID) bool { return h >= 0 && int(h) < len(t.doms) && t.doms[h].spare }

// NumDomains returns the number of domains.
func (t *Topology) NumDomains() int { return len(t.doms) }

// NumChips returns the number of chips.
func (t *Topology) NumChips() int { return len(t.chips) }

// Hosts returns the host domains in order. The slice must not be modified.
func (t *Topology) Hosts() []DomainID { return t.hosts }

// HostByName returns the host with the given path or local name.
func (t *Topology) HostByName(name string) (DomainID, bool) {
	d, ok := t.hostByName[name]
	return d, ok
}

// Parent returns d's parent, or NoDomain for the root.
func (t *Topology) Parent(d DomainID) DomainID { return t.doms[d].parent }

// LevelOf returns the level index of d.
func (t *Topology) LevelOf(d DomainID) int { return int(t.doms[d].level) }

// Children returns d's children. The slice must not be modified.
func (t *Topology) Children(d DomainID) []DomainID {
	di := &t.doms[d]
	return t.children[di.childLo:di.childHi]
}

// ChipRange returns the chips of d as [lo, hi).
func (t *Topology) ChipRange(d DomainID) (lo, hi ChipID) { return t.doms[d].chipLo, t.doms[d].chipHi }

// Size returns the number of chips below d.
func (t *Topology) Size(d DomainID) int { return int(t.doms[d].chipHi - t.doms[d].chipLo) }

// IsLeaf reports whether chips sit directly in d.
func (t *Topology) IsLeaf(d DomainID) bool { return t.doms[d].leaf }

// HostOf returns d's host ancestor-or-self, or NoDomain above the host level.
func (t *Topology) HostOf(d DomainID) DomainID { return t.doms[d].host }

// CPUMilli and MemoryMiB return a host's capacity (0 for other domains).
func (t *Topology) CPUMilli(d DomainID) int64  { return t.doms[d].cpuMilli }
func (t *Topology) MemoryMiB(d DomainID) int64 { return t.doms[d].memoryMiB }

// MaxRanks returns the most ranks host d runs at once, 0 for no limit.
func (t *Topology) MaxRanks(d DomainID) int { return int(t.doms[d].maxRanks) }

// PowerBudgetW returns d's power budget in watts, 0 when it has none.
func (t *Topology) PowerBudgetW(d DomainID) float64 { return float64(t.doms[d].powerBudgetMW) / 1000 }

// ChipHost returns the host of chip c.
func (t *Topology) ChipHost(c ChipID) DomainID { return t.chips[c].host }

// ChipLeaf returns the leaf domain chip c sits in.
func (t *Topology) ChipLeaf(c ChipID) DomainID { return t.chips[c].leaf }

// ChipKind returns the kind of chip c.
func (t *Topology) ChipKind(c ChipID) KindID { return t.chips[c].kind }

// ChipIndex returns chip c's device index within its host.
func (t *Topology) ChipIndex(c ChipID) int { return int(t.chips[c].index) }

// KindID returns the ID of a kind present in the pool.
func (t *Topology) KindID(name string) (KindID, bool) {
	for i, k := range t.Kinds {
		if k.Name == name {
			return KindID(i), true
		}
	}
	return 0, false
}

// KindCount returns how many chips of kind k are below d.
func (t *Topology) KindCount(d DomainID, k KindID) int {
	di := &t.doms[d]
	for _, kt := range t.kinds[di.kindLo:di.kindHi] {
		if kt.kind == k {
			return int(kt.total)
		}
	}
	return 0
}

// DomainKinds returns the kinds below d with their chip counts.
func (t *Topology) DomainKinds(d DomainID) map[KindID]int {
	di := &t.doms[d]
	out := make(map[KindID]int, di.kindHi-di.kindLo)
	for _, kt := range t.kinds[di.kindLo:di.kindHi] {
		out[kt.kind] = int(kt.total)
	}
	return out
}

// Ancestor returns the domain at level lvl containing d (d itself when it is
// at that level), or NoDomain when d's branch has no domain at that level or
// d sits above it.
func (t *Topology) Ancestor(d DomainID, lvl int) DomainID {
	for d != NoDomain {
		l := int(t.doms[d].level)
		if l == lvl {
			return d
		}
		if l < lvl {
			return NoDomain
		}
		d = t.doms[d].parent
	}
	return NoDomain
}

// ChipAncestor returns the domain at level lvl containing chip c.
func (t *Topology) ChipAncestor(c ChipID, lvl int) DomainID {
	return t.Ancestor(t.chips[c].leaf, lvl)
}

// Name returns d's local name.
func (t *Topology) DomainName(d DomainID) string { return t.doms[d].name }

// Path returns d's full name: local names from the root's child down,
// joined by '/'. The root's path is its own name.
func (t *Topology) Path(d DomainID) string {
	if d == 0 {
		return t.doms[0].name
	}
	var parts []string
	for ; d > 0; d = t.doms[d].parent {
		parts = append(parts, t.doms[d].name)
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, "/")
}

// ChipName returns a chip's name: its host's path and device index.
func (t *Topology) ChipName(c ChipID) string {
	return fmt.Sprintf("%s/%d", t.Path(t.chips[c].host), t.chips[c].index)
}

// DomainsAt returns the domains at level lvl in order.
func (t *Topology) DomainsAt(lvl int) []DomainID {
	var out []DomainID
	for i := range t.doms {
		if int(t.doms[i].level) == lvl {
			out = append(out, DomainID(i))
		}
	}
	return out
}

// LevelIndex returns the index of the named level.
func (t *Topology) LevelIndex(name string) (int, bool) {
	for i, l := range t.Levels {
		if l.Name == name {
			return i, true
		}
	}
	return 0, false
}

// HasPowerBudgets reports whether any domain has a power budget.
func (t *Topology) HasPowerBudgets() bool { return t.hasBudgets }
