package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/sim/trace"
)

const traceDir = "../../../shared/traces/alibaba-gpu-v2023/csv"

func smallWorkload(t *testing.T, n int) ([]trace.Node, []trace.Job) {
	t.Helper()
	s := trace.DefaultSynthetic()
	s.Jobs = n
	jobs, err := s.Generate(rand.New(rand.NewSource(3)))
	if err != nil {
		t.Fatal(err)
	}
	return trace.DefaultNodes(), jobs
}

// TestPrepareFGDDrawOrder replays the artifact's draws by hand: one Int, a
// Shuffle of the name-ordered pods, Intn per tuning draw (the last one
// stops the tuning), then Perm over the name-ordered nodes.
func TestPrepareFGDDrawOrder(t *testing.T) {
	nodes := []trace.Node{{Name: "b", GPUs: 2, Model: "T4", CPUMilli: 1000, MemoryMiB: 1000}, {Name: "a", GPUs: 2, Model: "T4", CPUMilli: 1000, MemoryMiB: 1000}}
	pods := []trace.Job{
		{Name: "p2", GPUs: 1, GPUMilli: 500},
		{Name: "p1", GPUs: 2, GPUMilli: 1000},
		{Name: "p0", GPUs: 0},
	}
	s, err := PrepareFGD(nodes, pods, 7, 1.3)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(7))
	r.Int()
	want := []trace.Job{pods[2], pods[1], pods[0]} // by name
	byName := append([]trace.Job(nil), want...)
	r.Shuffle(len(want), func(i, j int) { want[i], want[j] = want[j], want[i] })
	total, target := int64(2500), 1.3*4000
	for i := 0; ; i++ {
		c := byName[r.Intn(3)]
		// The quirk: the clone's per-GPU share, not its whole request.
		if float64(total+int64(c.GPUMilli)) > target {
			break
		}
		total += c.TotalMilli()
		c.Name = fmt.Sprintf("%s-tuned-%d", c.Name, i)
		want = append(want, c)
	}
	if diff := cmp.Diff(want, s.Jobs); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	perm := r.Perm(2)
	wantOrder := []int{0, 1}
	if perm[0] > perm[1] {
		wantOrder = []int{1, 0}
	}
	if diff := cmp.Diff(wantOrder, s.NodeOrder); diff != "" {
		t.Errorf("node order (-want +got):\n%s", diff)
	}
	if s.Nodes[0].Name != "a" || s.CapacityMilli != 4000 {
		t.Errorf("nodes %v capacity %d, want sorted by name and 4000", s.Nodes, s.CapacityMilli)
	}
}

// TestNodeOrderIsStringOrder checks that ties break by the prefixed name as
// a string: numeric up to 9999 nodes, and not beyond (as in the artifact).
func TestNodeOrderIsStringOrder(t *testing.T) {
	for _, n := range []int{50, 10050} {
		nodes := make([]trace.Node, n)
		for i := range nodes {
			nodes[i] = trace.Node{Name: fmt.Sprintf("n%05d", i), GPUs: 1, Model: "T4"}
		}
		s, err := PrepareFGD(nodes, []trace.Job{{Name: "p", GPUs: 1, GPUMilli: 1000}}, 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewSource(1))
		r.Int()
		r.Shuffle(1, func(int, int) {})
		perm := r.Perm(n)
		names := make([]string, n)
		for i := range names {
			names[i] = fmt.Sprintf("%04d-%s", perm[i], nodes[i].Name)
		}
		numeric := true
		for k := 1; k < n; k++ {
			a, b := names[s.NodeOrder[k-1]], names[s.NodeOrder[k]]
			if a >= b {
				t.Fatalf("%d nodes: %q before %q", n, a, b)
			}
			if perm[s.NodeOrder[k-1]] > perm[s.NodeOrder[k]] {
				numeric = false
			}
		}
		if numeric != (n <= 10000) {
			t.Errorf("%d nodes: order numeric = %v", n, numeric)
		}
	}
}

func TestTypicalWorkload(t *testing.T) {
	var jobs []trace.Job
	add := func(n int, j trace.Job) {
		for range n {
			jobs = append(jobs, j)
		}
	}
	add(6, trace.Job{GPUs: 1, GPUMilli: 1000, CPUMilli: 8000})
	add(3, trace.Job{GPUs: 1, GPUMilli: 500, CPUMilli: 4000})
	add(1, trace.Job{CPUMilli: 0})
	w := TypicalWorkload(jobs, 0.85)
	// 6 + 3 = 90% ≥ 85%: the CPU-only shape is left out, weights renormalised.
	if len(w.Shapes) != 2 || w.Shapes[0].Weight != 6.0/9 || w.Shapes[1].Milli != 500 {
		t.Fatalf("shapes %+v", w.Shapes)
	}
	w = TypicalWorkload(jobs, 1)
	if last := w.Shapes[2]; last.Chips != 0 || last.CPUMilli != 100 {
		t.Errorf("CPU-only shape %+v, want no chips and the scheduler's 100m default CPU", last)
	}
}

