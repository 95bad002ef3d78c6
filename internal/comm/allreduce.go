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

// bestAllReduce returns the cheapest of ring, tree and (when some group
// spans two split levels) hierarchical; ties go to the earlier in that
// order.
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
	lv    []int32   // consecutive lowest common levels inside each group
	t     []int32   // per group: number of split levels
	split []int32   // per group, nl entries: its split levels, innermost first
	p     []float64 // per position in e.order: product of the fan-outs its phases so far had
	cb    []int32   // child boundaries of the domain being laid out
	// The sends of one phase: pair q is order[2q] -> order[2q+1] (open
	// paths of two slots), with x[q] the sender's shard in bytes and dom[q]
	// its domain's index in the per-domain slices below.
	order  []int32
	starts []int32
	x      []float64
	dom    []int32
	k      []float64 // per domain: children with members
	grp    []int32   // per domain: its group
	top    []bool    // per domain: the group's outermost phase (an all-reduce)
	ring   []float64 // per domain: worst alpha + x/(k B) over its sends
	tree   []float64 // per domain: worst 2 ceil(log2 k) alpha + 2x/B
}

// hierAllReduce models the hierarchical all-reduce. A group's split levels
// s_1 < ... < s_t are the lowest common levels of its neighbours in topology
// order. Innermost split first, every domain D at that split with k >= 2
// children holding members runs one phase: each member u reduce-scatters its
// shard x_u across the k children, together with one member of each other
// child whose shard overlaps its own, in (k-1) steps of x_u/k; the outermost
// phase all-reduces instead (ring or tree, whichever is cheaper). x_u starts
// at S and is divided by k at every phase u takes part in, so it is S over
// the product of the fan-outs on u's path so far. A domain's phase takes
// 2(k-1) max_u (alpha + x_u/(k B_u)) (reduce-scatter and the mirroring
// all-gather), B_u being the bandwidth of u's send with every send of the
// phase, in every group, running at once; the member with the largest shard
// (on a balanced path, the one in the smallest child) sets it. Phases of
// one index run at the same time in all groups; a group's time is the sum of
// its phases' slowest domains. Balanced groups (the same fan-out in every
// domain of a split) get x_u = S/m_j for all members, the classic form. It
// is not applicable (ok is false) when no group has two split levels. It
// needs the hops of the groups' rings (evalHops, closed), whose levels it
// reads.
func (e *Estimator) hierAllReduce(bytes float64) (Cost, bool) {
	nl := e.nl
	if nl == 0 || nl > 64 {
		return Cost{}, false
	}
	ng := len(e.starts) - 1
	ph := &e.ph
	ph.lv = grow(ph.lv, len(e.order))
	ph.t = zeroed(ph.t, ng)
	ph.split = grow(ph.split, ng*nl)
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
		for rest := mask; rest != 0; rest &^= 1 << (63 - bits.LeadingZeros64(rest)) {
			ph.split[g*nl+t] = int32(63 - bits.LeadingZeros64(rest))
			t++
		}
		ph.t[g] = int32(t)
		maxT = max(maxT, t)
		deep = deep || t >= 2
	}
	if !deep {
		return Cost{}, false
	}
	ph.p = grow(ph.p, len(e.order))
	for i := range ph.p {
		ph.p[i] = 1
	}
	e.gsec = zeroedF(e.gsec, ng)
	e.gmax = zeroedF(e.gmax, ng)
	for p := range maxT {
		e.buildPhase(p, bytes)
		e.evalHops(ph.order, ph.starts, false)
		e.phaseTimes()
		for d, k := range ph.k {
			c := 2 * (k - 1) * ph.ring[d]
			if ph.top[d] && ph.tree[d] < c {
				c = ph.tree[d]
			}
			g := ph.grp[d]
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

// buildPhase lays out the sends of phase p (0 = innermost) of every group:
// in every domain at the group's split level for that phase with k >= 2
// children, member j of child i (in topology order) sends to member
// j*m'/m of child i+1 (cyclically), m and m' being the children's member
// counts; in a balanced domain these are the hops of the rings through the
// j-th member of every child. It then multiplies the members' fan-out
// products by k.
func (e *Estimator) buildPhase(p int, bytes float64) {
	ph := &e.ph
	nl := e.nl
	n := len(e.order) // at most one send per member
	ph.order, ph.starts = grow(ph.order, 2*n)[:0], append(grow(ph.starts, n+1)[:0], 0)
	ph.x, ph.dom = grow(ph.x, n)[:0], grow(ph.dom, n)[:0]
	ph.k, ph.grp, ph.top = ph.k[:0], ph.grp[:0], ph.top[:0]
	for g := 0; g+1 < len(e.starts); g++ {
		t := int(ph.t[g])
		if p >= t {
			continue
		}
		s := ph.split[g*nl+p]
		lo, hi := int(e.starts[g]), int(e.starts[g+1])
		for a := lo; a < hi; {
			// The domain at level s holding position a: the run of
			// separators >= s; its children are split by separators == s.
			ph.cb = append(ph.cb[:0], int32(a))
			b := a
			for ; b+1 < hi && ph.lv[b] >= s; b++ {
				if ph.lv[b] == s {
					ph.cb = append(ph.cb, int32(b+1))
				}
			}
			b++
			ph.cb = append(ph.cb, int32(b))
			if k := len(ph.cb) - 1; k >= 2 {
				e.addDomain(g, k, p == t-1, bytes)
			}
			a = b
		}
	}
}

// addDomain adds the sends of one domain whose children are the runs
// ph.cb[i]..ph.cb[i+1] of e.order.
func (e *Estimator) addDomain(g, k int, top bool, bytes float64) {
	ph := &e.ph
	d := int32(len(ph.k))
	ph.k = append(ph.k, float64(k))
	ph.grp = append(ph.grp, int32(g))
	ph.top = append(ph.top, top)
	for i := range k {
		c, m := int(ph.cb[i]), int(ph.cb[i+1]-ph.cb[i])
		n := (i + 1) % k
		c2, m2 := int(ph.cb[n]), int(ph.cb[n+1]-ph.cb[n])
		for j := range m {
			ph.order = append(ph.order, e.order[c+j], e.order[c2+j*m2/m])
			ph.starts = append(ph.starts, int32(len(ph.order)))
			ph.x = append(ph.x, bytes/ph.p[c+j])
			ph.dom = append(ph.dom, d)
		}
	}
	for i := int(ph.cb[0]); i < int(ph.cb[k]); i++ {
		ph.p[i] *= float64(k)
	}
}

// phaseTimes fills ph.ring and ph.tree from the hops of the phase's sends
// (evalHops, open paths of two).
func (e *Estimator) phaseTimes() {
	ph := &e.ph
	ph.ring = zeroedF(ph.ring, len(ph.k))
	ph.tree = zeroedF(ph.tree, len(ph.k))
	for q, x := range ph.x {
		d := ph.dom[q]
		k := ph.k[d]
		a, bw := e.hopAlpha[2*q], e.hopBW[2*q]
		r := a
		if x != 0 {
			r += x / k / bw
		}
		ph.ring[d] = max(ph.ring[d], r)
		if ph.top[d] {
			t := 2 * ceilLog2(int(k)) * a
			if x != 0 {
				t += 2 * x / bw
			}
			ph.tree[d] = max(ph.tree[d], t)
		}
	}
}

// infCost is the cost of a collective that cannot run.
func infCost(alg string) Cost { return Cost{Seconds: math.Inf(1), Algorithm: alg, Level: -1} }
