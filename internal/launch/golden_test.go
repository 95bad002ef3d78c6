package launch_test

import (
	"errors"
	"testing"

	"github.com/qunhq/qun/internal/golden"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/launch"
	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
)

// goldenCase places a gang with the topology-aware placer on a pool,
// optionally after taking some chips, and checks hccl.json (for HCCL
// pools) and the environment against testdata/NAME.*.golden.
type goldenCase struct {
	pool      string
	occupied  []string // chip names taken before placing
	job       place.Request
	wantHCCL  bool
	rankTable string
}

func TestGolden(t *testing.T) {
	cases := map[string]goldenCase{
		// 910: 4 ranks of 4 NPUs (one HCCS ring each), tensor 4 × data 4; one
		// NPU of n0's first ring is taken, so the gang skips that ring.
		"ascend910": {pool: "../../examples/pools/ascend910-cluster.yaml", occupied: []string{"rack0/n0/0"},
			job:      place.Request{ID: "g910", Ranks: 4, RankMilli: 4000, Kinds: []string{"910"}, Plan: job.Parallelism{Tensor: 4, Data: 4}},
			wantHCCL: true, rankTable: "/etc/qun/hccl.json"},
		// A3: 3 ranks of 8 dies over two 16-die nodes of one supernode
		// (hccl.json version 1.2 with super_pod_list).
		"a3": {pool: "../pool/testdata/a3-dies.yaml",
			job:      place.Request{ID: "ga3", Ranks: 3, RankMilli: 8000, Plan: job.Parallelism{Tensor: 8, Data: 3}},
			wantHCCL: true},
		// DGX: 16 one-GPU ranks, tensor 8 × data 2, with two GPUs of dgx0
		// taken: the tensor groups land on whole nodes.
		"dgx": {pool: "../../examples/pools/dgx-h100-superpod.yaml", occupied: []string{"su0/dgx0/0", "su0/dgx0/5"},
			job: place.Request{ID: "gdgx", Ranks: 16, RankMilli: 1000, Plan: job.Parallelism{Tensor: 8, Data: 2}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			topo, err := pool.LoadFile(tc.pool)
			if err != nil {
				t.Fatal(err)
			}
			st := pool.NewState(topo)
			occupy(t, st, tc.occupied)
			d := place.New(place.Options{}).Decide(&tc.job, st, place.Env{})
			if !d.Placed {
				t.Fatalf("not placed: %v", d.Status)
			}
			tb, err := launch.NewTable(topo, d.Placement)
			if err != nil {
				t.Fatal(err)
			}
			addr := launch.Placeholder(topo)
			rt, err := launch.HCCL(tb, addr)
			if tc.wantHCCL {
				if err != nil {
					t.Fatal(err)
				}
				golden.Check(t, "testdata/"+name+".hccl.json.golden", rt.JSON())
			} else if err == nil {
				t.Errorf("HCCL rank table built for %s chips, want an error", tb.Family())
			}
			env := launch.Env(tb, addr, launch.EnvOptions{RankTableFile: tc.rankTable})
			golden.Check(t, "testdata/"+name+".env.golden", []byte(launch.FormatEnv(tb, env)))
		})
	}
}

func occupy(t *testing.T, st *pool.State, chips []string) {
	t.Helper()
	topo := st.Topology()
	for _, name := range chips {
		found := false
		for c := pool.ChipID(0); int(c) < topo.NumChips(); c++ {
			if topo.ChipName(c) == name {
				if err := st.Allocate(pool.Claim{Host: topo.ChipHost(c), Grants: []pool.Grant{{Chip: c, Milli: pool.Full}}}); err != nil {
					t.Fatal(err)
				}
				found = true
			}
		}
		if !found {
			t.Fatalf("no chip %s", name)
		}
	}
}

func TestNewTableRejects(t *testing.T) {
	topo, err := pool.LoadFile("../../examples/pools/dgx-h100-superpod.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := launch.NewTable(topo, &pool.Placement{}); !errors.Is(err, launch.ErrEmpty) {
		t.Errorf("empty placement: got %v, want ErrEmpty", err)
	}
	h := topo.Hosts()[0]
	other := topo.Hosts()[1]
	lo, _ := topo.ChipRange(other)
	p := &pool.Placement{Ranks: []pool.Claim{{Host: h, Grants: []pool.Grant{{Chip: lo, Milli: pool.Full}}}}}
	if _, err := launch.NewTable(topo, p); err == nil {
		t.Error("chip on another host accepted")
	}
}

// TestSharedRanks checks that shared-chip ranks get one worker each and
// cannot go into an HCCL rank table.
func TestSharedRanks(t *testing.T) {
	topo, err := pool.LoadFile("../../examples/pools/ascend910-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d := place.New(place.Options{}).Decide(&place.Request{ID: "s", Ranks: 4, RankMilli: 250}, pool.NewState(topo), place.Env{})
	if !d.Placed {
		t.Fatal(d.Status)
	}
	tb, err := launch.NewTable(topo, d.Placement)
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Workers) != 4 || tb.Workers[0].Chip != tb.Workers[3].Chip {
		t.Errorf("workers %+v, want 4 on one shared chip", tb.Workers)
	}
	if _, err := launch.HCCL(tb, launch.Placeholder(topo)); err == nil {
		t.Error("HCCL rank table built for shared chips")
	}
}
