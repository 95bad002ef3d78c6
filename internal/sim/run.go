package sim

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/sched/score"
	"github.com/qunhq/qun/internal/sim/trace"
)

// Config is one `qun sim` invocation: a workload, policies and seeds.
type Config struct {
	// Trace is an openb pod list (.csv) or a generic job trace (.jsonl);
	// empty runs the embedded synthetic workload.
	Trace string
	// Nodes is an openb node list; empty takes openb_node_list_gpu_node.csv
	// beside an openb trace, or the synthetic nodes.
	Nodes string
	// Experiment is "fgd" (the FGD paper's method) or "replay".
	Experiment string
	Policies   []string
	// ProfileFile, when set, is a scheduler profile file (docs/scheduler.md)
	// run instead of Policies, named by its file name in the report.
	ProfileFile string
	Seeds       []int64
	Ratio       float64 // FGD tuning ratio; 0 means 1.3
	// PackingBound records the packing bound in FGD runs
	// (FGDOptions.Bound).
	PackingBound bool
	// Progress, when set, receives progress lines.
	Progress func(string)
	// Steps, when set, receives the jobs done of each run in place of
	// Progress's "N/M jobs" lines (a progress bar).
	Steps func(label string, done, total int)
}

// Run executes the configuration and returns the report.
func Run(c Config) (*Report, error) {
	start := time.Now()
	if c.Experiment == "" {
		c.Experiment = "replay"
	}
	if c.Experiment != "fgd" && c.Experiment != "replay" {
		return nil, fmt.Errorf("%w: experiment %q (allowed: fgd, replay)", trace.ErrInvalid, c.Experiment)
	}
	profiles := map[string]*sched.Profile{}
	switch {
	case c.ProfileFile != "":
		if len(c.Policies) > 0 {
			return nil, fmt.Errorf("%w: give --policy or --profile, not both", trace.ErrInvalid)
		}
		data, err := os.ReadFile(c.ProfileFile)
		if err != nil {
			return nil, fmt.Errorf("%w: profile file: %v", trace.ErrInvalid, err)
		}
		prof, err := sched.LoadProfile(filepath.Base(c.ProfileFile), data, plugins.Default())
		if err != nil {
			return nil, fmt.Errorf("%w: %v", trace.ErrInvalid, err)
		}
		label := "profile:" + filepath.Base(c.ProfileFile)
		c.Policies, profiles[label] = []string{label}, prof
	case len(c.Policies) == 0 && c.Experiment == "replay":
		c.Policies = []string{ServerDefault}
	case len(c.Policies) == 0:
		c.Policies = []string{score.DefaultPolicy}
	}
	for _, p := range c.Policies {
		if profiles[p] != nil {
			continue
		}
		// Build each profile once up front: a bad name or argument fails
		// before any run starts.
		prof, err := Profile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", trace.ErrInvalid, err)
		}
		profiles[p] = prof
	}
	if len(c.Seeds) == 0 {
		c.Seeds = []int64{42}
	}
	if c.Ratio == 0 {
		c.Ratio = 1.3
	}
	nodes, jobs, err := c.load()
	if err != nil {
		return nil, err
	}
	r := &Report{Experiment: c.Experiment, Trace: c.Trace, Nodes: c.Nodes, Policies: c.Policies, Seeds: c.Seeds}
	if r.Trace == "" {
		r.Trace = "synthetic (embedded default)"
	}
	for _, p := range c.Policies {
		for _, seed := range c.Seeds {
			label := fmt.Sprintf("%s seed %d", p, seed)
			progress := func(done, total int) {
				if c.Steps != nil {
					c.Steps(label, done, total)
				} else if c.Progress != nil {
					c.Progress(fmt.Sprintf("%s: %d/%d jobs", label, done, total))
				}
			}
			if c.Experiment == "fgd" {
				res, err := RunFGD(nodes, jobs, FGDOptions{Policy: p, Profile: fileProfile(c, profiles, p), Seed: seed, Ratio: c.Ratio, Lean: true,
					Bound: c.PackingBound, Progress: progress})
				if err != nil {
					return nil, fmt.Errorf("%s: %w", label, err)
				}
				r.FGD = append(r.FGD, res)
				if c.Progress != nil {
					c.Progress(fmt.Sprintf("%s: alloc at 130%% %.2f%% (%.1fs)", label, res.AllocAt130, res.WallSeconds))
				}
				continue
			}
			js := jobs
			if c.Trace == "" {
				// The synthetic workload is drawn with the seed.
				js, err = trace.DefaultSynthetic().Generate(rand.New(rand.NewSource(seed)))
				if err != nil {
					return nil, err
				}
			}
			res, err := Replay(nodes, js, ReplayOptions{Policy: p, Profile: profiles[p], Seed: seed, Progress: progress})
			if err != nil {
				return nil, fmt.Errorf("%s: %w", label, err)
			}
			r.Replay = append(r.Replay, res)
		}
	}
	r.Summarise()
	r.WallSeconds = time.Since(start).Seconds()
	return r, nil
}

// load reads the nodes and jobs of the configuration.
func (c *Config) load() ([]trace.Node, []trace.Job, error) {
	var nodes []trace.Node
	var jobs []trace.Job
	var err error
	openb := c.Trace != "" && !strings.HasSuffix(c.Trace, ".jsonl") && !strings.HasSuffix(c.Trace, ".json")
	switch {
	case c.Trace == "":
	case openb:
		jobs, err = trace.ReadOpenBPodsFile(c.Trace)
	default:
		jobs, err = trace.ReadJobsFile(c.Trace)
	}
	if err != nil {
		return nil, nil, err
	}
	nodesFile := c.Nodes
	if nodesFile == "" && openb {
		nodesFile = filepath.Join(filepath.Dir(c.Trace), "openb_node_list_gpu_node.csv")
		if _, err := os.Stat(nodesFile); err != nil {
			return nil, nil, fmt.Errorf("%w: no --nodes given and %s is missing", trace.ErrInvalid, nodesFile)
		}
		c.Nodes = nodesFile
	}
	if nodesFile != "" {
		nodes, err = trace.ReadOpenBNodesFile(nodesFile)
		if err != nil {
			return nil, nil, err
		}
	} else {
		nodes = trace.DefaultNodes()
		c.Nodes = "synthetic (embedded default)"
	}
	if c.Experiment == "fgd" && len(jobs) == 0 {
		if c.Trace != "" {
			return nil, nil, fmt.Errorf("%w: %s has no jobs", trace.ErrInvalid, c.Trace)
		}
		jobs, err = trace.DefaultSynthetic().Generate(rand.New(rand.NewSource(1)))
		if err != nil {
			return nil, nil, err
		}
	}
	return nodes, jobs, nil
}

// fileProfile is the profile RunFGD runs instead of the one its policy
// names: only a --profile file's. A named policy keeps its own build, so
// its lean snapshots and history learning stay as the policy defines them.
func fileProfile(c Config, profiles map[string]*sched.Profile, p string) *sched.Profile {
	if c.ProfileFile == "" {
		return nil
	}
	return profiles[p]
}
