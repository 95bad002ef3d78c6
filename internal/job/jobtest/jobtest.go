// Package jobtest builds job specs for tests in the style of Kueue's
// wrappers, so a test case reads as one line:
//
//	spec := jobtest.Make("train").Queue("research").Chips("910C", 64).Ranks(8).
//		Priority(5).Duration(time.Hour).Plan(8, 1, 8, 1).Obj()
//
// Make starts from the smallest valid spec (one rank of one chip of any kind
// running "true"); each method changes one thing and returns the wrapper.
// Obj applies defaults but does not validate, so tests can build invalid
// specs on purpose; call Valid to fail a test on an invalid one.
//
// A Wrapper is not safe for concurrent use. Obj returns a new spec each
// time, sharing nothing with the wrapper.
package jobtest

import (
	"testing"
	"time"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// Wrapper holds a spec under construction.
type Wrapper struct{ s job.Spec }

// Make returns a wrapper around a minimal valid spec named name.
func Make(name string) *Wrapper {
	return &Wrapper{s: job.Spec{APIVersion: job.APIVersion, Kind: job.Kind, Name: name, Command: []string{"true"}}}
}

// Queue sets the queue path.
func (w *Wrapper) Queue(q string) *Wrapper { w.s.Queue = q; return w }

// Priority sets the priority.
func (w *Wrapper) Priority(p int) *Wrapper { w.s.Priority = p; return w }

// Chips sets the total chips and, unless kind is "", accepts only that kind.
func (w *Wrapper) Chips(kind string, n int) *Wrapper {
	w.s.Chips = n
	if kind != "" {
		w.s.Accept.Kinds = []string{kind}
	}
	return w
}

// Kinds sets the accepted chip kinds; none means any kind.
func (w *Wrapper) Kinds(kinds ...string) *Wrapper {
	w.s.Accept.Kinds = append([]string(nil), kinds...)
	return w
}

// MinHBM accepts only kinds with at least gib GiB of HBM.
func (w *Wrapper) MinHBM(gib float64) *Wrapper { w.s.Accept.MinHBMGiB = gib; return w }

// MixFamilies lets one gang mix HCCL and NCCL kinds.
func (w *Wrapper) MixFamilies() *Wrapper { w.s.Accept.MixFamilies = true; return w }

// Ranks sets the number of ranks.
func (w *Wrapper) Ranks(n int) *Wrapper { w.s.Ranks = n; return w }

// ChipsPerRank sets the chips per rank in thousandths (job.Whole is one chip).
func (w *Wrapper) ChipsPerRank(m job.Milli) *Wrapper { w.s.ChipsPerRank = m; return w }

// Resources sets the CPU (thousandths of a core) and memory (MiB) per rank.
func (w *Wrapper) Resources(cpuMilli, memMiB int64) *Wrapper {
	w.s.CPUMilliPerRank, w.s.MemoryMiBPerRank = cpuMilli, memMiB
	return w
}

// Plan sets the tensor, pipeline, data and expert sizes; 0 means default.
func (w *Wrapper) Plan(tensor, pipeline, data, expert int) *Wrapper {
	w.s.Parallelism = job.Parallelism{Tensor: tensor, Pipeline: pipeline, Data: data, Expert: expert}
	return w
}

// Comm sets the per-rank, per-step communication volumes in bytes.
func (w *Wrapper) Comm(tensor, pipeline, data, expert float64) *Wrapper {
	w.s.Communication = job.Communication{TensorBytes: tensor, PipelineBytes: pipeline, DataBytes: data, ExpertBytes: expert}
	return w
}

// Duration sets the expected run time.
func (w *Wrapper) Duration(d time.Duration) *Wrapper { w.s.Duration = job.Duration(d); return w }

// Checkpoint sets the checkpoint interval and directory.
func (w *Wrapper) Checkpoint(every time.Duration, dir string) *Wrapper {
	w.s.Checkpoint = job.Checkpoint{Interval: job.CheckpointInterval(every), Dir: dir}
	return w
}

// Command sets the program and its arguments.
func (w *Wrapper) Command(argv ...string) *Wrapper {
	w.s.Command = append([]string(nil), argv...)
	return w
}

// Env sets one environment variable.
func (w *Wrapper) Env(key, value string) *Wrapper {
	if w.s.Env == nil {
		w.s.Env = map[string]string{}
	}
	w.s.Env[key] = value
	return w
}

// Obj returns a normalized copy of the spec. It does not validate.
func (w *Wrapper) Obj() *job.Spec {
	s := clone(w.s)
	s.Normalize()
	return &s
}

// Valid is Obj for specs that must be valid against the default catalog:
// it fails the test with every problem otherwise.
func (w *Wrapper) Valid(t testing.TB) *job.Spec {
	t.Helper()
	s := w.Obj()
	if probs := s.Validate(pool.DefaultCatalog(), nil); probs != nil {
		t.Fatalf("jobtest: spec %q is invalid:\n%v", s.Name, probs)
	}
	return s
}

func clone(s job.Spec) job.Spec {
	s.Accept.Kinds = append([]string(nil), s.Accept.Kinds...)
	s.Command = append([]string(nil), s.Command...)
	s.Args = append([]string(nil), s.Args...)
	if s.Env != nil {
		env := make(map[string]string, len(s.Env))
		for k, v := range s.Env {
			env[k] = v
		}
		s.Env = env
	}
	return s
}
