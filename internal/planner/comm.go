package planner

import "math"

// Op is a communication pattern.
type Op string

// Communication patterns the planner prices.
const (
	OpAllReduce Op = "all-reduce"
	OpAllToAll  Op = "all-to-all"
	OpP2P       Op = "p2p"
)

// Collective is the traffic of one parallelism dimension in one training
// step, seen from one chip: Calls calls of Op over a group of Group ranks
// spaced Stride chips apart, each moving Bytes per chip. For all-to-all,
// Bytes is one element's payload (one token's hidden vector for each
// micro-batch token on this chip), sent FanOut times (top-k); RemoteCap,
// when positive, caps the copies per element that leave the innermost
// domain (node-limited routing: the rest are forwarded inside the
// destination domain).
type Collective struct {
	Op        Op      `json:"op"`
	Group     int     `json:"group"`
	Stride    int     `json:"stride"`
	Bytes     float64 `json:"bytes"`
	Calls     float64 `json:"calls"`
	FanOut    float64 `json:"fan_out,omitempty"`
	RemoteCap float64 `json:"remote_cap,omitempty"`
}

// Volumes is what each parallelism dimension moves per step per chip.
// Data holds two all-reduces for a mixture of experts: dense gradients over
// DP replicas and expert gradients over DP/EP.
type Volumes struct {
	Tensor   []Collective `json:"tensor,omitempty"`
	Pipeline []Collective `json:"pipeline,omitempty"`
	Data     []Collective `json:"data,omitempty"`
	Expert   []Collective `json:"expert,omitempty"`
}

// CommEstimator turns one collective's per-step traffic into seconds on a
// fabric. The planner ships AlphaBeta; an adapter over internal/comm can
// replace it without touching the volume formulas. Implementations must be
// safe for concurrent use.
type CommEstimator interface {
	Seconds(f Fabric, c Collective) float64
}

// StepVolumes returns the per-step, per-chip traffic of plan p for model m.
//
//	tensor:   4 all-reduce-equivalents of b·s·h·2 bytes per layer and micro-batch
//	          (2 forward, 2 backward; 6 with full recompute); with sequence
//	          parallelism they are all-gathers and reduce-scatters of equal cost
//	pipeline: b·s·h·2/TP bytes sent forward and back per micro-batch at each of
//	          the v virtual stage boundaries
//	data:     BF16 gradients, 2 bytes per parameter held (dense over DP,
//	          experts over DP/EP); ZeRO-1 reduce-scatter + all-gather costs the same
//	expert:   per MoE layer and micro-batch, dispatch and combine forward and
//	          backward (4, or 6 with full recompute) of the b·s/TP tokens of
//	          the chip, each sent to top-k experts
func StepVolumes(m Model, p Parallelism, a Assumptions) Volumes {
	var v Volumes
	b, s, h := float64(p.MicroBatch), float64(m.SeqLen), float64(m.Hidden)
	mb := float64(p.MicroBatches)
	ls := float64(layersPerStage(m.Layers, p.PP))
	fwdBwd := 4 + 2*p.fullShare(m.Layers) // a full recompute reruns the forward collectives
	if p.TP > 1 {
		v.Tensor = []Collective{{Op: OpAllReduce, Group: p.TP, Stride: 1, Bytes: b * s * h * 2, Calls: mb * ls * fwdBwd}}
	}
	if p.PP > 1 {
		v.Pipeline = []Collective{{Op: OpP2P, Group: p.PP, Stride: p.TP * p.DP, Bytes: b * s * h * 2 / float64(p.TP),
			Calls: mb * 2 * float64(max(p.Interleave, 1))}}
	}
	tp, pp := float64(p.TP), float64(p.PP)
	if p.DP > 1 {
		v.Data = append(v.Data, Collective{Op: OpAllReduce, Group: p.DP, Stride: p.TP, Bytes: gradBytes * m.DenseParams() / (tp * pp), Calls: 1})
	}
	if ep := max(p.EP, 1); m.IsMoE() && p.DP/ep > 1 {
		v.Data = append(v.Data, Collective{Op: OpAllReduce, Group: p.DP / ep, Stride: p.TP * ep,
			Bytes: gradBytes * m.ExpertParams() / (tp * pp * float64(ep)), Calls: 1})
	}
	if m.IsMoE() && p.EP > 1 {
		moePerStage := float64(ceilDiv(m.moeLayers(), p.PP))
		tokens := b * s / tp
		perElem := h * (a.DispatchBytes + 2) / 2 // dispatch at DispatchBytes, combine in BF16
		v.Expert = []Collective{{Op: OpAllToAll, Group: p.EP, Stride: p.TP, Bytes: tokens * perElem,
			Calls: mb * moePerStage * fwdBwd, FanOut: float64(m.TopK), RemoteCap: float64(m.RouteDomains)}}
	}
	return v
}

