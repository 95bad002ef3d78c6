package sim

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/qunhq/qun/internal/pool"
)

// ErrFaultFile marks a fault file that cannot be used: the message names the
// line, the field, the value and what is allowed.
var ErrFaultFile = errors.New("bad fault file")

// Effect is what a fault does to the ranks on the chips it takes.
type Effect string

// Fault effects, each reported to the job lifecycle as the event the
// server would see (docs/faults-sim.md).
const (
	// Crash: the rank's process dies on a healthy node (a software bug, a
	// collective watchdog): lifecycle.EvRankExited. The chips stay usable.
	Crash Effect = "crash"
	// Unhealthy: a chip turns unhealthy (Xid, double-bit ECC, HBM):
	// lifecycle.EvDeviceUnhealthy. Its host is drained until repaired.
	Unhealthy Effect = "unhealthy"
	// NodeLost: the host (or every host of the domain) stops answering:
	// lifecycle.EvNodeLost. Down until repaired.
	NodeLost Effect = "node-lost"
	// Straggler: a chip runs slow; the whole synchronous job runs at its
	// pace until the slow chip is detected, then it is handled as
	// unhealthy.
	Straggler Effect = "straggler"
)

var effects = []Effect{Crash, Unhealthy, NodeLost, Straggler}

// Scope names what one fault takes: a chip, its host, or every chip of the
// enclosing domain at a pool level (a leaf switch, a supernode's bus).
const (
	ScopeChip = "chip"
	ScopeHost = "host"
)

// FaultKind is one category of fault: how often it strikes a chip, what it
// takes and does, and how long the broken part stays out.
type FaultKind struct {
	Name string `json:"name"`
	// Rate is faults per million chip-hours, over every chip of the pool.
	Rate   float64 `json:"rate_per_million_chip_hours"`
	Scope  string  `json:"scope"` // chip, host or a level name
	Effect Effect  `json:"effect"`
	// Repair is the mean time the struck host (or domain) stays out, drawn
	// from an exponential distribution (Fixed: exactly this long); 0 means
	// it is usable again at once.
	Repair time.Duration `json:"repair_s"`
	Fixed  bool          `json:"fixed_repair,omitempty"`
	// Slowdown is a straggler's step-time factor (> 1).
	Slowdown float64 `json:"slowdown,omitempty"`
	Line     int     `json:"-"`
}

// FaultModel is every fault category of an experiment.
type FaultModel struct {
	Name  string      `json:"name"`
	Kinds []FaultKind `json:"kinds"`
}

// Total is the summed rate in faults per million chip-hours.
func (m *FaultModel) Total() float64 {
	t := 0.0
	for _, k := range m.Kinds {
		t += k.Rate
	}
	return t
}

// Llama 3 405B pre-training (Meta, "The Llama 3 Herd of Models", 2024,
// section 3.3.4 and table 5): 419 unexpected interruptions in a 54-day
// snapshot on 16,384 H100. Rates are count ÷ (54 × 24 × 16,384 GPU-hours).
const (
	llama3Interruptions = 419
	llama3Days          = 54
	llama3GPUs          = 16384
)

// Llama3ChipHours is the GPU-hours of the Llama 3 snapshot.
const Llama3ChipHours = llama3Days * 24 * llama3GPUs

