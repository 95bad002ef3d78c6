package score

import (
	"fmt"
	"math"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// Plugin names.
const (
	RandomName        = "random"
	DotProductName    = "dotproduct"
	GpuClusteringName = "gpuclustering"
	GpuPackingName    = "gpupacking"
	BestFitName       = "bestfit"
	FGDName           = "fgd"
	QunName           = "qunfrag"
)

// Random scores every host with a fresh uniform draw from the cycle's random
// source, so the best host is a uniform choice among the feasible ones.
type Random struct{}

var _ sched.HostScore = Random{}

// Name implements sched.Plugin.
func (Random) Name() string { return RandomName }

// ScoreHost implements sched.HostScore.
func (Random) ScoreHost(cs *sched.CycleState, _ *sched.Job, _ *pool.State, _ pool.DomainID) float64 {
	if cs == nil || cs.Rand == nil {
		return 0
	}
	return cs.Rand.Float64()
}

// ChooseShare picks a uniformly random chip among those that hold the share.
func (Random) ChooseShare(cs *sched.CycleState, j *sched.Job, st *pool.State, h pool.DomainID) pool.ChipID {
	t := st.Topology()
	lo, hi := t.ChipRange(h)
	chosen, n := pool.ChipID(-1), 0
	for c := lo; c < hi; c++ {
		if st.ChipFree(c) >= j.RankMilli && sched.Accepts(t, j, t.ChipKind(c)) {
			n++
			if cs == nil || cs.Rand == nil || cs.Rand.IntN(n) == 0 {
				chosen = c
			}
		}
	}
	return chosen
}

// DotProduct is Tetris's alignment score: the host whose free (CPU, GPU)
// vector is least aligned with the request scores highest once the dot
// product is turned into "higher is better" as the FGD artifact does
// (both vectors normalised by the largest node, 128 CPUs and 8 GPUs).
type DotProduct struct{ quantize bool }

// Name implements sched.Plugin.
func (DotProduct) Name() string { return DotProductName }

// ScoreHost implements sched.HostScore.
func (p DotProduct) ScoreHost(_ *sched.CycleState, j *sched.Job, st *pool.State, h pool.DomainID) float64 {
	v := viewHost(st, h)
	s := jobShape(j)
	dot := float64(v.cpu)/maxSpecCPU*float64(s.cpu)/maxSpecCPU + float64(v.freeMilli)/maxSpecGPU*float64(s.total())/maxSpecGPU
	return p.q(maxScore * (1 - dot/2))
}

func (p DotProduct) q(x float64) float64 {
	if p.quantize {
		return math.Trunc(x)
	}
	return x
}

// BestFit prefers the host left with the least free CPU and GPU after the
// job, each normalised by the largest node and weighted equally.
type BestFit struct{ quantize bool }

// Name implements sched.Plugin.
func (BestFit) Name() string { return BestFitName }

// ScoreHost implements sched.HostScore.
func (p BestFit) ScoreHost(_ *sched.CycleState, j *sched.Job, st *pool.State, h pool.DomainID) float64 {
	v := viewHost(st, h)
	s := jobShape(j)
	left := 0.5*float64(v.cpu-s.cpu)/maxSpecCPU + 0.5*float64(v.freeMilli-s.total())/maxSpecGPU
	x := (1 - left) * maxScore
	if p.quantize {
		return math.Trunc(x)
	}
	return x
}

// GpuPacking prefers, in this order: hosts where the job fits on chips
// already in use (the fuller the better), hosts in use where it needs free
// chips (the fewer the better), and idle hosts (the fewer chips the better).
type GpuPacking struct{}

// Name implements sched.Plugin.
func (GpuPacking) Name() string { return GpuPackingName }

// ScoreHost implements sched.HostScore.
func (GpuPacking) ScoreHost(_ *sched.CycleState, j *sched.Job, st *pool.State, h pool.DomainID) float64 {
	s := jobShape(j)
	if s.chips == 0 {
		return 0
	}
	v := viewHost(st, h)
	n := v.chips()
	if v.fullFree == n {
		return float64(max(maxScore/3-n, n))
	}
	var buf [64]int32
	free := freeList(st, &v, buf[:0])
	// Take the chips with the least free share that hold the rank.
	used := make([]bool, len(free))
	need, fullUsed, sharedRatio := s.chips, 0, 0
	for need > 0 {
		best := -1
		for i, f := range free {
			if !used[i] && int(f) >= s.milli && (best < 0 || f < free[best]) {
				best = i
			}
		}
		if best < 0 {
			return 0
		}
		used[best] = true
		need--
		if free[best] == pool.Full {
			fullUsed++
		}
		sharedRatio += int(free[best]) * 100 / pool.Full
	}
	if fullUsed > 0 {
		return float64(max(maxScore/2-fullUsed, maxScore/3))
	}
	return float64(max(maxScore-sharedRatio/10, maxScore/2))
}

// GpuClustering keeps jobs of one GPU shape together: hosts running only
// that shape first, then hosts running it among others, then idle hosts,
// then hosts of other shapes; within each band the fuller host wins.
type GpuClustering struct{}

// Name implements sched.Plugin.
func (GpuClustering) Name() string { return GpuClusteringName }

type affinity struct {
	tags map[pool.DomainID]map[string]int
}

func tagOf(rankMilli int) string {
	switch {
	case rankMilli <= 0:
		return ""
	case rankMilli < pool.Full:
		return "share"
	}
	return fmt.Sprintf("%d-gpu", (rankMilli+pool.Full-1)/pool.Full)
}

// ScoreHost implements sched.HostScore.
func (GpuClustering) ScoreHost(cs *sched.CycleState, j *sched.Job, st *pool.State, h pool.DomainID) float64 {
	tag := tagOf(j.RankMilli)
	if tag == "" || cs == nil || cs.Snapshot == nil {
		return 0
	}
	const key = "score/gpuclustering"
	var a *affinity
	if x, ok := cs.Read(key); ok {
		a = x.(*affinity)
	} else {
		a = &affinity{tags: map[pool.DomainID]map[string]int{}}
		for _, r := range cs.Snapshot.Running {
			if r.Placement == nil || r.Evicting {
				continue
			}
			rt := tagOf(r.RankMilli)
			if rt == "" {
				continue
			}
			for _, c := range r.Placement.Ranks {
				m := a.tags[c.Host]
				if m == nil {
					m = map[string]int{}
					a.tags[c.Host] = m
				}
				m[rt]++
			}
		}
		cs.Write(key, a)
	}
	left := st.FreeMilli(h)
	base := int64(maxScore/4) * (maxSpecGPU - left) / maxSpecGPU
	m := a.tags[h]
	switch {
	case m[tag] > 0 && len(m) == 1:
		return float64(base + maxScore*3/4)
	case m[tag] > 0:
		return float64(base + maxScore*2/4)
	case len(m) == 0:
		return float64(base + maxScore/4)
	}
	return float64(base)
}
