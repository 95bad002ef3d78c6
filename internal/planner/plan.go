package planner

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/qunhq/qun/internal/pool"
)

// DefaultGlobalBatchTokens is the global batch when the request sets none:
// 16Mi tokens, Llama 3 405B's main pre-training batch.
const DefaultGlobalBatchTokens = 1 << 24

// Request is one `qun plan` invocation. Each field is one flag (named in its
// comment); the CLI fills it and calls Plan.
type Request struct {
	Model             Model         // --model PRESET, or --params --active-params --layers --hidden --heads --seq --vocab --experts --top-k --moe-layers --route-domains --attn-dim
	Tokens            float64       // --tokens: training tokens (15.6e12, or 15.6T in the CLI)
	Targets           []Target      // --kind KIND (repeatable) and, later, --pool FILE (repeatable)
	Chips             int           // --chips: plan for this many chips (time to finish); exclusive with Deadline
	Deadline          time.Duration // --deadline: plan the fewest chips that finish in time (30d in the CLI)
	GlobalBatchTokens float64       // --global-batch-tokens; 0 = DefaultGlobalBatchTokens
	PricePerChipHour  float64       // --price: currency per chip-hour; 0 = no cost line
	Fixed             Parallelism   // --tp --pp --ep --micro-batch --recompute; zero fields are searched (DP follows from chips)
	Assumptions       *Assumptions  // --assumptions FILE and the per-assumption flags; nil = DefaultAssumptions()
	Catalog           *pool.Catalog // chip kinds; nil = Catalog()
	Comm              CommEstimator // nil = a new CommModel (internal/comm); AlphaBeta{} is the closed-form fallback
}

// Target is one thing to plan on: a chip kind from the catalog, or (the
// pool-file hook) an explicit chip, fabric and chip limit.
type Target struct {
	Kind     string         // catalog name (--kind); with Chip set, a display name
	Chip     *pool.ChipKind // from a pool file; nil = look Kind up
	Fabric   *Fabric        // from a pool file's topology; nil = SyntheticFabric
	MaxChips int            // chips the pool has; 0 = unlimited
}

// Result is the plan for every target of a request.
type Result struct {
	Mode        string          `json:"mode"` // "deadline" or "chips"
	Model       Model           `json:"model"`
	Tokens      float64         `json:"tokens"`
	DeadlineDay float64         `json:"deadline_days,omitempty"`
	Chips       int             `json:"chips,omitempty"`
	Kinds       []KindResult    `json:"kinds"`
	Assumptions []AssumptionRow `json:"assumptions"`
}

// KindResult is the best plan on one target, or why there is none.
type KindResult struct {
	Kind              string      `json:"kind"`
	Fabric            string      `json:"fabric"`
	Error             string      `json:"error,omitempty"`
	Plan              Parallelism `json:"plan"`
	Chips             int         `json:"chips"`
	GlobalBatchTokens float64     `json:"global_batch_tokens"`
	Memory            Memory      `json:"memory"`
	Step              Step        `json:"step"`
	Efficiency        float64     `json:"efficiency"` // achieved fraction of peak assumed for matrix work
	MFU               float64     `json:"mfu"`
	TokensPerSecond   float64     `json:"tokens_per_second"`
	ComputeDays       float64     `json:"compute_days"` // fault-free
	WallDays          float64     `json:"wall_days"`    // with checkpoints, faults and restarts
	ChipHours         float64     `json:"chip_hours"`
	Reliability       Reliability `json:"reliability"`
	Energy            Energy      `json:"energy"`
	Cost              float64     `json:"cost,omitempty"`
	Limit             string      `json:"limit,omitempty"` // what bounds this plan
}

// Step is the time of one training step on the slowest chip.
type Step struct {
	Seconds        float64     `json:"seconds"`
	ComputeSeconds float64     `json:"compute_seconds"` // micro-batches × per-micro-batch compute
	BubbleSeconds  float64     `json:"bubble_seconds"`  // pipeline fill and drain
	ExposedComm    float64     `json:"exposed_comm_seconds"`
	Comm           CommSeconds `json:"comm_seconds"` // before overlap
}

// Energy is the facility energy of a run.
type Energy struct {
	MWh   float64 `json:"mwh"`
	AvgMW float64 `json:"avg_mw"`
}