// DefaultFaults is the built-in fault model: the root causes of Llama 3's
// interruptions, as counts, each with the scope, effect and repair time
// docs/faults-sim.md gives with its source.
func DefaultFaults() *FaultModel {
	const hw = 48 * time.Hour // assumed: a part swapped within two days
	rows := []struct {
		name   string
		count  int
		scope  string
		effect Effect
		repair time.Duration
	}{
		{"faulty-gpu", 148, ScopeChip, Unhealthy, hw},
		{"gpu-hbm3", 72, ScopeChip, Unhealthy, hw},
		{"software-bug", 54, ScopeChip, Crash, 0},
		{"network-switch-cable", 35, ScopeHost, NodeLost, 4 * time.Hour},
		{"host-maintenance", 32, ScopeHost, NodeLost, 4 * time.Hour},
		{"gpu-sram", 19, ScopeChip, Unhealthy, hw},
		{"gpu-system-processor", 17, ScopeChip, Unhealthy, hw},
		{"nic", 7, ScopeHost, NodeLost, hw},
		{"nccl-watchdog", 7, ScopeChip, Crash, 0},
		{"silent-data-corruption", 6, ScopeChip, Unhealthy, hw},
		{"gpu-thermal", 6, ScopeChip, Unhealthy, hw},
		{"ssd", 3, ScopeHost, NodeLost, hw},
		{"power-supply", 3, ScopeHost, NodeLost, hw},
		{"server-chassis", 2, ScopeHost, NodeLost, hw},
		{"io-expansion-board", 2, ScopeHost, NodeLost, hw},
		{"dependency", 2, ScopeChip, Crash, 0},
		{"cpu", 2, ScopeHost, NodeLost, hw},
		{"system-memory", 2, ScopeHost, NodeLost, hw},
	}
	m := &FaultModel{Name: "llama3 (built in)"}
	for _, r := range rows {
		m.Kinds = append(m.Kinds, FaultKind{Name: r.name, Rate: float64(r.count) / Llama3ChipHours * 1e6,
			Scope: r.scope, Effect: r.effect, Repair: r.repair})
	}
	return m
}

// ReadFaultFile reads a fault file (format in docs/faults-sim.md).
func ReadFaultFile(path string) (*FaultModel, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFaultFile, err)
	}
	m, err := ParseFaults(path, data)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// maxFaultKinds bounds a fault file.
const maxFaultKinds = 1000

// ParseFaults parses a fault file: one fault kind per line,
//
//	NAME rate=R scope=chip|host|LEVEL effect=crash|unhealthy|node-lost|straggler [repair=DUR] [fixed=true] [slowdown=F]
//
// blank lines and '#' comments ignored. Every error names name:line.
func ParseFaults(name string, data []byte) (*FaultModel, error) {
	m := &FaultModel{Name: name}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 64*1024)
	line := 0
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s:%d: %s", ErrFaultFile, name, line, fmt.Sprintf(format, args...))
	}
	seen := map[string]bool{}
	for sc.Scan() {
		line++
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		fields := strings.Fields(text)
		if len(fields) == 0 {
			continue
		}
		k := FaultKind{Name: fields[0], Line: line, Rate: -1}
		if !validName(k.Name) {
			return nil, bad("name %q: allowed: letters, digits, '-', '_', '.', at most 63", k.Name)
		}
		if seen[k.Name] {
			return nil, bad("name %q: given twice", k.Name)
		}
		seen[k.Name] = true
		keys := map[string]bool{}
		for _, f := range fields[1:] {
			key, val, ok := strings.Cut(f, "=")
			if !ok {
				return nil, bad("%q: want key=value (keys: rate, scope, effect, repair, fixed, slowdown)", f)
			}
			if keys[key] {
				return nil, bad("%s: given twice", key)
			}
			keys[key] = true
			switch key {
			case "rate":
				r, err := strconv.ParseFloat(val, 64)
				if err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) || r > 1e6 {
					return nil, bad("rate %q: allowed: a number of faults per million chip-hours, 0 to 1e6", val)
				}
				k.Rate = r
			case "scope":
				if val == "" || (val != ScopeChip && val != ScopeHost && !validName(val)) {
					return nil, bad("scope %q: allowed: chip, host or a level name of the pool", val)
				}
				k.Scope = val
			case "effect":
				if !slices.Contains(effects, Effect(val)) {
					return nil, bad("effect %q: allowed: crash, unhealthy, node-lost, straggler", val)
				}
				k.Effect = Effect(val)
			case "repair":
				d, err := time.ParseDuration(val)
				if err != nil || d < 0 || d > 365*24*time.Hour {
					return nil, bad("repair %q: allowed: a Go duration from 0 to 8760h, such as 48h", val)
				}
				k.Repair = d
			case "fixed":
				b, err := strconv.ParseBool(val)
				if err != nil {
					return nil, bad("fixed %q: allowed: true or false", val)
				}
				k.Fixed = b
			case "slowdown":
				s, err := strconv.ParseFloat(val, 64)
				if err != nil || !(s > 1 && s <= 100) {
					return nil, bad("slowdown %q: allowed: a step-time factor above 1, at most 100", val)
				}
				k.Slowdown = s
			default:
				return nil, bad("unknown key %q (allowed: rate, scope, effect, repair, fixed, slowdown)", key)
			}
		}
		switch {
		case k.Rate < 0:
			return nil, bad("%s: rate is required", k.Name)
		case k.Scope == "":
			return nil, bad("%s: scope is required (chip, host or a level name)", k.Name)
		case k.Effect == "":
			return nil, bad("%s: effect is required (crash, unhealthy, node-lost, straggler)", k.Name)
		case k.Effect == Straggler && k.Slowdown == 0:
			return nil, bad("%s: a straggler needs slowdown (a factor above 1)", k.Name)
		case k.Effect != Straggler && k.Slowdown != 0:
			return nil, bad("%s: slowdown is for effect=straggler only", k.Name)
		case k.Effect == Crash && k.Scope != ScopeChip:
			return nil, bad("%s: a crash is one rank's process: scope must be chip", k.Name)
		}
		if len(m.Kinds) == maxFaultKinds {
			return nil, bad("more than %d fault kinds", maxFaultKinds)
		}
		m.Kinds = append(m.Kinds, k)
	}
	if err := sc.Err(); err != nil {
		line++
		return nil, bad("%v", err)
	}
	if len(m.Kinds) == 0 {
		return nil, fmt.Errorf("%w: %s: no fault kinds", ErrFaultFile, name)
	}
	return m, nil
}