// AlphaBeta is the planner's built-in communication model: each transfer
// costs latency + bytes/bandwidth on the level it crosses. All-reduce is
// hierarchical (reduce-scatter inside the innermost domains, ring across
// the next level on the shards, and so on out); all-to-all sends each
// level its share of peers; p2p crosses the innermost level both ends
// share. It is a stand-in for internal/comm, kept deliberately simple.
type AlphaBeta struct{}

var _ CommEstimator = AlphaBeta{}

// Seconds implements CommEstimator.
func (AlphaBeta) Seconds(f Fabric, c Collective) float64 {
	if c.Group <= 1 || c.Calls <= 0 || len(f.Levels) == 0 {
		return 0
	}
	m := f.span(c.Group, c.Stride)
	n := len(f.Levels)
	var t float64
	switch c.Op {
	case OpAllReduce:
		for i := n - 1; i >= 0; i-- {
			r := float64(m[i]) / float64(m[i+1])
			if r <= 1 {
				continue
			}
			l := f.Levels[i]
			t += 2*(r-1)/r*c.Bytes/float64(m[i+1])/l.bytesPerSecond() + 2*(r-1)*l.LatencyUs*1e-6
		}
	case OpAllToAll:
		fan := c.FanOut
		if fan <= 0 {
			fan = 1
		}
		g := float64(c.Group)
		copies := make([]float64, n)
		for i := 0; i < n; i++ {
			copies[i] = fan * float64(m[i]-m[i+1]) / g
		}
		remote := 0.0
		for i := 0; i < n-1; i++ {
			remote += copies[i]
		}
		if c.RemoteCap > 0 && remote > c.RemoteCap {
			scale := c.RemoteCap / remote
			for i := 0; i < n-1; i++ {
				copies[i] *= scale
			}
			copies[n-1] += remote - c.RemoteCap
		}
		for i, k := range copies {
			if k > 0 {
				l := f.Levels[i]
				t += c.Bytes*k/l.bytesPerSecond() + l.LatencyUs*1e-6
			}
		}
	case OpP2P:
		pair := f.span(2, c.Stride)
		i := 0
		for j := range f.Levels {
			if pair[j] == 2 {
				i = j
			}
		}
		l := f.Levels[i]
		t = c.Bytes/l.bytesPerSecond() + l.LatencyUs*1e-6
	}
	return t * c.Calls
}

// CommSeconds is the time each dimension's traffic takes per step if
// nothing overlapped it.
type CommSeconds struct {
	Tensor   float64 `json:"tensor"`
	Pipeline float64 `json:"pipeline"`
	Data     float64 `json:"data"`
	Expert   float64 `json:"expert"`
}

// Total returns the sum over dimensions.
func (c CommSeconds) Total() float64 { return c.Tensor + c.Pipeline + c.Data + c.Expert }

func priceVolumes(e CommEstimator, f Fabric, v Volumes) CommSeconds {
	sum := func(cs []Collective) float64 {
		var t float64
		for _, c := range cs {
			t += e.Seconds(f, c)
		}
		return t
	}
	return CommSeconds{Tensor: sum(v.Tensor), Pipeline: sum(v.Pipeline), Data: sum(v.Data), Expert: sum(v.Expert)}
}

// exposedComm returns the communication time left on the critical path:
// each dimension hides its overlap fraction behind compute, and what the
// overlapped parts together exceed compute by is exposed too.
func exposedComm(c CommSeconds, o Overlap, compute float64) float64 {
	hidden := o.Tensor*c.Tensor + o.Pipeline*c.Pipeline + o.Data*c.Data + o.Expert*c.Expert
	exposed := c.Total() - hidden
	if hidden > compute {
		exposed += hidden - compute
	}
	return math.Max(exposed, 0)
}
