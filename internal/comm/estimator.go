package comm

import (
	"cmp"
	"math/bits"
	"slices"
)

// Estimator evaluates collectives and training steps over one Fabric. It keeps
// scratch buffers between calls, so a scheduler scoring many candidate
// placements should reuse one Estimator per goroutine: after the first call of
// a given size an evaluation allocates almost nothing.
//
// An Estimator is not safe for concurrent use. It reads f.Levels once, in
// NewEstimator.
type Estimator struct {
	f      Fabric
	levels []Level
	nl     int
	alpha  []float64 // per level: hop latency in seconds
	bw     []float64 // per level: per-chip bandwidth in bytes per second
	// up[l], l in 1..nl: per-chip capacity, in bytes per second, of the link
	// that leaves a domain of level l (level nl being a single chip) towards
	// its parent level l-1: bw[l-1] / oversubscription[l-1].
	up []float64

	// State of the chip set loaded last (slot = index into that list).
	n     int
	dom   [][]int32 // dom[l][slot]: dense domain index at level l, or -1
	cnt   [][]int32 // cnt[l][d]: slots inside domain d of level l
	pos   []int32   // pos[slot]: position in topology order
	byPos []int32   // byPos[i]: slot at topology position i
	ids   []map[int32]int32
	keys  []uint64
	// fast lowest-common-level lookup, valid when fast is set: path[slot]
	// packs the domain indices root first, and levelOf[bit] is the level
	// whose field holds that bit.
	fast    bool
	gap     bool // some slot has no domain at some level
	path    []uint64
	levelOf [64]int8

	// Scratch for evaluations.
	flow     [][]int32   // flow[l][d], l in 0..nl (nl indexed by slot)
	out      [][]float64 // all-to-all bytes leaving each domain
	hopLvl   []int32
	hopAlpha []float64
	hopBW    []float64
	order    []int32
	starts   []int32
	fill     []int32
	ph       phases
	gsec     []float64
	gmax     []float64
}

// NewEstimator returns an Estimator for f.
func NewEstimator(f Fabric) *Estimator {
	lv := slices.Clone(f.Levels())
	nl := len(lv)
	e := &Estimator{
		f:      f,
		levels: lv,
		nl:     nl,
		alpha:  make([]float64, nl),
		bw:     make([]float64, nl),
		up:     make([]float64, nl+1),
		dom:    make([][]int32, nl),
		cnt:    make([][]int32, nl),
		ids:    make([]map[int32]int32, nl),
		flow:   make([][]int32, nl+1),
		out:    make([][]float64, nl+1),
	}
	for l, v := range lv {
		e.alpha[l] = v.LatencyUs * 1e-6
		e.bw[l] = v.BandwidthGBps * 1e9
		e.up[l+1] = e.bw[l] / v.oversub()
		e.ids[l] = make(map[int32]int32)
	}
	return e
}

// load makes chips the current chip set: slot s is chips[s].
func (e *Estimator) load(chips []int32) {
	n := len(chips)
	e.n = n
	e.gap = false
	for l := 0; l < e.nl; l++ {
		m := e.ids[l]
		clear(m)
		d := grow(e.dom[l], n)
		lastRaw, lastDense := int32(-1), int32(-1)
		for s, c := range chips {
			raw := e.f.Domain(c, l)
			switch {
			case raw < 0:
				d[s] = -1
				e.gap = true
				continue
			case raw != lastRaw:
				v, ok := m[raw]
				if !ok {
					v = int32(len(m))
					m[raw] = v
				}
				lastRaw, lastDense = raw, v
			}
			d[s] = lastDense
		}
		e.dom[l] = d
		k := zeroed(e.cnt[l], len(m))
		for _, v := range d {
			if v >= 0 {
				k[v]++
			}
		}
		e.cnt[l] = k
		e.flow[l] = zeroed(e.flow[l], len(m))
		e.out[l] = zeroedF(e.out[l], len(m))
	}
	e.flow[e.nl] = zeroed(e.flow[e.nl], n)
	e.out[e.nl] = zeroedF(e.out[e.nl], n)
	e.sortTopology()
}

// sortTopology orders slots so that the members of every domain are
// contiguous: lexicographically by dense domain index from the root inward
// (-1 first), then by slot.
func (e *Estimator) sortTopology() {
	width := bits.Len(uint(e.n))
	for l := 0; l < e.nl; l++ {
		width += bits.Len(uint(len(e.cnt[l])))
	}
	e.sortTopologyBy(width <= 64)
	e.fast = width <= 64 && !e.gap
	if e.fast {
		bit := 0
		for l := e.nl - 1; l >= 0; l-- {
			for range bits.Len(uint(len(e.cnt[l]))) {
				e.levelOf[bit] = int8(l)
				bit++
			}
		}
	}
}

// sortTopologyBy sorts packed uint64 keys when packed (they must fit), else
// compares domain indices level by level.
func (e *Estimator) sortTopologyBy(packed bool) {
	n := e.n
	e.pos = grow(e.pos, n)
	e.byPos = grow(e.byPos, n)
	if packed {
		e.keys = grow(e.keys, n)
		sb := bits.Len(uint(n))
		for s := range n {
			var k uint64
			for l := 0; l < e.nl; l++ {
				k = k<<bits.Len(uint(len(e.cnt[l]))) | uint64(e.dom[l][s]+1)
			}
			e.keys[s] = k<<sb | uint64(s)
		}
		if !slices.IsSorted(e.keys) {
			slices.Sort(e.keys)
		}
		mask := uint64(1)<<sb - 1
		e.path = grow(e.path, n)
		for i, k := range e.keys {
			e.byPos[i] = int32(k & mask)
			e.path[k&mask] = k >> sb
		}
	} else {
		for i := range n {
			e.byPos[i] = int32(i)
		}
		slices.SortFunc(e.byPos, func(a, b int32) int {
			for l := 0; l < e.nl; l++ {
				if c := cmp.Compare(e.dom[l][a], e.dom[l][b]); c != 0 {
					return c
				}
			}
			return cmp.Compare(a, b)
		})
	}
	for i, s := range e.byPos {
		e.pos[s] = int32(i)
	}
}

// lcl returns the lowest common level of slots a and b (0 when none).
func (e *Estimator) lcl(a, b int32) int {
	if e.fast {
		x := e.path[a] ^ e.path[b]
		if x == 0 {
			return e.nl - 1
		}
		return max(int(e.levelOf[63-bits.LeadingZeros64(x)])-1, 0)
	}
	for l := e.nl - 1; l > 0; l-- {
		if d := e.dom[l][a]; d >= 0 && d == e.dom[l][b] {
			return l
		}
	}
	return 0
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func zeroed(s []int32, n int) []int32 {
	s = grow(s, n)
	clear(s)
	return s
}

func zeroedF(s []float64, n int) []float64 {
	s = grow(s, n)
	clear(s)
	return s
}