func fgdJSON(t *testing.T, r *FGDResult) string {
	t.Helper()
	c := *r
	c.WallSeconds = 0
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestRunFGDDeterministic runs the experiment twice with one seed, and once
// with full snapshots: the same figures every time.
func TestRunFGDDeterministic(t *testing.T) {
	nodes, jobs := smallWorkload(t, 800)
	for _, p := range []string{"fgd", "random", "qun"} {
		a, err := RunFGD(nodes, jobs, FGDOptions{Policy: p, Seed: 5, Ratio: 1.3, Lean: true})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := RunFGD(nodes, jobs, FGDOptions{Policy: p, Seed: 5, Ratio: 1.3, Lean: true})
		full, _ := RunFGD(nodes, jobs, FGDOptions{Policy: p, Seed: 5, Ratio: 1.3})
		if fgdJSON(t, a) != fgdJSON(t, b) {
			t.Errorf("%s: two runs differ", p)
		}
		if fgdJSON(t, a) != fgdJSON(t, full) {
			t.Errorf("%s: lean and full snapshots differ", p)
		}
		if a.AllocAt130 < 50 || a.Failed == 0 {
			t.Errorf("%s: alloc %.2f with %d failures; the tuned list should overload the pool", p, a.AllocAt130, a.Failed)
		}
	}
}

func loadOpenB(t *testing.T, variant string) ([]trace.Node, []trace.Job) {
	t.Helper()
	if testing.Short() {
		t.Skip("simulates the openb trace")
	}
	if _, err := os.Stat(traceDir); err != nil {
		t.Skipf("openb trace not found at %s (the shared trace folder is not checked out beside the repo)", traceDir)
	}
	nodes, err := trace.ReadOpenBNodesFile(traceDir + "/openb_node_list_gpu_node.csv")
	if err != nil {
		t.Fatal(err)
	}
	pods, err := trace.ReadOpenBPodsFile(traceDir + "/openb_pod_list_" + variant + ".csv")
	if err != nil {
		t.Fatal(err)
	}
	return nodes, pods
}

// TestReportMatchesJSON runs the replay on the openb default trace and an
// FGD comparison, writes the reports, and checks that the plots exist and
// the Markdown shows the JSON's numbers. It also pins the FGD experiment's
// seed-42 figures (the ten-seed means are in docs/simulator.md).
func TestReportMatchesJSON(t *testing.T) {
	loadOpenB(t, "default")
	if testing.Short() {
		t.Skip("short")
	}
	tr := traceDir + "/openb_pod_list_default.csv"
	for _, c := range []Config{
		{Trace: tr, Experiment: "replay", Policies: []string{"qun"}},
		{Trace: tr, Experiment: "fgd", Policies: []string{"fgd", "bestfit"}, Seeds: []int64{42}},
	} {
		r, err := Run(c)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]float64{"fgd": 95.53, "bestfit": 93.07}
		for _, f := range r.FGD {
			if f.AllocAt130 != want[f.Policy] || f.Pods != 10866 {
				t.Errorf("%s seed 42: alloc at 130 %.2f with %d pods, want %.2f with 10866", f.Policy, f.AllocAt130, f.Pods, want[f.Policy])
			}
		}
		dir := t.TempDir()
		if err := r.WriteDir(dir); err != nil {
			t.Fatal(err)
		}
		plots := []string{PlotUtil, PlotWaitCDF}
		if c.Experiment == "fgd" {
			plots = []string{PlotAlloc, PlotFrag}
		}
		for _, p := range plots {
			data, err := os.ReadFile(filepath.Join(dir, p))
			if err != nil || !bytes.HasPrefix(data, []byte("<svg")) || !bytes.Contains(data, []byte("<polyline")) {
				t.Errorf("%s plot %s: missing or empty (%v)", c.Experiment, p, err)
			}
		}
		js, _ := os.ReadFile(filepath.Join(dir, "report.json"))
		md, _ := os.ReadFile(filepath.Join(dir, "report.md"))
		var back Report
		if err := json.Unmarshal(js, &back); err != nil {
			t.Fatal(err)
		}
		var nums []string
		for _, s := range back.Summary {
			for _, v := range []*float64{s.AllocAt130, s.FailedPods, s.MeanUtil, s.WaitMean, s.WaitP90, s.JCTMean, s.JCTP90} {
				if v != nil {
					nums = append(nums, fmt.Sprintf("%.2f", *v))
				}
			}
		}
		sort.Strings(nums)
		if len(nums) == 0 {
			t.Fatalf("%s: no figures in the JSON summary", c.Experiment)
		}
		for _, n := range nums {
			if !strings.Contains(string(md), "| "+n+" |") {
				t.Errorf("%s: report.md lacks the JSON's %s", c.Experiment, n)
			}
		}
	}
}
