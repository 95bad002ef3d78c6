package comm

import (
	"math"
	"math/bits"
)

// Algorithm names reported in Cost.Algorithm and Item.Algorithm.
const (
	AlgRing         = "ring"
	AlgTree         = "tree"
	AlgHierarchical = "hierarchical"
	AlgPairwise     = "pairwise"
	AlgP2P          = "p2p"
)

// Cost is the modelled time of one collective.
type Cost struct {
	// Seconds is the time until the slowest group finishes.
	Seconds float64
	// Algorithm is the algorithm the time is for (one of the Alg constants).
	Algorithm string
	// Level is the outermost level any group's traffic crosses, -1 if none.
	Level int
}

// The functions below work on the groups e.order[e.starts[g]:e.starts[g+1]]
// of the loaded chip set, each sorted in topology order, all running at the
// same time.

// ringAllReduce: 2(n-1) steps, each moving S/n over every ring hop at once,
// so each step lasts as long as the slowest hop: 2(n-1)(alpha_b + S/(n B_b)).
// It needs the hops of the groups' rings (evalHops, closed).
func (e *Estimator) ringAllReduce(bytes float64) Cost {
	return e.perGroup(func(lo, hi int) (float64, int) {
		n := float64(hi - lo)
		s, lvl := e.worst(lo, hi, 1, bytes/n)
		return 2 * (n - 1) * s, lvl
	}, AlgRing)
}

// treeAllReduce: double binary tree, 2*ceil(log2 n)*alpha_b + 2*S/B_b, with
// the bottleneck taken over the hops of the topology-ordered ring (a tree over
// the same members crosses the same levels). It needs the hops of the groups'
// rings (evalHops, closed).
func (e *Estimator) treeAllReduce(bytes float64) Cost {
	return e.perGroup(func(lo, hi int) (float64, int) {
		return e.worst(lo, hi, 2*ceilLog2(hi-lo), 2*bytes)
	}, AlgTree)
}

// reduceScatter and allGather: one ring pass, (n-1)(alpha_b + S/(n B_b)),
// where S is the full buffer (the input of reduce-scatter, the output of
// all-gather).
func (e *Estimator) ringHalf(bytes float64) Cost {
	e.evalHops(e.order, e.starts, true)
	return e.perGroup(func(lo, hi int) (float64, int) {
		n := float64(hi - lo)
		s, lvl := e.worst(lo, hi, 1, bytes/n)
		return (n - 1) * s, lvl
	}, AlgRing)
}

// perGroup applies fn to every group with at least two members and returns
// the slowest group's time and the outermost level crossed.
func (e *Estimator) perGroup(fn func(lo, hi int) (float64, int), alg string) Cost {
	c := Cost{Algorithm: alg, Level: -1}
	for g := 0; g+1 < len(e.starts); g++ {
		lo, hi := int(e.starts[g]), int(e.starts[g+1])
		if hi-lo < 2 {
			continue
		}
		s, lvl := fn(lo, hi)
		if s > c.Seconds {
			c.Seconds = s
		}
		if lvl >= 0 && (c.Level < 0 || lvl < c.Level) {
			c.Level = lvl
		}
	}
	return c
}

// bestAllReduce returns the cheapest of ring, tree and (when every group is
// balanced) hierarchical; ties go to the earlier in that order.
func (e *Estimator) bestAllReduce(bytes float64) Cost {
	e.evalHops(e.order, e.starts, true)
	best := e.ringAllReduce(bytes)
	if t := e.treeAllReduce(bytes); t.Seconds < best.Seconds {
		best = t
	}
	if h, ok := e.hierAllReduce(bytes); ok && h.Seconds < best.Seconds {
		best = h
	}
	return best
}

func ceilLog2(n int) float64 {
	if n < 2 {
		return 0
	}
	return float64(bits.Len(uint(n - 1)))
}

// phases is scratch for the hierarchical all-reduce.
type phases struct {
	lv     []int32   // consecutive lowest common levels inside each group
	t      []int32   // per group: number of split levels
	k      []int32   // per group, nl entries: fan-out at each split, outermost first
	order  []int32   // rings of one phase
	starts []int32   // ring boundaries in order
	ring   []int32   // per ring: its group
	x      []float64 // per ring: bytes entering the phase
	top    []bool    // per ring: the outermost phase (an all-reduce)
}

