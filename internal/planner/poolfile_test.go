package planner

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/qunhq/qun/internal/pool"
)

func TestPoolTarget(t *testing.T) {
	data, err := os.ReadFile("testdata/pool-h100.yaml")
	if err != nil {
		t.Fatal(err)
	}
	topo, err := pool.Load("pool-h100.yaml", data, pool.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	tg, err := PoolTarget(topo, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Level{
		{Name: "cluster", Size: 0, BandwidthGBps: 50, LatencyUs: 10, Oversubscription: 2},
		{Name: "node", Size: 8, BandwidthGBps: 450, LatencyUs: 2, Oversubscription: 1},
	}
	if d := cmp.Diff(want, tg.Fabric.Levels); d != "" {
		t.Errorf("levels (-want +got):\n%s", d)
	}
	if tg.MaxChips != 64 || tg.Chip.Name != "H100" {
		t.Errorf("target = %+v", tg)
	}
	if _, err := PoolTarget(topo, "910C"); !errors.Is(err, ErrInput) {
		t.Errorf("missing kind: err = %v", err)
	}

	// The pool caps the chips a deadline may ask for.
	m, _ := Preset("dense-70b")
	_, err = Plan(Request{Model: m, Tokens: 1e12, Targets: []Target{tg}, Deadline: 24 * 3600e9})
	var de *DeadlineError
	if !errors.As(err, &de) || de.Best.Chips > 64 || !strings.Contains(err.Error(), "the pool has only 64 chips") {
		t.Fatalf("err = %v", err)
	}
	res, err := Plan(Request{Model: m, Tokens: 1e10, Targets: []Target{tg}, Chips: 64})
	if err != nil {
		t.Fatal(err)
	}
	if k := res.Kinds[0]; k.Chips > 64 || k.Kind != "H100@dgx64" {
		t.Errorf("plan on the pool: %+v", k)
	}
}
