package sim

import (
	"bytes"
	"errors"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/pool"
)

// smallPool is 2 pods × 8 racks × 4 hosts of 8 chips (512 chips, 64 hosts).
func smallPool(t testing.TB) *pool.Topology {
	t.Helper()
	topo, err := pool.Load("small.yaml", []byte(`apiVersion: qun/v1
kind: Pool
name: small
levels:
  - {name: cluster, bandwidthGBps: 50, latencyUs: 8}
  - {name: pod, bandwidthGBps: 50, latencyUs: 4}
  - {name: rack, bandwidthGBps: 50, latencyUs: 2}
  - {name: node, host: true, bandwidthGBps: 450, latencyUs: 1}
templates:
  server: {level: node, cpuMilli: 64000, memoryMiB: 65536, chips: {kind: H100, count: 8}}
  rack: {level: rack, children: [{template: server, count: 4, name: "s{i}"}]}
  pod: {level: pod, children: [{template: rack, count: 8, name: "r{i}"}]}
root: {name: c, level: cluster, children: [{template: pod, count: 2, name: "p{i}"}]}
`), pool.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// A busy fault model: every effect, every scope, many faults in a week.
func busyFaults() *FaultModel {
	return &FaultModel{Name: "busy", Kinds: []FaultKind{
		{Name: "chip", Rate: 1500, Scope: ScopeChip, Effect: Unhealthy, Repair: 12 * time.Hour},
		{Name: "bug", Rate: 800, Scope: ScopeChip, Effect: Crash},
		{Name: "host", Rate: 500, Scope: ScopeHost, Effect: NodeLost, Repair: 6 * time.Hour},
		{Name: "tor", Rate: 50, Scope: "rack", Effect: NodeLost, Repair: 2 * time.Hour},
		{Name: "slow", Rate: 300, Scope: ScopeChip, Effect: Straggler, Slowdown: 1.5, Repair: 12 * time.Hour},
	}}
}

func runSmall(t *testing.T, rec string, spares int, iv time.Duration, seed int64) *ETTRRun {
	t.Helper()
	topo := smallPool(t)
	m := busyFaults()
	span := 7 * 24 * time.Hour
	r, err := RunETTR(ETTROptions{Pool: topo, JobChips: 384, Span: span, Seed: seed, Recovery: rec, Costs: DefaultCosts(rec),
		Interval: iv, Spares: PickSpares(topo, 1, spares), Faults: m, Drawn: DrawFaults(m, topo, span, seed), Timeline: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Every wall second goes somewhere: productive work, checkpoint writes,
// the first start, or one of the loss components.
func TestETTRAccountsForEveryWallSecond(t *testing.T) {
	for _, rec := range []string{RecoveryQun, RecoveryBaseline} {
		for seed := int64(1); seed <= 3; seed++ {
			r := runSmall(t, rec, 8, 5*time.Minute, seed)
			total := r.ProductiveS + r.CheckpointS + r.StartupS + r.LossBreakdownS.Sum()
			if math.Abs(total-r.WallS) > 1e-6*r.WallS {
				t.Errorf("%s seed %d: %.3f s accounted of %.3f", rec, seed, total, r.WallS)
			}
			if !(r.ETTR > 0 && r.ETTR < 1) || r.Faults < 20 {
				t.Errorf("%s seed %d: ettr %.4f with %d faults", rec, seed, r.ETTR, r.Faults)
			}
			b := r.LossBreakdownS
			for name, v := range map[string]float64{"detect": b.Detect, "stop": b.Stop, "replace": b.Replace, "restart": b.Restart, "rework": b.Rework} {
				if v <= 0 {
					t.Errorf("%s seed %d: no %s time over %d faults", rec, seed, name, r.Faults)
				}
			}
			if rec == RecoveryQun && (r.Paths["re-place"] == 0 || r.Paths["restart-in-place"] == 0 || b.Straggle <= 0) {
				t.Errorf("qun seed %d: paths %v, straggle %.0f s: want both recovery paths and stragglers", seed, r.Paths, b.Straggle)
			}
			if rec == RecoveryBaseline && r.Paths["restart-in-place"] != 0 {
				t.Errorf("baseline seed %d restarted in place: %v", seed, r.Paths)
			}
		}
	}
}

// With the same faults, Qun loses less per fault than the baseline.
func TestETTRQunAgainstBaseline(t *testing.T) {
	q := runSmall(t, RecoveryQun, 16, 5*time.Minute, 1)
	b := runSmall(t, RecoveryBaseline, 16, 5*time.Minute, 1)
	if q.PoolFaults != b.PoolFaults {
		t.Fatalf("the policies met different faults: %d and %d", q.PoolFaults, b.PoolFaults)
	}
	if !(q.MeanLossPerFaultS < b.MeanLossPerFaultS/2 && q.ETTR > b.ETTR) {
		t.Fatalf("qun %.4f (%.0f s a fault: %+v), baseline %.4f (%.0f s a fault: %+v)", q.ETTR, q.MeanLossPerFaultS, q.LossBreakdownS,
			b.ETTR, b.MeanLossPerFaultS, b.LossBreakdownS)
	}
}

// Without spares the job waits for repairs; spares cut the wait.
func TestETTRSparesCutWaiting(t *testing.T) {
	none := runSmall(t, RecoveryQun, 0, 5*time.Minute, 2)
	some := runSmall(t, RecoveryQun, 16, 5*time.Minute, 2)
	if none.WaitingS <= 0 || some.WaitingS >= none.WaitingS || some.SparesUsed == 0 || some.ETTR <= none.ETTR {
		t.Fatalf("no spares: waiting %.0f s, ettr %.4f; 16 spares: waiting %.0f s, ettr %.4f, used %d",
			none.WaitingS, none.ETTR, some.WaitingS, some.ETTR, some.SparesUsed)
	}
}

var wallSeconds = regexp.MustCompile(`"wall_seconds": [0-9.e+-]+`)

// The same configuration twice gives the same report, timing aside.
func TestETTRDeterministic(t *testing.T) {
	topo := smallPool(t)
	c := ETTRConfig{Pool: topo, PoolFile: "small", JobChips: 384, Days: 3, Seeds: []int64{1, 2},
		Recoveries: []string{RecoveryQun, RecoveryBaseline}, Intervals: []Interval{{Auto: true}, {D: time.Hour}},
		Spares: []int{8}, Faults: busyFaults()}
	var out [2][]byte
	for i := range out {
		r, err := RunETTRExperiment(c)
		if err != nil {
			t.Fatal(err)
		}
		js, err := r.JSON()
		if err != nil {
			t.Fatal(err)
		}
		out[i] = wallSeconds.ReplaceAll(js, []byte(`"wall_seconds": 0`))
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Fatal("two runs of the same configuration differ")
	}
	var md bytes.Buffer
	r, _ := RunETTRExperiment(c)
	if err := r.Markdown(&md, "progress.svg"); err != nil || !strings.Contains(md.String(), "| qun | auto") {
		t.Fatalf("markdown: %v\n%s", err, md.String())
	}
	if svg := string(r.ProgressChart().SVG()); !strings.Contains(svg, "fault") || !strings.Contains(svg, "polyline") {
		t.Fatal("the progress chart has no lines or no fault marks")
	}
}

func TestETTRImpossibleSettings(t *testing.T) {
	topo := smallPool(t)
	base := ETTRConfig{Pool: topo, JobChips: 384, Days: 1, Faults: busyFaults()}
	cases := map[string]struct {
		edit func(*ETTRConfig)
		want string
	}{
		"more spares than the pool": {func(c *ETTRConfig) { c.Spares = []int{17} }, "--spares 17: pool small has 64 hosts and the job takes 48, so at most 16 can be spares"},
		"job larger than the pool":  {func(c *ETTRConfig) { c.JobChips = 1024 }, "--job-chips 1024"},
		"job of part of a host":     {func(c *ETTRConfig) { c.JobChips = 12 }, "a positive multiple of 8"},
		"no days":                   {func(c *ETTRConfig) { c.Days = 0 }, "--days 0"},
		"unknown recovery":          {func(c *ETTRConfig) { c.Recoveries = []string{"magic"} }, "--recovery \"magic\""},
		"unknown cost":              {func(c *ETTRConfig) { c.Cost = []string{"teleport=1s"} }, "unknown cost \"teleport\""},
		"negative cost":             {func(c *ETTRConfig) { c.Cost = []string{"restart=-1s"} }, "\"-1s\" is not a duration"},
		"spare level below hosts":   {func(c *ETTRConfig) { c.SpareLevel = "gpu" }, "--spare-level \"gpu\""},
		"percentile 1":              {func(c *ETTRConfig) { c.SparePercentile = 1 }, "--spare-percentile 1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := base
			tc.edit(&c)
			_, err := RunETTRExperiment(c)
			if err == nil || !errors.Is(err, ErrSetting) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want a setting error containing %q", err, tc.want)
			}
		})
	}
	if _, err := ParseInterval("-5m"); err == nil || !errors.Is(err, ErrSetting) {
		t.Fatalf("interval -5m: %v", err)
	}
	if _, err := ParseSpares("-2"); err == nil || !errors.Is(err, ErrSetting) {
		t.Fatalf("spares -2: %v", err)
	}
}

// Spares spread round robin over the level's domains, last hosts first.
func TestPickSpares(t *testing.T) {
	topo := smallPool(t)
	got := PickSpares(topo, 1, 3)
	var names []string
	for _, h := range got {
		names = append(names, topo.Path(h))
	}
	if want := "p0/r7/s3 p1/r7/s3 p0/r7/s2"; strings.Join(names, " ") != want {
		t.Fatalf("spares %v, want %s", names, want)
	}
}

// BenchmarkETTR is one 30-day run of the 16,384-chip job on the example
// H100 pool under the built-in fault model (docs/faults-sim.md, "Cost").
func BenchmarkETTR(b *testing.B) {
	topo, err := pool.LoadFile("../../examples/pools/h100-roce-16k.yaml")
	if err != nil {
		b.Fatal(err)
	}
	m := DefaultFaults()
	span := 30 * 24 * time.Hour
	drawn := DrawFaults(m, topo, span, 1)
	for b.Loop() {
		r, err := RunETTR(ETTROptions{Pool: topo, JobChips: 16384, Span: span, Seed: 1, Recovery: RecoveryQun,
			Costs: DefaultCosts(RecoveryQun), Interval: 210 * time.Second, Spares: PickSpares(topo, 1, 32), Faults: m, Drawn: drawn})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(r.Placements), "placements/op")
	}
}
