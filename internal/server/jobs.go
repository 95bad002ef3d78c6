package server

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/lifecycle"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/strictyaml"
)

// DecodeJobSpec decodes and validates a job spec sent as JSON against a
// pool: unknown fields, wrong types and every invalid value are reported
// together as a bad_data *api.Error. It returns a normalized spec.
func DecodeJobSpec(data []byte, t *pool.Topology) (*job.Spec, error) {
	return decodeJobSpec(data, t, nil)
}

// specCatalog is the chip catalog specs are validated against; only read.
var specCatalog = pool.DefaultCatalog()

// decodeJobSpec is DecodeJobSpec with the caller's queue scope: when
// mayQueue is set it is asked about the spec's queue once the JSON is
// decoded, before the spec is validated, so a caller learns nothing of a
// queue it may not use.
func decodeJobSpec(data []byte, t *pool.Topology, mayQueue func(string) error) (*job.Spec, error) {
	var spec job.Spec
	if err := decodeStrict(data, &spec); err != nil {
		return nil, err
	}
	if mayQueue != nil {
		q := spec.Queue
		if q == "" {
			q = job.DefaultQueue
		}
		if err := mayQueue(q); err != nil {
			return nil, err
		}
	}
	if probs := spec.Validate(specCatalog, nil); len(probs) > 0 {
		return nil, invalidSpec(probs)
	}
	spec.Normalize()
	if t != nil {
		if err := fitsPool(&spec, t); err != nil {
			return nil, err
		}
	}
	return &spec, nil
}

func invalidSpec(probs strictyaml.Problems) *api.Error {
	e := &api.Error{Code: api.CodeBadData, Message: fmt.Sprintf("invalid job spec: %d problems", len(probs))}
	for _, p := range probs {
		e.Problems = append(e.Problems, api.Problem{Field: p.Field, Message: p.Msg})
	}
	return e
}

// fitsPool rejects a spec no state of the pool could ever hold, for the
// scheduler's reason (sched.NeverFits), naming the spec field at fault.
func fitsPool(spec *job.Spec, t *pool.Topology) error {
	st := sched.NeverFits(t, sched.FromSpec("", spec, time.Time{}))
	if st == nil {
		return nil
	}
	return &api.Error{Code: api.CodeBadData, Message: "the job can never run on pool " + t.Name,
		Problems: []api.Problem{{Field: sched.SpecField(st.Reason), Message: st.Detail}}}
}

// Submit validates a job spec (JSON), stores the job and returns it. The
// job is on disk when Submit returns without error.
func (s *Server) Submit(data []byte) (api.Job, error) {
	out, want, err := s.submit(data, nil)
	if err != nil {
		return api.Job{}, err
	}
	if err := s.await(want); err != nil {
		return api.Job{}, err
	}
	return out, nil
}

// submit is Submit without the wait: it returns the job and the generation
// to await before answering.
func (s *Server) submit(data []byte, mayQueue func(string) error) (api.Job, uint64, error) {
	spec, err := decodeJobSpec(data, s.cfg.Pool, mayQueue)
	if err != nil {
		return api.Job{}, 0, err
	}
	if len(s.cfg.Queues) > 0 && !s.queueDeclared(spec.Queue) {
		return api.Job{}, 0, &api.Error{Code: api.CodeBadData, Message: "invalid job spec: 1 problems",
			Problems: []api.Problem{{Field: "queue", Message: fmt.Sprintf("%q is not a queue of this server (queues: %s)", spec.Queue, strings.Join(s.queueNames(), ", "))}}}
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return api.Job{}, 0, err
	}
	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return api.Job{}, 0, err
	}
	// The job is numbered and added to memory at once and written by the
	// next batch with every other change queued by then (group commit);
	// the answer waits for that batch.
	now := s.clock.Now()
	s.lastSeen++
	rec := &jobRec{Seq: s.lastSeen, spec: spec, LC: lifecycle.New(spec.RestartPolicy)}
	rec.Job = api.Job{ID: jobID(rec.Seq), Name: spec.Name, Queue: spec.Queue, Priority: spec.Priority,
		State: api.JobPending, Spec: raw, SubmittedAt: now}
	rec.sj = schedJob(rec)
	s.jobs[rec.ID] = rec
	s.active[rec.ID] = rec
	s.bySeq = append(s.bySeq, rec)
	s.touch(rec)
	out := publicJob(rec)
	want := s.queue()
	s.mu.Unlock()
	s.trigger() // a placement is written after the job, never before
	return out, want, nil
}