// Plan answers a request for each target. Targets that cannot be planned
// (unknown kind, no fit, deadline missed) carry an Error in the result and
// their errors are joined into the returned error, which wraps ErrInput;
// the result is non-nil whenever the request itself is valid.
func Plan(req Request) (*Result, error) {
	env, err := newEnv(req)
	if err != nil {
		return nil, err
	}
	res := &Result{Model: req.Model, Tokens: req.Tokens}
	if req.Deadline > 0 {
		res.Mode, res.DeadlineDay = "deadline", req.Deadline.Hours()/24
	} else {
		res.Mode, res.Chips = "chips", req.Chips
	}
	var errs []error
	var names []string
	for _, t := range req.Targets {
		kr, err := env.planTarget(t)
		if err != nil {
			kr.Error = err.Error()
			errs = append(errs, err)
		}
		res.Kinds = append(res.Kinds, kr)
		name := kr.Kind
		if t.Chip != nil {
			name = t.Chip.Name // assumptions are per chip kind, not per pool
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	res.Assumptions = env.a.Rows(names)
	return res, errors.Join(errs...)
}

// env is one validated request with its defaults filled in.
type env struct {
	req   Request
	a     Assumptions
	cat   *pool.Catalog
	comm  CommEstimator
	batch int // global batch in sequences
}

func newEnv(req Request) (*env, error) {
	e := &env{req: req, cat: req.Catalog, comm: req.Comm}
	if e.cat == nil {
		e.cat = Catalog()
	}
	if e.comm == nil {
		e.comm = &CommModel{}
	}
	if req.Assumptions != nil {
		e.a = req.Assumptions.Clone()
	} else {
		e.a = DefaultAssumptions()
	}
	if err := e.a.Validate(); err != nil {
		return nil, err
	}
	if err := req.Model.Validate(); err != nil {
		return nil, err
	}
	switch {
	case !(req.Tokens > 0):
		return nil, inputErrorf("--tokens must be more than 0")
	case len(req.Targets) == 0:
		return nil, inputErrorf("name at least one chip kind with --kind (known: %v) or a pool with --pool", e.cat.Names())
	case (req.Chips > 0) == (req.Deadline > 0):
		return nil, inputErrorf("give exactly one of --chips (time to finish on that many chips) or --deadline (chips needed to finish in time)")
	case req.Chips < 0 || req.Deadline < 0 || req.GlobalBatchTokens < 0 || req.PricePerChipHour < 0:
		return nil, inputErrorf("--chips, --deadline, --global-batch-tokens and --price must not be negative")
	}
	f := req.Fixed
	if f.TP < 0 || f.PP < 0 || f.EP < 0 || f.MicroBatch < 0 {
		return nil, inputErrorf("--tp, --pp, --ep and --micro-batch must not be negative")
	}
	if f.PP > req.Model.Layers {
		return nil, inputErrorf("--pp %d exceeds the model's %d layers", f.PP, req.Model.Layers)
	}
	if f.EP > 1 && (!req.Model.IsMoE() || req.Model.Experts%f.EP != 0) {
		return nil, inputErrorf("--ep %d needs a mixture-of-experts model whose --experts it divides", f.EP)
	}
	if f.Recompute != "" && f.Recompute != RecomputeNone && f.Recompute != RecomputeSelective && f.Recompute != RecomputePartial && f.Recompute != RecomputeFull {
		return nil, inputErrorf("--recompute %q: allowed values are none, selective, partial, full", f.Recompute)
	}
	gb := req.GlobalBatchTokens
	if gb == 0 {
		gb = DefaultGlobalBatchTokens
	}
	e.batch = int(math.Round(gb / float64(req.Model.SeqLen)))
	if e.batch < 1 {
		return nil, inputErrorf("--global-batch-tokens %g is less than one sequence of %d tokens", gb, req.Model.SeqLen)
	}
	return e, nil
}

// target is a resolved Target.
type target struct {
	name     string
	chip     pool.ChipKind
	fabric   Fabric
	maxChips int
	eff      float64
}

func (e *env) resolve(t Target) (target, error) {
	var out target
	if t.Chip != nil {
		out.chip = *t.Chip
	} else {
		k, ok := e.cat.Lookup(t.Kind)
		if !ok {
			return out, &UnknownKindError{Kind: t.Kind, Known: e.cat.Names()}
		}
		out.chip = k
	}
	out.name = t.Kind
	if out.name == "" {
		out.name = out.chip.Name
	}
	if t.Fabric != nil {
		if err := t.Fabric.Validate(); err != nil {
			return out, err
		}
		out.fabric = *t.Fabric
	} else {
		n, ok := e.a.ScaleUpDomain[out.chip.Name]
		if !ok {
			n = 8
		}
		out.fabric = SyntheticFabric(out.chip, n, e.a)
	}
	out.maxChips = t.MaxChips
	out.eff, _ = e.a.EfficiencyFor(out.chip.Name)
	return out, nil
}

func (e *env) planTarget(t Target) (KindResult, error) {
	kr := KindResult{Kind: t.Kind}
	tg, err := e.resolve(t)
	if err != nil {
		return kr, fmt.Errorf("%s: %w", t.Kind, err)
	}
	kr.Kind, kr.Fabric = tg.name, tg.fabric.String()
	s := e.search(tg)
	if s.best == nil {
		err := e.explain(tg, s)
		return kr, err
	}
	best := *s.best
	best.Limit = e.limit(tg, best)
	return best, nil
}

// evaluate prices plan p (its DP set) on target tg.
func (e *env) evaluate(tg target, p Parallelism) KindResult {
	m, a := e.req.Model, e.a
	p.MicroBatches = ceilDiv(e.batch, p.DP*p.MicroBatch)
	p.Interleave = 1
	if p.PP > 1 {
		p.Interleave = min(a.MaxInterleave, layersPerStage(m.Layers, p.PP))
	}
	if p.Recompute == RecomputePartial {
		// The fewest fully recomputed layers per stage that fit (memory
		// falls as the count rises).
		ls := layersPerStage(m.Layers, p.PP)
		lo, hi := 1, ls
		for lo < hi {
			p.RecomputeLayers = (lo + hi) / 2
			if ComputeMemory(m, p, a.ZeRO, tg.chip.HBMGiB, a.HBMMargin).Fits() {
				hi = p.RecomputeLayers
			} else {
				lo = p.RecomputeLayers + 1
			}
		}
		p.RecomputeLayers = lo
	}
	kr := KindResult{Kind: tg.name, Fabric: tg.fabric.String(), Plan: p, Chips: p.Chips(), Efficiency: tg.eff}
	kr.Memory = ComputeMemory(m, p, a.ZeRO, tg.chip.HBMGiB, a.HBMMargin)

	// A step trains on the global batch; when DP·micro-batch does not divide
	// it, some replicas run one micro-batch more and the step waits for them.
	stepTokens := float64(e.batch) * float64(m.SeqLen)
	kr.GlobalBatchTokens = stepTokens
	// The fullest stage holds ⌈L/PP⌉ of the L layers.
	stageShare := float64(layersPerStage(m.Layers, p.PP)) / float64(m.Layers)
	tMB := HardwareFLOPsPerToken(m, p.Recompute, p.fullShare(m.Layers)) * float64(p.MicroBatch*m.SeqLen) * stageShare /
		float64(p.TP) / (tg.chip.BF16TFLOPS * 1e12 * tg.eff)
	st := Step{ComputeSeconds: float64(p.MicroBatches) * tMB}
	if p.PP > 1 {
		st.BubbleSeconds = float64(p.PP-1) / float64(p.Interleave) * tMB
	}
	st.Comm = priceVolumes(e.comm, tg.fabric, StepVolumes(m, p, a))
	st.ExposedComm = exposedComm(st.Comm, a.Overlap, st.ComputeSeconds)
	st.Seconds = st.ComputeSeconds + st.BubbleSeconds + st.ExposedComm
	kr.Step = st

	kr.MFU = MFU(ModelFLOPsPerToken(m)*stepTokens, kr.Chips, tg.chip.BF16TFLOPS, st.Seconds)
	kr.TokensPerSecond = stepTokens / st.Seconds
	computeHours := e.req.Tokens / kr.TokensPerSecond / 3600
	kr.Reliability = reliabilityFor(a, kr.Chips, m.Params, computeHours)
	wallHours := math.Inf(1)
	if kr.Reliability.EffectiveRatio > 0 {
		wallHours = computeHours / kr.Reliability.EffectiveRatio
	}
	kr.ComputeDays, kr.WallDays = computeHours/24, wallHours/24
	kr.ChipHours = float64(kr.Chips) * wallHours
	kr.Energy.AvgMW = float64(kr.Chips) * tg.chip.PowerW * a.PowerFraction * a.PUE / 1e6
	kr.Energy.MWh = kr.Energy.AvgMW * wallHours
	kr.Cost = e.req.PricePerChipHour * kr.ChipHours
	return kr
}

// limit names what bounds a chosen plan.
func (e *env) limit(tg target, kr KindResult) string {
	p := kr.Plan
	switch {
	case e.req.Deadline > 0:
		return fmt.Sprintf("fewest chips finishing within %s", days(e.req.Deadline.Hours()/24))
	case p.DP*p.MicroBatch >= e.batch:
		return fmt.Sprintf("data parallelism capped by the global batch (%d sequences)", e.batch)
	case kr.Chips < e.req.Chips:
		return fmt.Sprintf("uses %d of %d chips (TP·PP·DP must divide evenly)", kr.Chips, e.req.Chips)
	default:
		return "fastest plan on the given chips"
	}
}
