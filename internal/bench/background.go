package bench

import (
	"fmt"
	"math/rand/v2"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
)

// openbChips is the number of GPUs requested by pods of each size in the
// Alibaba GPU cluster trace v2023 ("openb", Weng et al., USENIX ATC '23),
// file csv/openb_pod_list_default.csv (8,152 pods), column num_gpu: the
// sum of num_gpu over the pods of each size, so that sizes are weighted by
// chips, not by pod count. The 3,078 pods that take a fraction of one GPU
// (gpu_milli < 1000) count as one chip; the 1,088 CPU-only pods are left
// out. Pods per size: 1: 6,989; 2: 16; 4: 15; 8: 44; chips in all: 7,433.
// TestOpenBChips re-derives these numbers when the trace is present.
var openbChips = []sizeWeight{{1, 6989}, {2, 32}, {4, 60}, {8, 352}}

// multiHostChips are the sizes of the background's multi-host gangs, in
// chips (rounded to whole hosts), each taking an equal share of the
// multi-host chips.
var multiHostChips = []int{16, 32, 64}

// DefaultMultiHostShare is the share of background chips held by
// multi-host gangs of 16 to 64 chips; the rest follows openbChips. The
// openb trace comes from a cluster of mostly one-GPU pods (notebooks,
// inference, debugging); a training pool carries far more multi-host
// gangs, so the background gives them half of its chips. It is an
// assumption of the benchmark, not a measured figure.
const DefaultMultiHostShare = 0.5

// sizeWeight is a gang size in chips and its weight.
type sizeWeight struct {
	chips  int
	weight float64
}

// BackgroundMix is the size distribution of background gangs: for each
// size in chips, its share of the background's chips. Gangs are drawn
// with probability proportional to share / chips, so that, as random
// departures give every running gang the same chance to go, the chips in
// use split by size as the shares say.
type BackgroundMix struct {
	sizes []sizeWeight // chips and share of chips, shares summing to 1
}

// NewBackgroundMix returns the mix with multiHost (0 to 1) of the chips in
// multi-host gangs of 16, 32 and 64 chips and the rest split like the
// openb trace's GPU requests (see docs/placement.md).
func NewBackgroundMix(multiHost float64) (*BackgroundMix, error) {
	if !(multiHost >= 0 && multiHost <= 1) {
		return nil, fmt.Errorf("multi-host share %g is out of range (0 to 1)", multiHost)
	}
	total := 0.0
	for _, s := range openbChips {
		total += s.weight
	}
	m := &BackgroundMix{}
	for _, s := range openbChips {
		m.sizes = append(m.sizes, sizeWeight{s.chips, (1 - multiHost) * s.weight / total})
	}
	for _, n := range multiHostChips {
		m.sizes = append(m.sizes, sizeWeight{n, multiHost / float64(len(multiHostChips))})
	}
	return m, nil
}

// Shares returns the share of background chips by gang size, in chips.
func (m *BackgroundMix) Shares() map[int]float64 {
	out := map[int]float64{}
	for _, s := range m.sizes {
		out[s.chips] += s.weight
	}
	return out
}

// draw returns a gang size in chips, at most maxChips when that is
// positive (the smallest size when no size with a positive share fits).
func (m *BackgroundMix) draw(rng *rand.Rand, maxChips int) int {
	sum := 0.0
	for _, s := range m.sizes {
		if maxChips <= 0 || s.chips <= maxChips {
			sum += s.weight / float64(s.chips)
		}
	}
	if sum == 0 {
		return m.sizes[0].chips
	}
	x := rng.Float64() * sum
	n := m.sizes[0].chips
	for _, s := range m.sizes {
		if maxChips > 0 && s.chips > maxChips || s.weight == 0 {
			continue
		}
		n = s.chips
		if x -= s.weight / float64(s.chips); x < 0 {
			break
		}
	}
	return n
}

// job makes a background gang of about n chips on hosts of hostChips: one
// rank of n chips below a host (a pod that takes n devices of one node),
// else ranks of a whole host each, at most a quarter of the pool's hosts.
func (m *BackgroundMix) job(n, hostChips, poolChips int) *place.Request {
	j := &place.Request{Volumes: job.Communication{DataBytes: 1e8, TensorBytes: 1e7}}
	if n < hostChips {
		j.RankMilli, j.Ranks = n*pool.Full, 1
		return j
	}
	j.RankMilli = hostChips * pool.Full
	j.Ranks = max(1, min(n/hostChips, poolChips/hostChips/4))
	j.Plan = job.Parallelism{Tensor: hostChips}
	return j
}

// Background names the scheduler that placed a background.
type Background string

// The backgrounds of the placement benchmark.
const (
	// BackgroundTopology: the topology-aware placer placed the background
	// (a pool run by Qun).
	BackgroundTopology Background = "topology"
	// BackgroundFirstFit: place.FirstFit over the whole pool placed it (a
	// pool run by a topology-oblivious scheduler).
	BackgroundFirstFit Background = "firstfit"
	// BackgroundOwn: each placement is measured on the background its own
	// scheduler left: the topology-aware placement on the topology
	// background, first fit on the first-fit background.
	BackgroundOwn Background = "own"
)

// Backgrounds lists the valid backgrounds.
var Backgrounds = []Background{BackgroundOwn, BackgroundTopology, BackgroundFirstFit}

// PlaceFunc places a background gang on st without changing st, or
// returns nil when it does not fit.
type PlaceFunc func(r *place.Request, st *pool.State) *pool.Placement

// TopologyPlace places with pl.
func TopologyPlace(pl *place.Placer) PlaceFunc {
	return func(r *place.Request, st *pool.State) *pool.Placement {
		if d := pl.Decide(r, st, place.Env{}); d.Placed {
			return d.Placement
		}
		return nil
	}
}

// FirstFitPlace places with place.FirstFit over the whole pool (the
// topology-oblivious baseline).
func FirstFitPlace(r *place.Request, st *pool.State) *pool.Placement {
	p, _ := place.FirstFit(st, r, place.FirstFitOptions{Scope: place.ScopePool})
	return p
}