// hierAllReduce models the hierarchical all-reduce. A group's split levels
// s_1 < ... < s_t are the lowest common levels of its neighbours in topology
// order; at split s_j every domain holds k_j children with members. The group
// is balanced when each k_j is the same in every domain, so every child holds
// m_j = k_{j+1}*...*k_t members. Then, innermost first, each phase j > 1
// reduce-scatters among the k_j members holding the same shard (one per child,
// m_j such rings per domain, all at once) on the S/m_j bytes left so far; the
// outermost phase all-reduces (ring or tree, whichever is cheaper) the
// S/m_1 shard across the k_1 children; the all-gathers mirror the
// reduce-scatters at the same cost. It is not applicable (ok is false) when a
// group is unbalanced or no group has two split levels. It needs the hops of
// the groups' rings (evalHops, closed), whose levels it reads.
func (e *Estimator) hierAllReduce(bytes float64) (Cost, bool) {
	nl := e.nl
	if nl == 0 || nl > 64 {
		return Cost{}, false
	}
	ng := len(e.starts) - 1
	ph := &e.ph
	ph.lv = grow(ph.lv, len(e.order))
	ph.t = zeroed(ph.t, ng)
	ph.k = zeroed(ph.k, ng*nl)
	maxT, deep, outer := 0, false, -1
	for g := range ng {
		lo, hi := int(e.starts[g]), int(e.starts[g+1])
		if hi-lo < 2 {
			continue
		}
		var mask uint64
		for i := lo; i+1 < hi; i++ {
			h := e.hopLvl[i]
			ph.lv[i] = h
			mask |= 1 << h
		}
		if lvl := bits.TrailingZeros64(mask); outer < 0 || lvl < outer {
			outer = lvl
		}
		t := 0
		for rest := mask; rest != 0; rest &= rest - 1 {
			s := int32(bits.TrailingZeros64(rest))
			k, ok := fanout(ph.lv[lo:hi-1], s)
			if !ok {
				return Cost{}, false
			}
			ph.k[g*nl+t] = k
			t++
		}
		ph.t[g] = int32(t)
		maxT = max(maxT, t)
		deep = deep || t >= 2
	}
	if !deep {
		return Cost{}, false
	}
	e.gsec = zeroedF(e.gsec, ng)
	e.gmax = zeroedF(e.gmax, ng)
	for p := range maxT {
		e.buildPhase(p, bytes)
		e.evalHops(ph.order, ph.starts, true)
		for r := 0; r+1 < len(ph.starts); r++ {
			lo, hi := int(ph.starts[r]), int(ph.starts[r+1])
			k, x := float64(hi-lo), ph.x[r]
			s, _ := e.worst(lo, hi, 1, x/k)
			c := 2 * (k - 1) * s
			if ph.top[r] {
				if t, _ := e.worst(lo, hi, 2*ceilLog2(hi-lo), 2*x); t < c {
					c = t
				}
			}
			g := ph.ring[r]
			e.gmax[g] = max(e.gmax[g], c)
		}
		for g := range ng {
			e.gsec[g] += e.gmax[g]
			e.gmax[g] = 0
		}
	}
	c := Cost{Algorithm: AlgHierarchical, Level: outer}
	for _, s := range e.gsec {
		c.Seconds = max(c.Seconds, s)
	}
	return c, true
}

// fanout checks that every block of lv (split by entries < s) has the same
// number of entries equal to s, and returns that number plus one.
func fanout(lv []int32, s int32) (int32, bool) {
	want, cur := int32(-1), int32(0)
	for i := 0; i <= len(lv); i++ {
		if i == len(lv) || lv[i] < s {
			if want >= 0 && cur != want {
				return 0, false
			}
			want, cur = cur, 0
			continue
		}
		if lv[i] == s {
			cur++
		}
	}
	return want + 1, true
}

// buildPhase lays out the rings of phase p (0 = innermost) of every group.
func (e *Estimator) buildPhase(p int, bytes float64) {
	ph := &e.ph
	nl := e.nl
	ph.order, ph.starts = ph.order[:0], append(ph.starts[:0], 0)
	ph.ring, ph.x, ph.top = ph.ring[:0], ph.x[:0], ph.top[:0]
	for g := 0; g+1 < len(e.starts); g++ {
		t := int(ph.t[g])
		if p >= t {
			continue
		}
		j := t - 1 - p
		k := int(ph.k[g*nl+j])
		m := 1
		for i := j + 1; i < t; i++ {
			m *= int(ph.k[g*nl+i])
		}
		lo, hi := int(e.starts[g]), int(e.starts[g+1])
		for o := lo; o < hi; o += k * m {
			for i := range m {
				for c := range k {
					ph.order = append(ph.order, e.order[o+c*m+i])
				}
				ph.starts = append(ph.starts, int32(len(ph.order)))
				ph.ring = append(ph.ring, int32(g))
				ph.x = append(ph.x, bytes/float64(m))
				ph.top = append(ph.top, j == 0)
			}
		}
	}
}

// infCost is the cost of a collective that cannot run.
func infCost(alg string) Cost { return Cost{Seconds: math.Inf(1), Algorithm: alg, Level: -1} }