func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// Check verifies the model against a pool: every level scope exists and is
// at or above the host level. The error names the line.
func (m *FaultModel) Check(t *pool.Topology) error {
	for _, k := range m.Kinds {
		if k.Scope == ScopeChip || k.Scope == ScopeHost {
			continue
		}
		lv, ok := t.LevelIndex(k.Scope)
		if !ok || lv > t.HostLevel {
			var names []string
			for i := 0; i <= t.HostLevel; i++ {
				names = append(names, t.Levels[i].Name)
			}
			where := m.Name
			if k.Line > 0 {
				where = fmt.Sprintf("%s:%d", m.Name, k.Line)
			}
			return fmt.Errorf("%w: %s: scope %q: not a level at or above the hosts of pool %s (allowed: chip, host, %s)",
				ErrFaultFile, where, k.Scope, t.Name, strings.Join(names, ", "))
		}
	}
	return nil
}

// Fault is one drawn fault: when, which kind, the chip it struck first,
// and how long the broken part stays out.
type Fault struct {
	At     time.Duration // since the start
	Kind   int           // index into FaultModel.Kinds
	Chip   pool.ChipID
	Repair time.Duration
}

// DrawFaults draws every fault of the pool over span: a Poisson process per
// kind at Rate × the pool's chips, each on a uniformly drawn chip. The
// sequence depends on the seed, the model and the pool only, so every
// recovery policy meets the same faults.
func DrawFaults(m *FaultModel, t *pool.Topology, span time.Duration, seed int64) []Fault {
	chips := t.NumChips()
	var out []Fault
	for i, k := range m.Kinds {
		// One stream per kind: adding a kind leaves the others' draws alone.
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)+0x9e3779b97f4a7c15))
		perSecond := k.Rate / 1e6 * float64(chips) / 3600
		if perSecond <= 0 {
			continue
		}
		at := 0.0
		for {
			at += rng.ExpFloat64() / perSecond
			if at >= span.Seconds() {
				break
			}
			f := Fault{At: time.Duration(at * float64(time.Second)), Kind: i, Chip: pool.ChipID(rng.IntN(chips))}
			switch {
			case k.Repair == 0:
			case k.Fixed:
				f.Repair = k.Repair
			default:
				f.Repair = time.Duration(rng.ExpFloat64() * float64(k.Repair))
			}
			out = append(out, f)
		}
	}
	slices.SortStableFunc(out, func(a, b Fault) int {
		if a.At != b.At {
			return cmpDur(a.At, b.At)
		}
		return a.Kind - b.Kind
	})
	return out
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
