package score

import (
	"slices"
	"sort"
	"sync"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// FragModel measures host fragmentation against one workload. Build it with
// NewFragModel; it is safe for concurrent use.
type FragModel struct {
	cpuOnly float64 // weight of shapes that take no chip
	groups  []fragGroup
	withMem bool

	mu   sync.Mutex
	memo map[fragKey]float64
}

// fragGroup gathers the shapes of one chip request (milli, chips, kinds);
// they differ only in CPU and memory.
type fragGroup struct {
	milli int32
	chips int
	kinds []string
	w     float64
	// Shapes sorted by CPU; cum[i] is the weight of shapes 0..i.
	cpu []int64
	mem []int64
	wt  []float64
	cum []float64
}

// fit returns the weight of the group's shapes whose CPU (and memory, when
// withMem) fit in cpu and mem.
func (g *fragGroup) fit(cpu, mem int64, withMem bool) float64 {
	n := sort.Search(len(g.cpu), func(i int) bool { return g.cpu[i] > cpu })
	if n == 0 {
		return 0
	}
	if !withMem {
		return g.cum[n-1]
	}
	var w float64
	for i := range n {
		if g.mem[i] <= mem {
			w += g.wt[i]
		}
	}
	return w
}

type fragKey struct {
	kind     pool.KindID
	n        uint8
	cpu, mem int64
	free     [maxChips]int16
}

// NewFragModel builds the model of a workload. With withMem, a shape that
// does not fit the host's free memory counts like one that does not fit its
// CPU (the FGD paper's measure looks at CPU and chips only).
func NewFragModel(w *sched.Workload, withMem bool) *FragModel {
	m := &FragModel{withMem: withMem, memo: map[fragKey]float64{}}
	shapes := w.Shapes
	type gk struct {
		milli int32
		chips int
		kinds string
	}
	idx := map[gk]int{}
	type spec struct {
		cpu, mem int64
		w        float64
	}
	var specs [][]spec
	for _, s := range shapes {
		if s.Chips <= 0 || s.Milli <= 0 {
			m.cpuOnly += s.Weight
			continue
		}
		kinds := slices.Clone(s.Kinds)
		slices.Sort(kinds)
		k := gk{int32(s.Milli), s.Chips, joinKinds(kinds)}
		i, ok := idx[k]
		if !ok {
			i = len(m.groups)
			idx[k] = i
			m.groups = append(m.groups, fragGroup{milli: k.milli, chips: k.chips, kinds: kinds})
			specs = append(specs, nil)
		}
		m.groups[i].w += s.Weight
		specs[i] = append(specs[i], spec{s.CPUMilli, s.MemoryMiB, s.Weight})
	}
	for i := range m.groups {
		g := &m.groups[i]
		ss := specs[i]
		sort.SliceStable(ss, func(a, b int) bool { return ss[a].cpu < ss[b].cpu })
		var c float64
		for _, s := range ss {
			c += s.w
			g.cpu = append(g.cpu, s.cpu)
			g.mem = append(g.mem, s.mem)
			g.wt = append(g.wt, s.w)
			g.cum = append(g.cum, c)
		}
	}
	// Groups in increasing share, so one pass over a sorted free list
	// serves them all.
	perm := make([]int, len(m.groups))
	for i := range perm {
		perm[i] = i
	}
	sort.SliceStable(perm, func(a, b int) bool { return m.groups[perm[a]].milli < m.groups[perm[b]].milli })
	gs := make([]fragGroup, len(perm))
	for i, p := range perm {
		gs[i] = m.groups[p]
	}
	m.groups = gs
	return m
}

func joinKinds(k []string) string {
	out := ""
	for i, s := range k {
		if i > 0 {
			out += "|"
		}
		out += s
	}
	return out
}

// Frag returns the fragmentation, in chip thousandths, of a host with chips
// of kind k whose free shares are free (in any order), with cpu and mem
// free. free is not modified.
func (m *FragModel) Frag(t *pool.Topology, k pool.KindID, free []int32, cpu, mem int64) float64 {
	if len(free) > maxChips {
		s := slices.Clone(free)
		slices.Sort(s)
		return m.frag(t, k, s, cpu, mem)
	}
	var key fragKey
	key.kind, key.n, key.cpu = k, uint8(len(free)), cpu
	if m.withMem {
		key.mem = mem
	}
	var buf [maxChips]int32
	s := buf[:len(free)]
	copy(s, free)
	sortSmall(s)
	for i, f := range s {
		key.free[i] = int16(f)
	}
	m.mu.Lock()
	v, ok := m.memo[key]
	m.mu.Unlock()
	if ok {
		return v
	}
	v = m.frag(t, k, s, cpu, mem)
	m.mu.Lock()
	if len(m.memo) > 1<<20 {
		clear(m.memo)
	}
	m.memo[key] = v
	m.mu.Unlock()
	return v
}

// sortSmall is an insertion sort for a handful of values.
func sortSmall(s []int32) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// frag computes the measure for an ascending free list.
func (m *FragModel) frag(t *pool.Topology, k pool.KindID, free []int32, cpu, mem int64) float64 {
	var total int64
	for _, f := range free {
		total += int64(f)
	}
	if total == 0 {
		return 0
	}
	tot := float64(total)
	out := tot * m.cpuOnly
	// small: free share of chips below the group's share; idx: first chip
	// that holds it.
	idx := 0
	var small int64
	for i := range m.groups {
		g := &m.groups[i]
		for idx < len(free) && free[idx] < g.milli {
			small += int64(free[idx])
			idx++
		}
		if len(g.kinds) > 0 && (t == nil || !slices.Contains(g.kinds, t.Kinds[k].Name)) {
			out += tot * g.w
			continue
		}
		if len(free)-idx < g.chips {
			out += tot * g.w
			continue
		}
		wf := g.fit(cpu, mem, m.withMem)
		out += wf*float64(small) + (g.w-wf)*tot
	}
	return out
}

// models caches one FragModel per workload value.
type models struct {
	c perWorkload[modelKey, *FragModel]
}

type modelKey struct {
	w       *sched.Workload
	withMem bool
}

func (ms *models) get(w *sched.Workload, withMem bool) *FragModel {
	return ms.c.get(modelKey{w, withMem}, func() *FragModel { return NewFragModel(w, withMem) })
}
