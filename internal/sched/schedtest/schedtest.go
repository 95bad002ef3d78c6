// Package schedtest builds the scheduler's jobs for tests, in the style of
// internal/job/jobtest, so a test case reads as one line:
//
//	j := schedtest.Make("train").Queue("research").Chips(8).Ranks(4).
//		Priority(5).Duration(time.Hour).Obj()
//
// Make starts from one rank of one whole chip of any kind in queue
// "default", submitted at the zero time, with no parallelism plan (the
// placer then models no communication, as for a job built by hand); each
// method changes one thing and returns the wrapper. From starts from a job
// spec built with jobtest instead, converted as the server converts it
// (sched.FromSpec), plan included.
//
// A Wrapper is not safe for concurrent use. Obj returns a new job each
// time, sharing nothing with the wrapper.
package schedtest

import (
	"slices"
	"time"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/job/jobtest"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// Wrapper holds a job under construction.
type Wrapper struct{ j sched.Job }

// Make returns a wrapper around a job of one rank of one chip named id.
func Make(id string) *Wrapper {
	return &Wrapper{j: sched.Job{ID: id, Queue: job.DefaultQueue, Ranks: 1, RankMilli: pool.Full}}
}

// From returns a wrapper around the job the spec of w becomes when
// submitted as id at time at.
func From(id string, w *jobtest.Wrapper, at time.Time) *Wrapper {
	return &Wrapper{j: *sched.FromSpec(id, w.Obj(), at)}
}

// Queue sets the leaf queue path.
func (w *Wrapper) Queue(q string) *Wrapper { w.j.Queue = q; return w }

// Priority sets the priority.
func (w *Wrapper) Priority(p int) *Wrapper { w.j.Priority = p; return w }

// Submitted sets the submission time.
func (w *Wrapper) Submitted(t time.Time) *Wrapper { w.j.Submitted = t; return w }

// Ranks sets the number of ranks.
func (w *Wrapper) Ranks(n int) *Wrapper { w.j.Ranks = n; return w }

// Chips sets the whole chips per rank (0: CPU only).
func (w *Wrapper) Chips(n int) *Wrapper { w.j.RankMilli = n * pool.Full; return w }

// Milli sets the chip thousandths per rank (250 is a quarter chip).
func (w *Wrapper) Milli(m int) *Wrapper { w.j.RankMilli = m; return w }

// Kinds sets the accepted chip kinds; none means any kind.
func (w *Wrapper) Kinds(kinds ...string) *Wrapper { w.j.Kinds = slices.Clone(kinds); return w }

// MinHBM accepts only kinds with at least gib GiB of HBM.
func (w *Wrapper) MinHBM(gib float64) *Wrapper { w.j.MinHBMGiB = gib; return w }

// Resources sets the CPU (thousandths of a core) and memory (MiB) per rank.
func (w *Wrapper) Resources(cpuMilli, memMiB int64) *Wrapper {
	w.j.CPUMilli, w.j.MemoryMiB = cpuMilli, memMiB
	return w
}

// Plan sets the tensor, pipeline, data and expert sizes.
func (w *Wrapper) Plan(tensor, pipeline, data, expert int) *Wrapper {
	w.j.Plan = job.Parallelism{Tensor: tensor, Pipeline: pipeline, Data: data, Expert: expert}
	return w
}

// Duration sets the expected run time.
func (w *Wrapper) Duration(d time.Duration) *Wrapper { w.j.Duration = d; return w }

// Checkpoint sets the checkpoint interval.
func (w *Wrapper) Checkpoint(every time.Duration) *Wrapper { w.j.CheckpointInterval = every; return w }

// Running makes the job a running one, on p since started.
func (w *Wrapper) Running(p *pool.Placement, started time.Time) *Wrapper {
	w.j.Placement, w.j.Started = p, started
	return w
}

// Obj returns a copy of the job.
func (w *Wrapper) Obj() *sched.Job {
	j := w.j
	j.Kinds = slices.Clone(j.Kinds)
	if j.Placement != nil {
		p := *j.Placement
		p.Kinds = slices.Clone(p.Kinds)
		p.Ranks = slices.Clone(p.Ranks)
		j.Placement = &p
	}
	return &j
}
