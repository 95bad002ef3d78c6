package score

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/qunhq/qun/internal/sched"
)

// DefaultPolicy is Qun's own placement profile, the default of `qun sim`.
const DefaultPolicy = "qun"

// policy is one placement profile: its scorer as registered and its
// arguments.
type policy struct {
	scorer  string
	args    map[string]any
	history bool // learns the workload from the jobs seen so far
}

var policies = map[string]policy{
	"random":        {scorer: RandomName},
	"dotproduct":    {scorer: DotProductName, args: map[string]any{"quantize": true}},
	"gpuclustering": {scorer: GpuClusteringName},
	"gpupacking":    {scorer: GpuPackingName},
	"bestfit":       {scorer: BestFitName, args: map[string]any{"quantize": true}},
	"fgd":           {scorer: FGDName, args: map[string]any{"quantize": true}},
	DefaultPolicy:   {scorer: QunName, history: true},
}

// Policies returns the profile names in order.
func Policies() []string {
	out := make([]string, 0, len(policies))
	for n := range policies {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// parse splits a policy name with arguments, "qun:patience=0.95:waste=0",
// into its profile and arguments (numbers, or true and false).
func parse(name string) (policy, map[string]any, error) {
	base, rest, colon := strings.Cut(name, ":")
	p, ok := policies[base]
	if !ok {
		return policy{}, nil, fmt.Errorf("unknown policy %q (known: %s)", base, strings.Join(Policies(), ", "))
	}
	args := maps.Clone(p.args)
	if !colon {
		return p, args, nil
	}
	if args == nil {
		args = map[string]any{}
	}
	for _, kv := range strings.Split(rest, ":") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return policy{}, nil, fmt.Errorf("policy %q: argument %q is not NAME=VALUE", name, kv)
		}
		switch v {
		case "true", "false":
			args[k] = v == "true"
		default:
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return policy{}, nil, fmt.Errorf("policy %q: argument %s: %q is not a number, true or false", name, k, v)
			}
			args[k] = f
		}
	}
	return p, args, nil
}

// Spec returns the named placement profile: the "fits" host filter, the
// policy's scorer, and the "hostscore" placer scoring every
// host (the FGD artifact scores all nodes). Backfill is off: these profiles
// decide where a job goes, not when. A name may carry scorer arguments
// after colons, "qun:patience=0.95:order=0" (see Register). Build it with a
// registry holding this package's scorers (sched.BuildProfile), which
// rejects arguments the scorer does not take.
func Spec(name string) (*sched.ProfileSpec, error) {
	p, args, err := parse(name)
	if err != nil {
		return nil, err
	}
	return &sched.ProfileSpec{
		Name:     name,
		Filters:  []sched.PluginRef{{Name: "fits"}},
		Scores:   []sched.PluginRef{{Name: p.scorer, Weight: 1, Args: args}},
		Place:    sched.PluginRef{Name: "hostscore", Args: map[string]any{"maxHosts": 0}},
		Backfill: sched.BackfillSpec{Mode: "off"},
	}, nil
}

// LearnsHistory reports whether the named policy measures against the
// workload seen so far (the caller feeds a History into Snapshot.Workload)
// rather than one given in advance.
func LearnsHistory(name string) bool {
	p, _, err := parse(name)
	return err == nil && p.history
}

// StateOnly reports whether the named profile decides from the pool state,
// the pending job and the workload alone: no admission, backfill or
// preemption, and no scorer reading the running jobs.
func StateOnly(name string) bool {
	p, _, err := parse(name)
	return err == nil && p.scorer != GpuClusteringName
}

// Register adds the scorers to a plugin registry. Arguments: "quantize"
// (bool) truncates scores to integers as the FGD artifact does (bestfit,
// dotproduct, fgd); qun takes "strand", "order" and "waste" (≥ 0) and
// "patience" (0 to 1), the fields of QunOptions. Any other argument is an
// error.
func Register(r sched.Registry) {
	none := func(name string, p sched.Plugin) {
		r.Register(name, func(a map[string]any) (sched.Plugin, error) { return p, onlyArgs(a) })
	}
	quantized := func(name string, build func(q bool) sched.Plugin) {
		r.Register(name, func(a map[string]any) (sched.Plugin, error) {
			if err := onlyArgs(a, "quantize"); err != nil {
				return nil, err
			}
			q, err := boolArg(a, "quantize")
			return build(q), err
		})
	}
	none(RandomName, Random{})
	quantized(DotProductName, func(q bool) sched.Plugin { return DotProduct{quantize: q} })
	none(GpuClusteringName, GpuClustering{})
	none(GpuPackingName, GpuPacking{})
	quantized(BestFitName, func(q bool) sched.Plugin { return BestFit{quantize: q} })
	quantized(FGDName, func(q bool) sched.Plugin { return NewFGD(q, false) })
	r.Register(QunName, func(a map[string]any) (sched.Plugin, error) {
		o, err := qunArgs(a)
		if err != nil {
			return nil, err
		}
		return NewQunWith(o), nil
	})
}

// onlyArgs rejects arguments other than the allowed ones.
func onlyArgs(a map[string]any, allowed ...string) error {
	for k := range a {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return fmt.Errorf("unknown argument %q (this scorer takes none)", k)
			}
			return fmt.Errorf("unknown argument %q (this scorer takes %s)", k, strings.Join(allowed, ", "))
		}
	}
	return nil
}

// qunArgs reads QunOptions from scorer arguments over the defaults.
func qunArgs(a map[string]any) (QunOptions, error) {
	o := DefaultQunOptions
	fields := map[string]*float64{"strand": &o.Strand, "order": &o.Order, "waste": &o.Waste, "patience": &o.Patience}
	for k, v := range a {
		f, ok := fields[k]
		if !ok {
			return o, fmt.Errorf("unknown argument %q (qun takes %s)", k, strings.Join(slices.Sorted(maps.Keys(fields)), ", "))
		}
		var x float64
		switch n := v.(type) {
		case float64:
			x = n
		case int:
			x = float64(n)
		case int64:
			x = float64(n)
		default:
			return o, fmt.Errorf("argument %q: %v is not a number", k, v)
		}
		if x < 0 || k == "patience" && x > 1 {
			limit := "≥ 0"
			if k == "patience" {
				limit = "0 to 1"
			}
			return o, fmt.Errorf("argument %q: %g is out of range (%s)", k, x, limit)
		}
		*f = x
	}
	return o, nil
}

func boolArg(a map[string]any, name string) (bool, error) {
	v, ok := a[name]
	if !ok {
		return false, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("argument %q: %v is not a boolean", name, v)
	}
	return b, nil
}

// Reasons returns the reasons this package's plugins give: none, for a
// scorer answers with a number, never a refusal. It is here so that a test
// walking every package's reasons need not know which have some.
func Reasons() []string { return nil }
