package planner

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"testing"
)

// Young's and Daly's intervals against values worked by hand:
// δ = 60 s, M = 1 day: Young √(2·60·86,400) = 3,219.94 s; Daly
// 3,219.94 × (1 + ⅓·√(60/172,800) + (60/172,800)/9) − 60 = 3,180.06 s.
func TestCheckpointIntervalFormulas(t *testing.T) {
	cases := []struct {
		name             string
		delta, m         float64
		young, daly, tol float64
	}{
		{"one minute write, one day MTBF", 60, 86400, 3219.94, 3180.06, 0.01},
		{"Llama 3 MTBF, 2 s in-memory write", 2, 3.0930787589498805 * 3600, 211.05, 209.71, 0.01},
		{"write longer than twice the MTBF: checkpoint every MTBF", 1000, 400, 894.43, 400, 0.01},
		{"no write cost", 0, 1000, 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if y := YoungInterval(c.delta, c.m); math.Abs(y-c.young) > c.tol {
				t.Errorf("Young(%g, %g) = %.4f, want %.2f", c.delta, c.m, y, c.young)
			}
			if d := DalyInterval(c.delta, c.m); math.Abs(d-c.daly) > c.tol {
				t.Errorf("Daly(%g, %g) = %.4f, want %.2f", c.delta, c.m, d, c.daly)
			}
		})
	}
}

// Poisson quantiles worked by hand: P(N=0 | λ=1) = 0.368, P(N≤1) = 0.736.
func TestSparesQuantile(t *testing.T) {
	cases := []struct {
		mean, p float64
		want    int
	}{
		{0, 0.99, 0}, {1, 0.3, 0}, {1, 0.5, 1}, {1, 0.74, 2}, {4, 0.9, 7}, {16.5, 0.99, 27},
	}
	for _, c := range cases {
		if got := Spares(c.mean, c.p); got != c.want {
			t.Errorf("Spares(%g, %g) = %d, want %d", c.mean, c.p, got, c.want)
		}
	}
	// Far past float range the normal approximation takes over and stays
	// near mean + z·√mean.
	if got := Spares(1e4, 0.99); got < 10200 || got > 10260 {
		t.Errorf("Spares(1e4, 0.99) = %d, want about 10,233", got)
	}
}

type floats []float64

func (h floats) Len() int           { return len(h) }
func (h floats) Less(a, b int) bool { return h[a] < h[b] }
func (h floats) Swap(a, b int)      { h[a], h[b] = h[b], h[a] }
func (h *floats) Push(x any)        { *h = append(*h, x.(float64)) }
func (h *floats) Pop() any          { o := *h; x := o[len(o)-1]; *h = o[:len(o)-1]; return x }

// The spare count against a direct simulation: hosts fail as a Poisson
// process and come back after a drawn repair time (exponential, and fixed:
// the count does not depend on the repair distribution). The share of time
// with at most Spares(...) hosts out must reach the percentile, and with
// one spare fewer it must not.
func TestSparesAgainstSimulation(t *testing.T) {
	const rate, repair, p = 7.0, 2.0, 0.99 // failures a day, days
	n := Spares(rate*repair, p)
	for _, fixed := range []bool{false, true} {
		rng := rand.New(rand.NewPCG(7, 11))
		var out floats // repair completion times
		covered := map[int]float64{}
		now, span := 0.0, 200000.0
		next := rng.ExpFloat64() / rate
		for now < span {
			end := next
			if len(out) > 0 && out[0] < end {
				end = out[0]
			}
			covered[len(out)] += end - now
			now = end
			if len(out) > 0 && out[0] == end {
				heap.Pop(&out)
				continue
			}
			r := repair
			if !fixed {
				r = rng.ExpFloat64() * repair
			}
			heap.Push(&out, now+r)
			next = now + rng.ExpFloat64()/rate
		}
		share := func(k int) float64 {
			s := 0.0
			for c, d := range covered {
				if c <= k {
					s += d
				}
			}
			return s / now
		}
		if got := share(n); got < p-0.002 {
			t.Errorf("fixed=%v: %d spares cover %.4f of the time, want ≥ %.2f", fixed, n, got, p)
		}
		if got := share(n - 1); got >= p {
			t.Errorf("fixed=%v: %d spares already cover %.4f of the time: the formula oversizes", fixed, n-1, got)
		}
	}
}

// qun plan's spare count for 16,384 chips at the default assumptions:
// 16,384 / 50,700 faults an hour × 48 h = 15.5 hosts in repair on average,
// whose 99th percentile is 25 (RELIABILITY-ANCHORS §7 derives the same).
func TestPlanSpares(t *testing.T) {
	r := reliabilityFor(DefaultAssumptions(), 16384, 405e9, 1000)
	if r.Spares != 25 {
		t.Fatalf("spares %d, want 25", r.Spares)
	}
	if math.Abs(r.YoungMinutes*60-YoungInterval(r.CheckpointSeconds, r.JobMTBFHours*3600)) > 1e-9 || r.YoungMinutes < r.IntervalMinutes {
		t.Fatalf("Young %.3f min, Daly %.3f min", r.YoungMinutes, r.IntervalMinutes)
	}
}
