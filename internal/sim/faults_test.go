package sim

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/pool"
)

// The built-in model is Llama 3's: its rates over the paper's GPU-hours
// give back the 419 interruptions.
func TestDefaultFaultsAreLlama3(t *testing.T) {
	m := DefaultFaults()
	got := m.Total() * Llama3ChipHours / 1e6
	if math.Abs(got-419) > 1e-9 {
		t.Fatalf("the default rates give %.3f faults over Llama 3's snapshot, want 419", got)
	}
	if len(m.Kinds) != 18 {
		t.Fatalf("%d kinds, want the paper's 18 root causes", len(m.Kinds))
	}
}

func TestParseFaultsErrors(t *testing.T) {
	cases := map[string]struct{ file, want string }{
		"negative rate":     {"gpu rate=-1 scope=chip effect=unhealthy", "f:1: rate \"-1\": allowed: a number of faults per million chip-hours, 0 to 1e6"},
		"rate not a number": {"# c\n\ngpu rate=x scope=chip effect=unhealthy", "f:3: rate \"x\""},
		"unknown effect":    {"gpu rate=1 scope=chip effect=boom", "f:1: effect \"boom\": allowed: crash, unhealthy, node-lost, straggler"},
		"unknown key":       {"gpu rate=1 scope=chip effect=crash colour=red", "f:1: unknown key \"colour\""},
		"no key=value":      {"gpu rate=1 chip", "f:1: \"chip\": want key=value"},
		"missing rate":      {"gpu scope=chip effect=crash", "f:1: gpu: rate is required"},
		"missing scope":     {"gpu rate=1 effect=crash", "f:1: gpu: scope is required"},
		"missing effect":    {"gpu rate=1 scope=chip", "f:1: gpu: effect is required"},
		"duplicate name":    {"a rate=1 scope=chip effect=crash\na rate=1 scope=chip effect=crash", "f:2: name \"a\": given twice"},
		"duplicate key":     {"a rate=1 rate=2 scope=chip effect=crash", "f:1: rate: given twice"},
		"bad repair":        {"a rate=1 scope=host effect=node-lost repair=-5m", "f:1: repair \"-5m\""},
		"straggler no slow": {"a rate=1 scope=chip effect=straggler", "f:1: a: a straggler needs slowdown"},
		"slowdown 1":        {"a rate=1 scope=chip effect=straggler slowdown=1", "f:1: slowdown \"1\""},
		"slowdown on crash": {"a rate=1 scope=chip effect=crash slowdown=2", "f:1: a: slowdown is for effect=straggler only"},
		"crash of a host":   {"a rate=1 scope=host effect=crash", "f:1: a: a crash is one rank's process: scope must be chip"},
		"bad name":          {"a/b rate=1 scope=chip effect=crash", "f:1: name \"a/b\""},
		"empty":             {"# nothing\n", "f: no fault kinds"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParseFaults("f", []byte(c.file))
			if err == nil || !errors.Is(err, ErrFaultFile) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

func TestFaultFileExample(t *testing.T) {
	m, err := ReadFaultFile("../../examples/faults/llama3-correlated.faults")
	if err != nil {
		t.Fatal(err)
	}
	h100, err := pool.LoadFile("../../examples/pools/h100-roce-16k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Check(h100); err != nil {
		t.Fatalf("the example fault file on the H100 pool: %v", err)
	}
	atlas, err := pool.LoadFile("../../examples/pools/atlas950-2superpod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The Atlas pool has racks but no level named pod.
	err = m.Check(atlas)
	if err == nil || !strings.Contains(err.Error(), "llama3-correlated.faults:18: scope \"pod\": not a level") {
		t.Fatalf("error %v, want the pod scope's line", err)
	}
}

// Faults drawn for a seed depend on the seed only, and their count follows
// the rate.
func TestDrawFaults(t *testing.T) {
	topo := smallPool(t)
	m := &FaultModel{Kinds: []FaultKind{{Name: "a", Rate: 1000, Scope: ScopeChip, Effect: Unhealthy, Repair: time.Hour}}}
	span := 100 * 24 * time.Hour
	a, b := DrawFaults(m, topo, span, 3), DrawFaults(m, topo, span, 3)
	if len(a) != len(b) || len(a) == 0 || a[len(a)-1] != b[len(b)-1] {
		t.Fatal("the same seed drew different faults")
	}
	want := 1000 / 1e6 * float64(topo.NumChips()) * span.Hours()
	if n := float64(len(a)); math.Abs(n-want) > 4*math.Sqrt(want) {
		t.Fatalf("%v faults, want about %.0f", n, want)
	}
	if c := DrawFaults(m, topo, span, 4); len(c) == len(a) && c[0] == a[0] {
		t.Fatal("another seed drew the same faults")
	}
}

func FuzzParseFaults(f *testing.F) {
	f.Add("gpu rate=1.5 scope=chip effect=unhealthy repair=48h\n")
	f.Add("# c\nslow rate=0.5 scope=chip effect=straggler slowdown=1.3 repair=1h fixed=true\n")
	f.Add("sw rate=0.1 scope=rack effect=node-lost repair=6h\nbug rate=2 scope=chip effect=crash")
	f.Add("x rate=1e999 scope=chip effect=crash")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseFaults("fuzz", []byte(s))
		if err != nil {
			if !errors.Is(err, ErrFaultFile) || !strings.HasPrefix(err.Error(), ErrFaultFile.Error()+": fuzz") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		for _, k := range m.Kinds {
			if k.Rate < 0 || math.IsNaN(k.Rate) || k.Scope == "" || k.Effect == "" || k.Repair < 0 ||
				(k.Effect == Straggler) != (k.Slowdown > 1) || k.Line < 1 {
				t.Fatalf("accepted an invalid kind %+v", k)
			}
		}
	})
}
