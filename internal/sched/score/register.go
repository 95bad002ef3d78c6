package score

import (
	"fmt"
	"sort"
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

// Spec returns the named placement profile: the "fits" and "sharefit" host
// filters, the
// policy's scorer, and the "hostscore" placer scoring every host (the FGD
// artifact scores all nodes). Backfill is off: these profiles decide where
// a job goes, not when. Build it with a registry holding this package's
// scorers (sched.BuildProfile).
func Spec(name string) (*sched.ProfileSpec, error) {
	p, ok := policies[name]
	if !ok {
		return nil, fmt.Errorf("unknown policy %q (known: %s)", name, strings.Join(Policies(), ", "))
	}
	return &sched.ProfileSpec{
		Name:     name,
		Filters:  []sched.PluginRef{{Name: "fits"}, {Name: ShareFitName}},
		Scores:   []sched.PluginRef{{Name: p.scorer, Weight: 1, Args: p.args}},
		Place:    sched.PluginRef{Name: "hostscore", Args: map[string]any{"maxHosts": 0}},
		Backfill: sched.BackfillSpec{Mode: "off"},
	}, nil
}

// LearnsHistory reports whether the named policy measures against the
// workload seen so far (the caller feeds a History into Snapshot.Workload)
// rather than one given in advance.
func LearnsHistory(name string) bool { return policies[name].history }

// StateOnly reports whether the named profile decides from the pool state,
// the pending job and the workload alone: no admission, backfill or
// preemption, and no scorer reading the running jobs.
func StateOnly(name string) bool {
	_, ok := policies[name]
	return ok && name != "gpuclustering"
}

// Register adds the scorers to a plugin registry. Arguments: "quantize"
// (bool) truncates scores to integers as the FGD artifact does.
func Register(r sched.Registry) {
	r.Register(ShareFitName, func(map[string]any) (sched.Plugin, error) { return ShareFit{}, nil })
	r.Register(RandomName, func(map[string]any) (sched.Plugin, error) { return Random{}, nil })
	r.Register(DotProductName, func(a map[string]any) (sched.Plugin, error) {
		q, err := boolArg(a, "quantize")
		return DotProduct{quantize: q}, err
	})
	r.Register(GpuClusteringName, func(map[string]any) (sched.Plugin, error) { return GpuClustering{}, nil })
	r.Register(GpuPackingName, func(map[string]any) (sched.Plugin, error) { return GpuPacking{}, nil })
	r.Register(BestFitName, func(a map[string]any) (sched.Plugin, error) {
		q, err := boolArg(a, "quantize")
		return BestFit{quantize: q}, err
	})
	r.Register(FGDName, func(a map[string]any) (sched.Plugin, error) {
		q, err := boolArg(a, "quantize")
		return NewFGD(q, false), err
	})
	r.Register(QunName, func(map[string]any) (sched.Plugin, error) { return NewQun(), nil })
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
