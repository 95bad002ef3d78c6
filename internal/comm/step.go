package comm

import (
	"fmt"
	"math"
)

// Plan is a job's parallelism. Zero fields mean 1. Ranks are laid out in
// Megatron order: global rank r has tensor index tp = r % Tensor, data index
// dp = (r / Tensor) % Data and pipeline stage pp = r / (Tensor*Data). Expert
// groups are Expert consecutive data indices with the same stage and tensor
// index, so Expert must divide Data.
type Plan struct {
	Tensor, Pipeline, Data, Expert int
}

// Ranks returns Tensor*Pipeline*Data, with zero fields read as 1.
func (p Plan) Ranks() int {
	p = p.norm()
	return p.Tensor * p.Pipeline * p.Data
}

// Validate reports why p cannot lay out ranks ranks, or nil.
func (p Plan) Validate(ranks int) error {
	if p.Tensor < 0 || p.Pipeline < 0 || p.Data < 0 || p.Expert < 0 {
		return fmt.Errorf("plan %+v: sizes must not be negative", p)
	}
	q := p.norm()
	if q.Data%q.Expert != 0 {
		return fmt.Errorf("plan %+v: expert size %d does not divide data size %d", p, q.Expert, q.Data)
	}
	if r := q.Ranks(); r != ranks {
		return fmt.Errorf("plan %+v: needs %d ranks, got %d chips", p, r, ranks)
	}
	return nil
}

func (p Plan) norm() Plan {
	one := func(v int) int { return max(v, 1) }
	return Plan{one(p.Tensor), one(p.Pipeline), one(p.Data), one(p.Expert)}
}

// Volumes are a step's communication bytes per rank.
type Volumes struct {
	// TensorBytes is all-reduced inside each tensor-parallel group.
	TensorBytes float64
	// PipelineBytes is sent by each rank to the same rank of the next stage.
	PipelineBytes float64
	// DataBytes is all-reduced inside each data-parallel group (gradients).
	DataBytes float64
	// ExpertBytes is each rank's all-to-all buffer inside its expert group.
	ExpertBytes float64
}

// Collective names used in Item.Collective.
const (
	TensorAllReduce = "tensor-allreduce"
	PipelineP2P     = "pipeline-p2p"
	DataAllReduce   = "data-allreduce"
	ExpertAllToAll  = "expert-alltoall"
)

// Item is the modelled time of one kind of collective in a step.
type Item struct {
	Collective string  // one of TensorAllReduce, PipelineP2P, DataAllReduce, ExpertAllToAll
	Algorithm  string  // the algorithm chosen (one of the Alg constants)
	Level      string  // name of the outermost level crossed, "" if none
	Seconds    float64 // time of the slowest group of this kind
}

// Estimate is a step's communication time.
type Estimate struct {
	// Seconds is the sum of the items' seconds: collectives of different
	// kinds run one after another and nothing overlaps with compute.
	Seconds float64
	// Items lists, in the order tensor, pipeline, data, expert, every kind
	// whose dimension exceeds 1 and whose volume is positive.
	Items []Item
}

// EstimateStep models one training step's communication for ranks placed on
// chips (chips[r] is rank r's chip). See Estimator.EstimateStep.
func EstimateStep(f Fabric, chips []int32, p Plan, v Volumes) Estimate {
	return NewEstimator(f).EstimateStep(chips, p, v)
}

// EstimateStep models one training step's communication for ranks placed on
// chips (chips[r] is rank r's chip): the tensor all-reduce in every
// tensor-parallel group, the pipeline transfer between every pair of adjacent
// stages, the data all-reduce in every data-parallel group and the all-to-all
// in every expert group. Groups of one kind run at the same time and contend
// for shared uplinks; the kind's time is its slowest group. If p does not fit
// chips (see Plan.Validate) or the fabric has no levels while ranks must
// communicate, Seconds is +Inf and Items is empty.
func (e *Estimator) EstimateStep(chips []int32, p Plan, v Volumes) Estimate {
	if p.Validate(len(chips)) != nil {
		return Estimate{Seconds: math.Inf(1)}
	}
	p = p.norm()
	if e.nl == 0 && len(chips) > 1 {
		return Estimate{Seconds: math.Inf(1)}
	}
	e.load(chips)
	T, D, P, E := p.Tensor, p.Data, p.Pipeline, p.Expert
	var est Estimate
	add := func(name string, c Cost) {
		it := Item{Collective: name, Algorithm: c.Algorithm, Seconds: c.Seconds}
		if c.Level >= 0 {
			it.Level = e.levels[c.Level].Name
		}
		est.Items = append(est.Items, it)
		est.Seconds += c.Seconds
	}
	if T > 1 && v.TensorBytes > 0 {
		e.groupBy(T, func(r int) int { return r / T })
		add(TensorAllReduce, e.bestAllReduce(v.TensorBytes))
	}
	if P > 1 && v.PipelineBytes > 0 {
		e.chains(T*D, P)
		add(PipelineP2P, e.pointToPoint(v.PipelineBytes))
	}
	if D > 1 && v.DataBytes > 0 {
		e.groupBy(D, func(r int) int { return r%T + T*(r/(T*D)) })
		add(DataAllReduce, e.bestAllReduce(v.DataBytes))
	}
	if E > 1 && v.ExpertBytes > 0 {
		e.groupBy(E, func(r int) int { return (r%T+T*(r/(T*D)))*(D/E) + (r/T)%D/E })
		add(ExpertAllToAll, e.allToAll(v.ExpertBytes))
	}
	return est
}

// groupBy lays out groups of size members, group(r) naming rank r's group,
// each group in topology order.
func (e *Estimator) groupBy(size int, group func(r int) int) {
	n := e.n
	ng := n / size
	e.order = grow(e.order, n)
	e.starts = grow(e.starts, ng+1)
	e.fill = grow(e.fill, ng)
	for g := range ng + 1 {
		e.starts[g] = int32(g * size)
	}
	copy(e.fill, e.starts[:ng])
	for _, s := range e.byPos {
		g := group(int(s))
		e.order[e.fill[g]] = s
		e.fill[g]++
	}
}

// chains lays out the pipelines: for every one of the width positions inside
// a stage, the ranks of that position in stage 0, 1, ..., stages-1.
func (e *Estimator) chains(width, stages int) {
	e.order = grow(e.order, width*stages)
	e.starts = grow(e.starts, width+1)
	for c := range width {
		e.starts[c] = int32(c * stages)
		for s := range stages {
			e.order[c*stages+s] = int32(c + s*width)
		}
	}
	e.starts[width] = int32(width * stages)
}
