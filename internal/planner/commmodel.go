package planner

import (
	"math"
	"sync"

	"github.com/qunhq/qun/internal/comm"
)

// CommModel prices collectives with internal/comm's topology-aware model
// (ring, tree or hierarchical all-reduce, whichever is cheapest; pairwise
// all-to-all with uplink contention; point-to-point). For each collective
// it lays one group of Group ranks, Stride chips apart, on the fabric and
// asks comm for the time of one call, then multiplies by Calls.
//
// Every comm algorithm's time is affine in the buffer size (latency terms
// plus bytes over a bottleneck bandwidth), so CommModel asks comm once per
// (fabric, op, group, stride) at two sizes, keeps each algorithm's line,
// and answers any size with the cheapest line. It is safe for concurrent
// use; the zero value is ready.
type CommModel struct {
	mu    sync.Mutex
	cache map[commKey][]line
}

type commKey struct {
	fabric        uint64
	op            Op
	group, stride int
}

// line is seconds = a + b·bytes for one algorithm.
type line struct{ a, b float64 }

var _ CommEstimator = (*CommModel)(nil)

// Seconds implements CommEstimator.
func (c *CommModel) Seconds(f Fabric, col Collective) float64 {
	if col.Group <= 1 || col.Calls <= 0 || len(f.Levels) == 0 {
		return 0
	}
	bytes := col.Bytes
	if col.Op == OpAllToAll {
		// comm's all-to-all sends S/n to each peer; a MoE rank's buffer is
		// one copy of each token per routed expert. Node-limited routing
		// cuts the copies that leave the scale-up domain; scaling the buffer
		// by that cut is exact for the off-domain drain, which dominates.
		fan := max(col.FanOut, 1)
		bytes *= fan
		if col.RemoteCap > 0 {
			m := f.span(col.Group, col.Stride)
			inner := m[len(f.Levels)-1]
			remote := fan * float64(col.Group-inner) / float64(col.Group)
			if remote > col.RemoteCap {
				bytes *= col.RemoteCap / remote
			}
		}
	}
	key := commKey{fabric: fabricHash(f), op: col.Op, group: col.Group, stride: col.Stride}
	c.mu.Lock()
	lines, ok := c.cache[key]
	c.mu.Unlock()
	if !ok {
		lines = commLines(f, col.Op, col.Group, col.Stride)
		c.mu.Lock()
		if c.cache == nil {
			c.cache = map[commKey][]line{}
		}
		c.cache[key] = lines
		c.mu.Unlock()
	}
	best := math.Inf(1)
	for _, l := range lines {
		best = math.Min(best, l.a+l.b*bytes)
	}
	return best * col.Calls
}

// commLines fits each applicable comm algorithm's affine cost from two sizes.
func commLines(f Fabric, op Op, group, stride int) []line {
	const s1, s2 = 1 << 20, 1 << 30
	cf := commFabric{f: f}
	chips := rankChips(group, stride)
	fitLine := func(cost func(bytes float64) (float64, bool)) (line, bool) {
		t1, ok1 := cost(s1)
		t2, ok2 := cost(s2)
		if !ok1 || !ok2 || math.IsInf(t1, 0) || math.IsInf(t2, 0) {
			return line{}, false
		}
		b := (t2 - t1) / (s2 - s1)
		return line{a: t1 - b*s1, b: b}, true
	}
	var algs []func(float64) (float64, bool)
	switch op {
	case OpP2P:
		algs = append(algs, func(s float64) (float64, bool) {
			return comm.SendRecv(cf, s, [2]int32{0, int32(stride)}).Seconds, true
		})
	case OpAllToAll:
		algs = append(algs, func(s float64) (float64, bool) { return comm.AllToAll(cf, s, chips).Seconds, true })
	default:
		algs = append(algs,
			func(s float64) (float64, bool) { return comm.RingAllReduce(cf, s, chips).Seconds, true },
			func(s float64) (float64, bool) { return comm.TreeAllReduce(cf, s, chips).Seconds, true },
			func(s float64) (float64, bool) {
				c, ok := comm.HierarchicalAllReduce(cf, s, chips)
				return c.Seconds, ok
			})
	}
	var out []line
	for _, a := range algs {
		if l, ok := fitLine(a); ok {
			out = append(out, l)
		}
	}
	return out
}

// fabricHash fingerprints a fabric's levels (FNV-1a over their numbers).
func fabricHash(f Fabric) uint64 {
	h := uint64(14695981039346656037)
	mix := func(x uint64) {
		for i := 0; i < 8; i++ {
			h ^= x & 0xff
			h *= 1099511628211
			x >>= 8
		}
	}
	for _, l := range f.Levels {
		mix(uint64(l.Size))
		mix(math.Float64bits(l.BandwidthGBps))
		mix(math.Float64bits(l.LatencyUs))
		mix(math.Float64bits(l.Oversubscription))
	}
	return h
}

func rankChips(group, stride int) []int32 {
	out := make([]int32, group)
	for i := range out {
		out[i] = int32(i * stride)
	}
	return out
}

// commFabric presents a Fabric as a comm.Fabric: chip c sits in domain
// c/Size of each level (the root holds every chip).
type commFabric struct{ f Fabric }

var _ comm.Fabric = commFabric{}

func (c commFabric) Levels() []comm.Level {
	out := make([]comm.Level, len(c.f.Levels))
	for i, l := range c.f.Levels {
		out[i] = comm.Level{Name: l.Name, BandwidthGBps: l.BandwidthGBps, LatencyUs: l.LatencyUs, Oversubscription: l.Oversubscription}
	}
	return out
}

func (c commFabric) Domain(chip int32, lvl int) int32 {
	size := c.f.Levels[lvl].Size
	if size <= 0 {
		return 0
	}
	return chip / int32(size)
}
