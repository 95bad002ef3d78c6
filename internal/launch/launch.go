package launch

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/qunhq/qun/internal/pool"
)

// ErrEmpty is returned for a placement without ranks.
var ErrEmpty = errors.New("placement has no ranks")

// Worker is one process of the job: one per chip for whole-chip ranks (the
// rank's chips in order), one per rank for shared-chip and CPU-only ranks.
type Worker struct {
	Rank      int // global rank, 0 .. len(Table.Workers)-1
	Group     int // index of the scheduler rank (claim) it belongs to
	LocalRank int // index among the workers of its group
	Host      pool.DomainID
	HostPath  string
	Device    int         // device index on the host; -1 without a chip
	Chip      pool.ChipID // -1 without a chip
	Kind      string      // chip kind name; "" without a chip
	Family    string      // collective family of the kind
	Milli     int         // thousandths of the chip held
}

// Table is the rank table of a placement: its workers in rank order and
// its groups (scheduler ranks), each the contiguous workers of one claim.
type Table struct {
	Topology *pool.Topology
	Workers  []Worker
	Groups   [][2]int // [first, end) worker index of each group
	// Hosts lists the hosts in order of their first worker.
	Hosts []pool.DomainID
}

// NewTable builds the table of p: claim i is group i; a claim's chips in
// grant order are its workers, so the placement's claims and grants must be
// in rank order (as the scheduler's Place plugins return them).
func NewTable(t *pool.Topology, p *pool.Placement) (*Table, error) {
	if p == nil || len(p.Ranks) == 0 {
		return nil, ErrEmpty
	}
	tb := &Table{Topology: t}
	seen := map[pool.DomainID]bool{}
	for g, cl := range p.Ranks {
		if cl.Host < 0 || int(cl.Host) >= t.NumDomains() || t.HostOf(cl.Host) != cl.Host {
			return nil, fmt.Errorf("claim %d: domain %d is not a host", g, cl.Host)
		}
		if !seen[cl.Host] {
			seen[cl.Host] = true
			tb.Hosts = append(tb.Hosts, cl.Host)
		}
		first := len(tb.Workers)
		add := func(w Worker) {
			w.Rank, w.Group, w.LocalRank, w.Host, w.HostPath = len(tb.Workers), g, len(tb.Workers)-first, cl.Host, t.Path(cl.Host)
			tb.Workers = append(tb.Workers, w)
		}
		if len(cl.Grants) == 0 {
			add(Worker{Device: -1, Chip: -1})
		}
		for _, gr := range cl.Grants {
			if gr.Chip < 0 || int(gr.Chip) >= t.NumChips() || t.ChipHost(gr.Chip) != cl.Host {
				return nil, fmt.Errorf("claim %d: chip %d is not on host %s", g, gr.Chip, t.Path(cl.Host))
			}
			k := t.Kinds[t.ChipKind(gr.Chip)]
			add(Worker{Device: t.ChipIndex(gr.Chip), Chip: gr.Chip, Kind: k.Name, Family: k.Collective, Milli: int(gr.Milli)})
		}
		tb.Groups = append(tb.Groups, [2]int{first, len(tb.Workers)})
	}
	return tb, nil
}

// Family returns the collective family of the table's chips ("HCCL",
// "NCCL", both joined by "+" for a mixed gang, "" without chips).
func (tb *Table) Family() string {
	var fams []string
	for _, w := range tb.Workers {
		if w.Family != "" && !slices.Contains(fams, w.Family) {
			fams = append(fams, w.Family)
		}
	}
	return strings.Join(fams, "+")
}
