package cli

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/qunhq/qun/internal/planner"
	"github.com/qunhq/qun/internal/pool"
)

// planFlags holds every flag of `qun plan`. Model and assumption flags are
// parsed into scratch structs and copied onto the preset (or the
// assumptions file) only when the user set them.
type planFlags struct {
	out             output
	validate        bool
	compare         bool
	models          []string
	name            string
	scratchModel    planner.Model
	tokens          float64
	kinds           []string
	pools           []string
	chips           int
	deadline        time.Duration
	batchTokens     float64
	price           float64
	fixed           planner.Parallelism
	recompute       string
	assumptionsFile string
	scratchA        planner.Assumptions
	efficiency      []string
	scaleUp         []string
}

func newPlanCmd() *cobra.Command {
	pf := &planFlags{scratchA: planner.DefaultAssumptions()}
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Plan chips, time, energy and cost of a training run",
		Long: `Plan a training run: for a model and a token budget on one or more chip
kinds or pools, find the parallelism plan that fits in HBM and either the
fewest chips that finish by --deadline or the time to finish on --chips, with
power, energy, cost, expected faults and the checkpoint interval. Every
number the planner assumes is printed with its source and the flag that
changes it; docs/planner.md states the formulas.

Modes:
  qun plan --model dense-70b --tokens 15T --kind 910C --kind H100 --deadline 30d
  qun plan --params 13B --layers 40 --hidden 5120 --seq 4096 --tokens 2T --chips 512 --kind H20
  qun plan --model llama3-405b --tokens 15.6T --pool examples/pools/dgx-h100-superpod.yaml --chips 1024
  qun plan --compare     dense-70b and moe-671b on 910B, 910C, H20 and H100,
                         15T tokens, 30-day deadline (each can be changed with
                         --model, --kind, --tokens, --deadline or --chips)
  qun plan --validate    predict the published runs the planner is checked on

Numbers: counts take a suffix K, M, G (or B), T, P (powers of 1000) or Ki, Mi,
Gi, Ti, Pi (powers of 1024), or scientific notation: 15.6T = 1.56e13.
Durations take days (30d, 1.5d, 1d12h) or Go's syntax (720h). Negative
numbers, NaN, infinities and trailing characters are rejected.

--pool FILE plans on the pool's chips with its levels as the fabric and its
chip count as the limit; FILE:KIND picks one kind of a mixed pool.

Assumptions: start from the defaults, then --assumptions FILE (YAML, the
fields of docs/planner.md), then the per-assumption flags. --validate refits
H100's efficiency, and the default efficiency, to the calibration run.

Output (-o json):
  plain mode   one object: mode, model, tokens, deadline_days or chips,
               kinds (one entry per target, with error when it cannot be
               planned), assumptions
  --compare    {"models": [one plain-mode object per model]}
  --validate   a JSON array of rows: run, kind, metric, predicted, published,
               error_pct, calibrated, plan

Exit code 2 when the input is bad or a target cannot be planned (no fit in
HBM, unknown kind, deadline out of reach); targets that can be planned are
still printed.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pf.out.check(); err != nil {
				return err
			}
			if err := pf.checkMode(cmd.Flags()); err != nil {
				return err
			}
			format := planner.FormatTable
			if pf.out.json() {
				format = planner.FormatJSON
			}
			w := cmd.OutOrStdout()
			switch {
			case pf.validate:
				a, err := pf.assumptions(cmd.Flags(), nil)
				if err != nil {
					return err
				}
				v, err := planner.ValidateWith(a, nil)
				if err != nil {
					return plannerErr(err)
				}
				return planner.Render(w, v, format)
			case pf.compare:
				req, err := pf.compareRequest(cmd.Flags())
				if err != nil {
					return err
				}
				c, err := planner.Compare(req)
				if c != nil && printable(c.Results...) {
					if rerr := planner.Render(w, c, format); rerr != nil {
						return rerr
					}
				}
				return plannerErr(err)
			default:
				req, err := pf.request(cmd.Flags())
				if err != nil {
					return err
				}
				res, err := planner.Plan(req)
				if res != nil && printable(res) {
					if rerr := planner.Render(w, res, format); rerr != nil {
						return rerr
					}
				}
				return plannerErr(err)
			}
		},
	}
	pf.register(cmd)
	return cmd
}

func (pf *planFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	pf.out.register(cmd)
	fs.BoolVar(&pf.validate, "validate", false, "predict the published runs and compare with their figures")
	fs.BoolVar(&pf.compare, "compare", false, "plan several models on several kinds side by side")
	fs.StringArrayVar(&pf.models, "model", nil, "model preset: "+strings.Join(planner.PresetNames(), ", ")+" (repeatable with --compare)")
	fs.StringVar(&pf.name, "name", "", "display name of a model described by flags")
	for _, f := range modelFlags {
		fs.Var(f.bind(&pf.scratchModel), f.name, f.usage)
	}
	fs.Var(countValue{&pf.tokens}, "tokens", "training tokens, e.g. 15.6T")
	fs.StringArrayVar(&pf.kinds, "kind", nil, "chip kind to plan on (repeatable)")
	fs.StringArrayVar(&pf.pools, "pool", nil, "pool file to plan on, FILE or FILE:KIND (repeatable)")
	fs.Var(intValue{&pf.chips}, "chips", "plan the time to finish on this many chips")
	fs.Var(durationValue{&pf.deadline}, "deadline", "plan the fewest chips that finish within this time, e.g. 30d")
	fs.Var(countValue{&pf.batchTokens}, "global-batch-tokens", "global batch in tokens (default 16Mi)")
	fs.Var(numberValue{&pf.price}, "price", "price per chip-hour; adds a cost line")
	fs.Var(intValue{&pf.fixed.TP}, "tp", "fix tensor parallelism (default: searched)")
	fs.Var(intValue{&pf.fixed.PP}, "pp", "fix pipeline parallelism (default: searched)")
	fs.Var(intValue{&pf.fixed.EP}, "ep", "fix expert parallelism (default: searched)")
	fs.Var(intValue{&pf.fixed.MicroBatch}, "micro-batch", "fix sequences per micro-batch (default: searched)")
	fs.StringVar(&pf.recompute, "recompute", "", "fix recomputation: none, selective, partial or full (default: searched)")
	fs.StringVar(&pf.assumptionsFile, "assumptions", "", "YAML file of assumptions (docs/planner.md); flags override it")
	def := planner.DefaultAssumptions()
	fs.StringArrayVar(&pf.efficiency, "efficiency", nil, fmt.Sprintf(
		"achieved fraction of BF16 peak: KIND=F for one kind, F for kinds without their own (default H100=%g, carried over to other kinds; repeatable)",
		def.Efficiency["H100"]))
	fs.StringArrayVar(&pf.scaleUp, "scale-up-domain", nil, "chips per scale-up domain of a kind without a pool file, KIND=N (defaults in docs/planner.md; repeatable)")
	for _, f := range assumptionFlags {
		fs.Var(f.bind(&pf.scratchA), f.name, f.usage)
	}
}

// modeFlags lists, per mode, the flags besides -o and the assumption
// flags that the mode reads; any other flag set is a usage error.
var modeFlags = map[string][]string{
	"--validate": {"validate"},
	"--compare":  {"compare", "model", "kind", "tokens", "deadline", "chips", "global-batch-tokens", "price"},
}

func (pf *planFlags) checkMode(fs *pflag.FlagSet) error {
	if pf.validate && pf.compare {
		return usageError{errors.New("--validate and --compare are separate modes; give one")}
	}
	if fs.Changed("chips") && fs.Changed("deadline") {
		return usageError{errors.New("give --chips (time to finish on that many chips) or --deadline (fewest chips that finish in time), not both")}
	}
	mode := ""
	switch {
	case pf.validate:
		mode = "--validate"
	case pf.compare:
		mode = "--compare"
	default:
		return nil
	}
	allowed := map[string]bool{"output": true, "assumptions": true, "efficiency": true, "scale-up-domain": true}
	for _, f := range assumptionFlags {
		allowed[f.name] = true
	}
	for _, n := range modeFlags[mode] {
		allowed[n] = true
	}
	var bad []string
	fs.Visit(func(f *pflag.Flag) {
		if !allowed[f.Name] {
			bad = append(bad, "--"+f.Name)
		}
	})
	if len(bad) > 0 {
		return usageError{fmt.Errorf("%s cannot be used with %s", strings.Join(bad, ", "), mode)}
	}
	return nil
}

// request builds the plain-mode request.
func (pf *planFlags) request(fs *pflag.FlagSet) (planner.Request, error) {
	req := planner.Request{Tokens: pf.tokens, Chips: pf.chips, Deadline: pf.deadline,
		GlobalBatchTokens: pf.batchTokens, PricePerChipHour: pf.price, Fixed: pf.fixed}
	req.Fixed.Recompute = planner.Recompute(pf.recompute)
	m, err := pf.model(fs)
	if err != nil {
		return req, err
	}
	req.Model = m
	for _, k := range pf.kinds {
		req.Targets = append(req.Targets, planner.Target{Kind: k})
	}
	var topos []*pool.Topology
	for _, arg := range pf.pools {
		file, kind := splitPoolArg(arg)
		t, err := loadPool(file)
		if err != nil {
			return req, err
		}
		if kind == "" && len(t.Kinds) > 1 {
			names := make([]string, len(t.Kinds))
			for i, k := range t.Kinds {
				names[i] = k.Name
			}
			return req, badInput("pool %s holds chip kinds %s; pick one with --pool %s:KIND", file, strings.Join(names, ", "), file)
		}
		tg, err := planner.PoolTarget(t, kind)
		if err != nil {
			return req, plannerErr(err)
		}
		topos = append(topos, t)
		req.Targets = append(req.Targets, tg)
	}
	a, err := pf.assumptions(fs, topos)
	if err != nil {
		return req, err
	}
	req.Assumptions = &a
	return req, nil
}

// splitPoolArg splits FILE:KIND; an existing file whose name has a colon
// is taken whole.
func splitPoolArg(arg string) (file, kind string) {
	i := strings.LastIndexByte(arg, ':')
	if i < 0 {
		return arg, ""
	}
	if _, err := os.Stat(arg); err == nil {
		return arg, ""
	}
	return arg[:i], arg[i+1:]
}

// model is the --model preset with the model flags the user set applied
// over it, or a model described by flags alone.
func (pf *planFlags) model(fs *pflag.FlagSet) (planner.Model, error) {
	var m planner.Model
	set := false
	for _, f := range modelFlags {
		set = set || fs.Changed(f.name)
	}
	switch len(pf.models) {
	case 0:
		if !set {
			return m, badInput("name a model with --model (%s) or describe one with --params, --layers, --hidden, --seq and --vocab",
				strings.Join(planner.PresetNames(), ", "))
		}
		m.Name = "custom"
	case 1:
		p, err := planner.Preset(pf.models[0])
		if err != nil {
			return m, plannerErr(err)
		}
		m = p
	default:
		return m, usageError{fmt.Errorf("plan one --model at a time (got %d); use --compare for several", len(pf.models))}
	}
	if pf.name != "" {
		m.Name = pf.name
	}
	for _, f := range modelFlags {
		if fs.Changed(f.name) {
			if err := f.bind(&m).Set(fs.Lookup(f.name).Value.String()); err != nil {
				return m, err // cannot happen: the scratch value parsed
			}
		}
	}
	return m, nil
}

func (pf *planFlags) compareRequest(fs *pflag.FlagSet) (planner.CompareRequest, error) {
	req := planner.CompareRequest{Kinds: pf.kinds, Tokens: pf.tokens, Deadline: pf.deadline, Chips: pf.chips,
		GlobalBatchTokens: pf.batchTokens, PricePerChipHour: pf.price}
	for _, n := range pf.models {
		m, err := planner.Preset(n)
		if err != nil {
			return req, plannerErr(err)
		}
		req.Models = append(req.Models, m)
	}
	if fs.Changed("tokens") && pf.tokens == 0 {
		return req, badInput("--tokens must be more than 0")
	}
	a, err := pf.assumptions(fs, nil)
	if err != nil {
		return req, err
	}
	req.Assumptions = &a
	return req, nil
}

// assumptions are the defaults, then the --assumptions file, then the
// assumption flags the user set. Kinds named by --efficiency and
// --scale-up-domain must be in the catalog or one of the pools.
func (pf *planFlags) assumptions(fs *pflag.FlagSet, pools []*pool.Topology) (planner.Assumptions, error) {
	a := planner.DefaultAssumptions()
	if pf.assumptionsFile != "" {
		var err error
		if a, err = planner.LoadAssumptions(pf.assumptionsFile, a); err != nil {
			return a, plannerErr(err)
		}
	}
	for _, f := range assumptionFlags {
		if fs.Changed(f.name) {
			if err := f.bind(&a).Set(fs.Lookup(f.name).Value.String()); err != nil {
				return a, err // cannot happen: the scratch value parsed
			}
		}
	}
	known := map[string]bool{}
	for _, n := range planner.Catalog().Names() {
		known[n] = true
	}
	for _, t := range pools {
		for _, k := range t.Kinds {
			known[k.Name] = true
		}
	}
	checkKind := func(flag, kind string) error {
		if known[kind] {
			return nil
		}
		names := make([]string, 0, len(known))
		for n := range known {
			names = append(names, n)
		}
		sort.Strings(names)
		return badInput("--%s: unknown chip kind %q (known: %s)", flag, kind, strings.Join(names, ", "))
	}
	for _, s := range pf.efficiency {
		kind, val, hasKind := strings.Cut(s, "=")
		if !hasKind {
			kind, val = "", s
		}
		v, err := parseNumber(val)
		if err != nil {
			return a, badInput("--efficiency %s: %v; use F or KIND=F, e.g. 0.45 or 910C=0.45", s, err)
		}
		if !hasKind {
			a.DefaultEfficiency = v
			continue
		}
		if err := checkKind("efficiency", kind); err != nil {
			return a, err
		}
		a.Efficiency[kind] = v
	}
	for _, s := range pf.scaleUp {
		kind, val, ok := strings.Cut(s, "=")
		n, err := parseInt(val)
		if !ok || err != nil {
			return a, badInput("--scale-up-domain %q: use KIND=N, e.g. 910C=384", s)
		}
		if err := checkKind("scale-up-domain", kind); err != nil {
			return a, err
		}
		a.ScaleUpDomain[kind] = n
	}
	if err := a.Validate(); err != nil {
		return a, plannerErr(err)
	}
	return a, nil
}

// printable reports whether at least one target of the results was
// planned; results where every target failed are reported by the error
// alone.
func printable(rs ...*planner.Result) bool {
	for _, r := range rs {
		for _, k := range r.Kinds {
			if k.Error == "" {
				return true
			}
		}
	}
	return false
}

// plannerErr marks errors caused by the planner's input as bad input
// (exit code 2).
func plannerErr(err error) error {
	if err != nil && errors.Is(err, planner.ErrInput) {
		return fmt.Errorf("%w: %w", errBadInput, err)
	}
	return err
}

// noArgs is cobra.NoArgs with the error marked as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unexpected argument %q; qun plan takes only flags (see '%s --help')", args[0], cmd.CommandPath())}
	}
	return nil
}

// fieldFlag is a flag bound to one field of S: bind returns a flag value
// that reads and writes that field of the given S.
type fieldFlag[S any] struct {
	name, usage string
	bind        func(*S) pflag.Value
}

var modelFlags = []fieldFlag[planner.Model]{
	{"params", "all parameters, e.g. 70.6B", func(m *planner.Model) pflag.Value { return countValue{&m.Params} }},
	{"active-params", "parameters used per token (mixture of experts), e.g. 37B", func(m *planner.Model) pflag.Value { return countValue{&m.ActiveParams} }},
	{"layers", "transformer blocks", func(m *planner.Model) pflag.Value { return intValue{&m.Layers} }},
	{"hidden", "model width", func(m *planner.Model) pflag.Value { return intValue{&m.Hidden} }},
	{"heads", "attention heads (default hidden/128)", func(m *planner.Model) pflag.Value { return intValue{&m.Heads} }},
	{"seq", "training sequence length in tokens", func(m *planner.Model) pflag.Value { return intValue{&m.SeqLen} }},
	{"vocab", "vocabulary size", func(m *planner.Model) pflag.Value { return intValue{&m.Vocab} }},
	{"experts", "routed experts per MoE layer (0: dense)", func(m *planner.Model) pflag.Value { return intValue{&m.Experts} }},
	{"top-k", "routed experts per token", func(m *planner.Model) pflag.Value { return intValue{&m.TopK} }},
	{"moe-layers", "MoE blocks (default all layers)", func(m *planner.Model) pflag.Value { return intValue{&m.MoELayers} }},
	{"route-domains", "node-limited routing: at most this many remote domains per token", func(m *planner.Model) pflag.Value { return intValue{&m.RouteDomains} }},
	{"attn-dim", "mean of the Q·K and A·V widths over all heads (default hidden)", func(m *planner.Model) pflag.Value { return intValue{&m.AttnDim} }},
}

type assumption = planner.Assumptions

var assumptionFlags = []fieldFlag[assumption]{
	{"overlap-tp", "fraction of tensor-parallel communication hidden behind compute", func(a *assumption) pflag.Value { return numberValue{&a.Overlap.Tensor} }},
	{"overlap-pp", "fraction of pipeline transfers hidden behind compute", func(a *assumption) pflag.Value { return numberValue{&a.Overlap.Pipeline} }},
	{"overlap-dp", "fraction of data-parallel gradient reduction hidden behind compute", func(a *assumption) pflag.Value { return numberValue{&a.Overlap.Data} }},
	{"overlap-ep", "fraction of expert all-to-all hidden behind compute", func(a *assumption) pflag.Value { return numberValue{&a.Overlap.Expert} }},
	{"pue", "facility power usage effectiveness", func(a *assumption) pflag.Value { return numberValue{&a.PUE} }},
	{"power-fraction", "average draw / rated chip power", func(a *assumption) pflag.Value { return numberValue{&a.PowerFraction} }},
	{"chip-mtbf-hours", "chip-hours between job-killing faults", func(a *assumption) pflag.Value { return numberValue{&a.ChipMTBFHours} }},
	{"restart", "restart time after a fault", func(a *assumption) pflag.Value { return durationValue{&a.Restart} }},
	{"repair-hours", "mean hours a broken host is out for repair (sizes the spares)", func(a *assumption) pflag.Value { return numberValue{&a.RepairHours} }},
	{"spare-percentile", "share of time the spares cover every host in repair", func(a *assumption) pflag.Value { return numberValue{&a.SparePercentile} }},
	{"checkpoint-gbps", "aggregate checkpoint write bandwidth, GB/s", func(a *assumption) pflag.Value { return numberValue{&a.CheckpointGBps} }},
	{"checkpoint-bytes-per-param", "checkpoint bytes per parameter", func(a *assumption) pflag.Value { return numberValue{&a.CheckpointBytesPP} }},
	{"hbm-margin", "fraction of HBM kept free", func(a *assumption) pflag.Value { return numberValue{&a.HBMMargin} }},
	{"zero", "ZeRO stage: 0 or 1", func(a *assumption) pflag.Value { return intValue{&a.ZeRO} }},
	{"max-interleave", "virtual pipeline stages per chip, at most", func(a *assumption) pflag.Value { return intValue{&a.MaxInterleave} }},
	{"dispatch-bytes", "bytes per element of MoE dispatch (2 BF16, 1 FP8)", func(a *assumption) pflag.Value { return numberValue{&a.DispatchBytes} }},
	{"oversubscription", "scale-out oversubscription of synthetic fabrics", func(a *assumption) pflag.Value { return numberValue{&a.Oversubscription} }},
	{"scale-up-latency-us", "scale-up latency of synthetic fabrics, µs", func(a *assumption) pflag.Value { return numberValue{&a.ScaleUpLatencyUs} }},
	{"scale-out-latency-us", "scale-out latency of synthetic fabrics, µs", func(a *assumption) pflag.Value { return numberValue{&a.ScaleOutLatencyUs} }},
}

// Strict flag values: decimal digits only, no sign, NaN, infinity, hex or
// underscores, nothing after the number but a known suffix.

var (
	numberRE = regexp.MustCompile(`^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$`)
	daysRE   = regexp.MustCompile(`^((?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))d(.*)$`)
)

// parseNumber parses a non-negative decimal number such as 0.45 or 1.56e13.
func parseNumber(s string) (float64, error) {
	if !numberRE.MatchString(s) {
		return 0, fmt.Errorf("%q is not a non-negative decimal number", s)
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return v, nil
}

// countSuffixes are the multipliers of parseCount; binary ones first so
// that "Mi" is not read as "M" followed by garbage.
var countSuffixes = []struct {
	suffix string
	mult   float64
}{
	{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50},
	{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"B", 1e9}, {"T", 1e12}, {"P", 1e15},
}

// parseCount parses a count such as 15.6T, 16Mi, 70B or 1.56e13.
func parseCount(s string) (float64, error) {
	num, mult := s, 1.0
	for _, x := range countSuffixes {
		if strings.HasSuffix(s, x.suffix) {
			num, mult = strings.TrimSuffix(s, x.suffix), x.mult
			break
		}
	}
	v, err := parseNumber(num)
	if err != nil || math.IsInf(v*mult, 0) {
		return 0, fmt.Errorf("%q is not a count: use a non-negative number with an optional suffix K, M, G or B, T, P (×1000) or Ki, Mi, Gi, Ti, Pi (×1024), e.g. 15.6T or 1.56e13", s)
	}
	return v * mult, nil
}

// parseDuration parses days (30d, 1.5d, 1d12h) or Go's duration syntax.
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration: use days such as 30d or 1.5d, or Go's syntax such as 720h, 1d12h or 10m", s)
	var d time.Duration
	rest := s
	if m := daysRE.FindStringSubmatch(s); m != nil {
		days, err := parseNumber(m[1])
		if err != nil || days > 100000 {
			return 0, bad
		}
		d, rest = time.Duration(days*24*float64(time.Hour)), m[2]
		if rest == "" {
			return d, nil
		}
	}
	if strings.HasPrefix(rest, "-") || strings.HasPrefix(rest, "+") {
		return 0, bad
	}
	r, err := time.ParseDuration(rest)
	if err != nil || r > math.MaxInt64-d {
		return 0, bad
	}
	return d + r, nil
}

// parseInt parses a non-negative decimal integer.
func parseInt(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a non-negative whole number", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	return n, nil
}

type countValue struct{ p *float64 }

func (v countValue) String() string { return formatFloat(v.p) }
func (v countValue) Type() string   { return "count" }
func (v countValue) Set(s string) (err error) {
	*v.p, err = parseCount(s)
	return err
}

type numberValue struct{ p *float64 }

func (v numberValue) String() string { return formatFloat(v.p) }
func (v numberValue) Type() string   { return "number" }
func (v numberValue) Set(s string) (err error) {
	*v.p, err = parseNumber(s)
	return err
}

type intValue struct{ p *int }

func (v intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}
func (v intValue) Type() string { return "int" }
func (v intValue) Set(s string) (err error) {
	*v.p, err = parseInt(s)
	return err
}

type durationValue struct{ p *time.Duration }

func (v durationValue) String() string {
	if v.p == nil || *v.p == 0 {
		return "0"
	}
	return v.p.String()
}
func (v durationValue) Type() string { return "duration" }
func (v durationValue) Set(s string) (err error) {
	*v.p, err = parseDuration(s)
	return err
}

// formatFloat prints a value that parseNumber reads back exactly.
func formatFloat(p *float64) string {
	if p == nil {
		return "0"
	}
	return strconv.FormatFloat(*p, 'g', -1, 64)
}