// Jobs lists jobs in ID order, filtered by state and queue when given.
func (s *Server) Jobs(state api.JobState, queue string) (api.JobList, error) {
	switch state {
	case "", api.JobPending, api.JobStarting, api.JobRunning, api.JobStopping, api.JobRecovering, api.JobSucceeded, api.JobFailed, api.JobCancelled:
	default:
		return api.JobList{}, &api.Error{Code: api.CodeBadData, Message: "invalid filter", Problems: []api.Problem{{Field: "state",
			Message: fmt.Sprintf("%q is not a job state (allowed: pending, starting, running, stopping, recovering, succeeded, failed, cancelled)", state)}}}
	}
	s.mu.Lock()
	var recs []*jobRec
	for _, j := range s.jobs {
		if (state == "" || j.State == state) && (queue == "" || j.Queue == queue) {
			recs = append(recs, j)
		}
	}
	slices.SortFunc(recs, func(a, b *jobRec) int { return cmp.Compare(a.Seq, b.Seq) })
	out := api.JobList{Jobs: make([]api.Job, len(recs))}
	for i, j := range recs {
		out.Jobs[i] = publicJob(j)
	}
	want := s.observed()
	s.mu.Unlock()
	if err := s.await(want); err != nil {
		return api.JobList{}, err
	}
	return out, nil
}

// Job returns one job.
func (s *Server) Job(id string) (api.Job, error) {
	s.mu.Lock()
	if err := s.readable(); err != nil {
		s.mu.Unlock()
		return api.Job{}, err
	}
	var out api.Job
	j, ok := s.jobs[id]
	want := s.observed()
	if ok {
		out = publicJob(j)
		want = s.observedMark(j.want) // only this job's batches
	}
	s.mu.Unlock()
	if err := s.await(want); err != nil {
		return api.Job{}, err
	}
	if !ok {
		return api.Job{}, errorf(api.CodeNotFound, "no job %q", id)
	}
	return out, nil
}

// Cancel cancels a job: a pending one at once, a placed one once its ranks
// have stopped (it is stopping until then).
func (s *Server) Cancel(id string) (api.Job, error) {
	s.mu.Lock()
	out, err := s.cancel(id)
	want := s.queue()
	s.mu.Unlock()
	if err == nil {
		s.trigger()
	}
	if err := s.answer(want, err); err != nil {
		return api.Job{}, err
	}
	return out, nil
}

// cancel is Cancel under mu.
func (s *Server) cancel(id string) (api.Job, error) {
	if err := s.usable(); err != nil {
		return api.Job{}, err
	}
	j, ok := s.jobs[id]
	if !ok {
		return api.Job{}, errorf(api.CodeNotFound, "no job %q", id)
	}
	if j.State.Terminal() {
		return api.Job{}, errorf(api.CodeConflict, "job %s has already %s", id, j.State)
	}
	s.step(j, lifecycle.Event{Kind: lifecycle.EvCancelled, At: s.clock.Now()})
	return publicJob(j), nil
}

// Explain returns why a job is placed or pending.
func (s *Server) Explain(id string) (api.Explanation, error) {
	s.mu.Lock()
	ex, err := s.explain(id)
	want := s.observed()
	s.mu.Unlock()
	if err := s.answer(want, err); err != nil {
		return api.Explanation{}, err
	}
	return ex, nil
}

// explain is Explain under mu.
func (s *Server) explain(id string) (api.Explanation, error) {
	j, ok := s.jobs[id]
	if !ok {
		return api.Explanation{}, errorf(api.CodeNotFound, "no job %q", id)
	}
	ex := api.Explanation{JobID: id, Records: []api.Record{}}
	for _, r := range j.expl {
		ex.Records = append(ex.Records, api.Record{Plugin: r.Plugin, Reason: r.Reason, Detail: r.Detail, Score: r.Score, Count: r.Count})
	}
	if len(ex.Records) == 0 && j.State == api.JobPending {
		ex.Records = append(ex.Records, api.Record{Plugin: sched.PluginCycle, Reason: sched.ReasonNotConsidered,
			Detail: "no scheduling cycle has considered the job yet"})
	}
	for _, h := range j.History {
		d := fmt.Sprintf("attempt %d ended by %s (%s): %s", h.Attempt, h.Cause, h.Detail, h.Why)
		for _, m := range h.Replaced {
			d += fmt.Sprintf("; rank %d moved from %s to %s", m.Rank, m.From, m.To)
		}
		ex.Records = append(ex.Records, api.Record{Plugin: "recovery", Reason: h.Path, Detail: d})
	}
	if j.Reason != "" && j.State != api.JobPending {
		ex.Records = append(ex.Records, api.Record{Plugin: "server", Reason: string(j.State), Detail: j.Reason})
	}
	return ex, nil
}

// place gives a schedulable job its allocation (already taken from s.st).
// Callers hold mu.
func (s *Server) place(j *jobRec, claims []pool.Claim, now time.Time) {
	j.claims = claims
	nodes := make([]string, len(claims))
	for r, c := range claims {
		nodes[r] = s.cfg.Pool.Path(c.Host)
	}
	s.addPlaced(j)
	s.step(j, lifecycle.Event{Kind: lifecycle.EvPlaced, At: now, Nodes: nodes})
	s.openUsage(j, now)
}

// release returns a job's allocation. Callers hold mu.
func (s *Server) release(j *jobRec) {
	if j.claims == nil {
		return
	}
	s.closeUsage(j, s.clock.Now())
	if err := s.st.Release(heldClaims(j)...); err != nil {
		s.log.Error("releasing an allocation failed", "job", j.ID, "err", err)
	}
	j.claims, j.assign = nil, nil
	s.dropPlaced(j)
	s.trigger()
}
