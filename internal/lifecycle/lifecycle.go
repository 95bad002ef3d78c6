package lifecycle

import (
	"fmt"
	"slices"
	"time"

	"github.com/qunhq/qun/internal/job"
)

// State is where a job is in its life. The values are the API's.
type State string

// Job states.
const (
	Pending    State = "pending"
	Starting   State = "starting"
	Running    State = "running"
	Stopping   State = "stopping"
	Recovering State = "recovering"
	Succeeded  State = "succeeded"
	Failed     State = "failed"
	Cancelled  State = "cancelled"
)

// Terminal reports whether no further change will happen.
func (s State) Terminal() bool { return s == Succeeded || s == Failed || s == Cancelled }

// Path is how a recovery brings a job back.
type Path string

// Recovery paths.
const (
	// InPlace restarts every rank on the chips the job holds: a rank's own
	// crash on a healthy node.
	InPlace Path = "restart-in-place"
	// Replace releases the allocation and has the scheduler place the
	// whole gang again: a node lost or a chip unhealthy.
	Replace Path = "re-place"
	// GiveUp fails the job: the policy is exhausted or does not restart on
	// the cause.
	GiveUp Path = "give-up"
	// Requeue returns a preempted job to the queue.
	Requeue Path = "requeue"
)

// Rank is one rank of the current attempt as the lifecycle sees it.
type Rank struct {
	Node     string `json:"node"`
	Up       bool   `json:"up,omitempty"`     // reported started (or exited) in this attempt
	Live     bool   `json:"live,omitempty"`   // its process runs, as far as the driver knows
	Exited   bool   `json:"exited,omitempty"` // its process ended
	ExitCode *int   `json:"exit_code,omitempty"`
	Signal   string `json:"signal,omitempty"`
}

// Move says where a rank replaced after a fault went.
type Move struct {
	Rank int    `json:"rank"`
	From string `json:"from"`
	To   string `json:"to"`
}

// Attempt is one ended (or ending) attempt of a job.
type Attempt struct {
	Attempt     int        `json:"attempt"`
	Nodes       []string   `json:"nodes,omitempty"` // per rank
	StartedAt   time.Time  `json:"started_at"`      // placed
	EndedAt     *time.Time `json:"ended_at,omitempty"`
	Cause       job.Cause  `json:"cause"`
	Detail      string     `json:"detail,omitempty"`
	DetectedAt  time.Time  `json:"detected_at"`
	RecoveredAt *time.Time `json:"recovered_at,omitempty"` // every rank of the next attempt running
	Path        Path       `json:"path"`
	Why         string     `json:"why,omitempty"`      // why the recovery took Path
	Lost        []int      `json:"lost,omitempty"`     // ranks whose node or chip broke, or that crashed
	Replaced    []Move     `json:"replaced,omitempty"` // ranks of the next attempt on other nodes
}

// Job is the lifecycle state of one job. Policy is not stored: the driver
// sets it from the spec.
type Job struct {
	State   State  `json:"state"`
	Target  State  `json:"target,omitempty"` // while Stopping: the state taken once every rank stopped
	Reason  string `json:"reason,omitempty"`
	Attempt int    `json:"attempt"`
	// Restarts counts the recoveries so far (preemptions do not count).
	Restarts int `json:"restarts,omitempty"`
	// Backoffs counts the recent restarts that set the backoff: it starts
	// over when an attempt ran StableRun before its fault, so a long job's
	// rare faults each wait the policy's first backoff, not its cap.
	Backoffs int `json:"backoffs,omitempty"`
	// Placed reports whether the job holds an allocation.
	Placed     bool       `json:"placed,omitempty"`
	Ranks      []Rank     `json:"ranks,omitempty"`
	PlacedAt   time.Time  `json:"placed_at,omitzero"`   // the current attempt was placed
	RunningAt  *time.Time `json:"running_at,omitempty"` // every rank of the current attempt was up
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Reserved   time.Time  `json:"reserved,omitzero"` // the job goes first in its priority class from then
	EvictAt    time.Time  `json:"evict_at,omitzero"` // while preempted: the end of the grace period
	// RestartAt is, while Recovering, the earliest time the next attempt
	// may launch or be placed (the backoff).
	RestartAt time.Time `json:"restart_at,omitzero"`
	// Path is, while Recovering, how the job comes back.
	Path Path `json:"path,omitempty"`
	// Kept lists, while Recovering and waiting for a subset re-placement,
	// the surviving ranks whose claims the job still holds (Placed is
	// false: the job is schedulable, and Ranks keeps every rank's node).
	Kept    []int     `json:"kept,omitempty"`
	History []Attempt `json:"history,omitempty"`

	Policy job.RestartPolicy `json:"-"`
}

// StableRun is how long an attempt must have run before its fault for the
// restart backoff to start over (Kubernetes' crash-loop backoff resets after
// the same 10 minutes).
const StableRun = 10 * time.Minute

// Kind names an Event.
type Kind string

// Event kinds.
const (
	EvPlaced          Kind = "placed"           // Nodes: the node of every rank; the allocation is taken
	EvRankAssigned    Kind = "rank-assigned"    // Rank: handed to its node's agent
	EvRankStarted     Kind = "rank-started"     // Rank (or every rank of Ranks): its process runs
	EvRankExited      Kind = "rank-exited"      // Rank, ExitCode or Signal
	EvRankGone        Kind = "rank-gone"        // Rank (or every rank of Ranks): the agent no longer runs it (it stopped)
	EvNodeLost        Kind = "node-lost"        // Node; Detail says lost or removed
	EvDeviceUnhealthy Kind = "device-unhealthy" // Ranks on the unhealthy chips of Node
	EvPreempted       Kind = "preempted"        // EvictAt, Detail (by whom, why)
	EvCancelled       Kind = "cancelled"
	EvTick            Kind = "tick" // time passed (backoff, grace periods)
)

// GroupGone is the Detail of an EvRankExited whose agent saw the rank's
// process group vanish without an exit status (api.RankEndGroupGone); the
// lifecycle counts it as job.CauseRankFailed.
const GroupGone = "process-group-gone"

// Event is one thing that happened to a job, at At.
type Event struct {
	Kind     Kind
	At       time.Time
	Rank     int
	Ranks    []int
	Node     string
	Nodes    []string
	ExitCode *int
	Signal   string
	Detail   string
	EvictAt  time.Time
}

// Request asks the scheduler for a placement.
type Request struct {
	// Whole: place every rank again. Otherwise only Lost are placed, next
	// to Pinned, which keep their chips (the driver released only the
	// claims of Actions.ReleaseRanks); the scheduler may still place the
	// whole gang again when no room is left near the survivors.
	Whole  bool
	Lost   []int    // ranks whose node or chip broke
	Pinned []int    // surviving ranks that could keep their chips
	Nodes  []string // the broken nodes
}

// Actions is what the driver must do after an event.
type Actions struct {
	// Stop lists the ranks to stop now (SIGTERM with the checkpoint grace).
	Stop []int
	// Release gives back the whole allocation (every claim still held).
	Release bool
	// ReleaseRanks gives back the claims of these ranks only; the others
	// stay held (a subset re-placement).
	ReleaseRanks []int
	// Place offers the job to the scheduler again.
	Place *Request
	// Launch starts attempt Job.Attempt on the allocation held.
	Launch bool
	// Done: the job reached a terminal state.
	Done bool
	// Changed: the job's state changed and must be persisted.
	Changed bool
}

// Schedulable reports whether the scheduler may place the job.
func (j *Job) Schedulable() bool {
	return !j.Placed && (j.State == Pending || j.State == Recovering)
}

// Holding reports whether the job holds chips the scheduler should see as
// busy; Evicting whether they are on their way out (a preemption or a
// recovery), so no new preemption picks the job.
func (j *Job) Evicting() bool {
	return j.Placed && (j.State == Stopping || j.State == Recovering)
}

// Nodes returns the node of every rank of the current attempt.
func (j *Job) Nodes() []string {
	out := make([]string, len(j.Ranks))
	for i, r := range j.Ranks {
		out[i] = r.Node
	}
	return out
}

// New returns a pending job with the given restart policy.
func New(p job.RestartPolicy) Job { return Job{State: Pending, Policy: p} }

// Apply applies one event to j and returns what the driver must do. An
// event that makes no sense in the job's state (placing a running job,
// cancelling a finished one) returns an error and changes nothing.
func (j *Job) Apply(ev Event) (Actions, error) {
	var a Actions
	before := j.copy()
	err := j.apply(ev, &a)
	if err == nil {
		a.Changed = !before.equal(j)
	}
	return a, err
}

// copy returns a copy of j that later changes to j leave alone: the
// lifecycle replaces or appends to its slices and mutates the elements of
// Ranks and History only, so those two are copied.
func (j *Job) copy() Job {
	c := *j
	c.Ranks = slices.Clone(j.Ranks)
	c.History = slices.Clone(j.History)
	c.Kept = slices.Clone(j.Kept)
	return c
}

// equal reports whether j and k hold the same state.
func (j *Job) equal(k *Job) bool {
	if j.State != k.State || j.Target != k.Target || j.Reason != k.Reason || j.Attempt != k.Attempt ||
		j.Restarts != k.Restarts || j.Backoffs != k.Backoffs || j.Placed != k.Placed || j.Path != k.Path ||
		!j.PlacedAt.Equal(k.PlacedAt) || !j.Reserved.Equal(k.Reserved) || !j.EvictAt.Equal(k.EvictAt) ||
		!j.RestartAt.Equal(k.RestartAt) || !eqTime(j.RunningAt, k.RunningAt) || !eqTime(j.FinishedAt, k.FinishedAt) ||
		len(j.Ranks) != len(k.Ranks) || len(j.History) != len(k.History) || !slices.Equal(j.Kept, k.Kept) {
		return false
	}
	for i := range j.Ranks {
		a, b := j.Ranks[i], k.Ranks[i]
		if a.Node != b.Node || a.Up != b.Up || a.Live != b.Live || a.Exited != b.Exited || a.Signal != b.Signal ||
			(a.ExitCode == nil) != (b.ExitCode == nil) || a.ExitCode != nil && *a.ExitCode != *b.ExitCode {
			return false
		}
	}
	for i := range j.History {
		a, b := &j.History[i], &k.History[i]
		if a.Detail != b.Detail || a.Path != b.Path || a.Why != b.Why || !eqTime(a.EndedAt, b.EndedAt) ||
			!eqTime(a.RecoveredAt, b.RecoveredAt) || !slices.Equal(a.Lost, b.Lost) || !slices.Equal(a.Replaced, b.Replaced) ||
			a.Attempt != b.Attempt || a.Cause != b.Cause || !a.DetectedAt.Equal(b.DetectedAt) {
			return false
		}
	}
	return true
}

func eqTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func (j *Job) apply(ev Event, a *Actions) error {
	switch ev.Kind {
	case EvPlaced:
		return j.placed(ev, a)
	case EvRankAssigned:
		if j.active() && j.rank(ev.Rank) != nil && !j.Ranks[ev.Rank].Exited {
			j.Ranks[ev.Rank].Live = true
		}
	case EvRankStarted:
		changed := false
		for _, i := range ev.ranks() {
			if r := j.rank(i); r != nil && j.active() && !r.Exited {
				r.Up, r.Live, changed = true, true, true
			}
		}
		if changed {
			j.progress(ev.At, a)
		}
	case EvRankExited:
		r := j.rank(ev.Rank)
		if r == nil || r.Exited {
			return nil
		}
		r.Up, r.Live, r.Exited, r.ExitCode, r.Signal = true, false, true, ev.ExitCode, ev.Signal
		if r.ExitCode == nil && r.Signal == "" {
			unknown := -1
			r.ExitCode = &unknown
		}
		if j.active() && (r.Signal != "" || *r.ExitCode != 0) {
			cause, what := job.CauseRankSignaled, "was killed by "+r.Signal
			switch {
			case r.Signal == "" && ev.Detail == GroupGone:
				// No status to go by: the rank's processes vanished (an
				// OOM kill of the whole group, a kill of the agent's
				// shim). It counts as the rank's own failure.
				cause, what = job.CauseRankFailed, "vanished: its process group is gone without an exit status"
			case r.Signal == "":
				cause, what = job.CauseRankFailed, fmt.Sprintf("exited with code %d", *r.ExitCode)
			}
			j.fault(ev.At, cause, fmt.Sprintf("rank %d on %s %s", ev.Rank, r.Node, what), []int{ev.Rank}, nil, a)
			return nil
		}
		j.progress(ev.At, a)
	case EvRankGone:
		changed := false
		for _, i := range ev.ranks() {
			if r := j.rank(i); r != nil {
				r.Live, changed = false, true
			}
		}
		if changed {
			j.progress(ev.At, a)
		}
	case EvNodeLost:
		var lost []int
		for i := range j.Ranks {
			if j.Ranks[i].Node == ev.Node {
				j.Ranks[i].Live = false
				lost = append(lost, i)
			}
		}
		if len(lost) == 0 {
			return nil
		}
		what := ev.Detail
		if what == "" {
			what = "lost"
		}
		j.fault(ev.At, job.CauseNodeLost, fmt.Sprintf("node %s %s", ev.Node, what), lost, []string{ev.Node}, a)
	case EvDeviceUnhealthy:
		var bad []int
		for _, r := range ev.Ranks {
			if j.rank(r) != nil {
				bad = append(bad, r)
			}
		}
		if len(bad) == 0 {
			return nil
		}
		detail := fmt.Sprintf("a chip of rank %d on %s is unhealthy", bad[0], ev.Node)
		if ev.Detail != "" {
			detail += " (" + ev.Detail + ")"
		}
		j.fault(ev.At, job.CauseDeviceUnhealthy, detail, bad, []string{ev.Node}, a)
	case EvPreempted:
		return j.preempted(ev, a)
	case EvCancelled:
		return j.cancelled(ev, a)
	case EvTick:
		j.progress(ev.At, a)
	default:
		return fmt.Errorf("lifecycle: unknown event %q", ev.Kind)
	}
	return nil
}

// ranks returns the ranks a rank event is about: Ranks when given (a
// driver reporting a whole gang at once, as the simulator does), else Rank.
func (ev *Event) ranks() []int {
	if len(ev.Ranks) > 0 {
		return ev.Ranks
	}
	return []int{ev.Rank}
}

// active reports whether the job's current attempt is meant to run.
func (j *Job) active() bool { return j.State == Starting || j.State == Running }

func (j *Job) rank(r int) *Rank {
	if r < 0 || r >= len(j.Ranks) {
		return nil
	}
	return &j.Ranks[r]
}

func (j *Job) placed(ev Event, a *Actions) error {
	if !j.Schedulable() {
		return fmt.Errorf("lifecycle: cannot place a job that is %s (placed: %v)", j.State, j.Placed)
	}
	if len(ev.Nodes) == 0 {
		return fmt.Errorf("lifecycle: a placement needs the node of every rank")
	}
	if n := len(j.History); j.State == Recovering && n > 0 {
		h := &j.History[n-1]
		h.Replaced = nil
		moved := false
		for r, node := range ev.Nodes {
			if r < len(h.Nodes) && h.Nodes[r] != node {
				h.Replaced = append(h.Replaced, Move{Rank: r, From: h.Nodes[r], To: node})
				moved = moved || !slices.Contains(h.Lost, r)
			}
		}
		if len(j.Kept) > 0 && moved {
			h.Why += "; no room near the survivors: the whole gang was placed again"
		}
	}
	j.Kept = nil
	j.Ranks = make([]Rank, len(ev.Nodes))
	for r, n := range ev.Nodes {
		j.Ranks[r].Node = n
	}
	j.Placed, j.PlacedAt, j.RunningAt = true, ev.At, nil
	j.State, j.Target, j.Reason, j.Path = Starting, "", "", ""
	j.Reserved, j.EvictAt, j.RestartAt = time.Time{}, time.Time{}, time.Time{}
	a.Launch = true
	return nil
}

func (j *Job) preempted(ev Event, a *Actions) error {
	if !j.active() {
		return fmt.Errorf("lifecycle: cannot preempt a job that is %s", j.State)
	}
	j.History = append(j.History, Attempt{Attempt: j.Attempt, Nodes: j.Nodes(), StartedAt: j.PlacedAt,
		Cause: job.CausePreempted, Detail: ev.Detail, DetectedAt: ev.At, Path: Requeue,
		Why: "the scheduler preempted the job; it returns to the queue and keeps its submission time"})
	j.State, j.Target, j.Reason, j.EvictAt = Stopping, Pending, ev.Detail, ev.EvictAt
	if !j.Policy.Restarts(job.CausePreempted) {
		h := &j.History[len(j.History)-1]
		h.Path, h.Why = GiveUp, "the restart policy does not restart on preempted"
		j.Target, j.Reason = Failed, ev.Detail+"; the restart policy does not restart on preempted"
	}
	a.Stop = j.liveRanks()
	j.progress(ev.At, a)
	return nil
}

func (j *Job) cancelled(ev Event, a *Actions) error {
	const why = "cancelled by request"
	switch {
	case j.State.Terminal():
		return fmt.Errorf("lifecycle: job has already %s", j.State)
	case !j.Placed:
		j.finish(Cancelled, why, ev.At, a)
	case j.State == Stopping && j.Target == Pending:
		j.Target, j.Reason = Cancelled, why+" while being preempted"
	case j.State == Stopping:
		// already on its way to a terminal state; the first reason stands
	default:
		j.State, j.Target, j.Reason = Stopping, Cancelled, why
		a.Stop = j.liveRanks()
		j.progress(ev.At, a)
	}
	return nil
}

func (j *Job) liveRanks() []int {
	var out []int
	for i, r := range j.Ranks {
		if r.Live {
			out = append(out, i)
		}
	}
	return out
}

// fault handles the first fault of an attempt: a recovery, or giving up.
// Faults of a job that is already stopping or recovering end nothing more;
// during a preemption's grace period they are noted in its history entry.
func (j *Job) fault(at time.Time, cause job.Cause, detail string, lost []int, nodes []string, a *Actions) {
	if j.State == Recovering && len(j.Kept) > 0 && slices.ContainsFunc(lost, func(r int) bool { return slices.Contains(j.Kept, r) }) {
		// A survivor waiting for its lost peers broke too: give back what
		// is held and place the whole gang again.
		if n := len(j.History); n > 0 {
			h := &j.History[n-1]
			h.Detail += "; " + detail + " while waiting for the re-placement"
			h.Lost = append(h.Lost, lost...)
			h.Why = "a surviving rank broke while the lost ones waited: the whole gang is placed again"
		}
		j.release(a)
		a.Place = &Request{Whole: true}
		return
	}
	if j.State == Recovering && j.Placed && nodes != nil && len(j.History) > 0 {
		// A node or chip broke while the job recovers: those ranks are
		// placed again too, and a restart in place becomes a re-placement
		// (the chips it would restart on are not all usable any more).
		h := &j.History[len(j.History)-1]
		if j.Path == InPlace {
			h.Lost = nil // the crashed ranks' chips are fine: they stay
		}
		for _, r := range lost {
			if !slices.Contains(h.Lost, r) {
				h.Lost = append(h.Lost, r)
			}
		}
		slices.Sort(h.Lost)
		if h.Cause == job.CauseRankFailed || h.Cause == job.CauseRankSignaled {
			// The rank failures were most likely the symptom: peers of a
			// crashed node see their collectives break before the node
			// timeout says why. The broken node or chip is the cause.
			h.Cause, h.Detail = cause, detail+" (first seen as: "+h.Detail+")"
		} else {
			h.Detail += "; " + detail + " while recovering"
		}
		if j.Path == InPlace {
			j.Path, j.Reserved = Replace, at
			h.Path, h.Why = Replace, "the restart in place was due when "+detail+": the broken ranks are placed again, next to the others"
		}
		j.progress(at, a)
		return
	}
	if !j.active() {
		if j.State == Stopping && j.Target == Pending && len(j.History) > 0 {
			h := &j.History[len(j.History)-1]
			h.Detail += "; " + detail + " during the grace period"
			h.Lost = append(h.Lost, lost...)
		}
		j.progress(at, a)
		return
	}
	path, why := Replace, "a node or chip of the gang broke: the survivors keep their chips and only the broken ranks are placed again, next to them (spares first); the whole gang when no room is left there"
	if len(lost) == len(j.Ranks) {
		why = "every rank of the gang broke: the allocation is released and the whole gang placed again through the scheduler"
	}
	if cause == job.CauseRankFailed || cause == job.CauseRankSignaled {
		path, why = InPlace, "the rank's own process failed on a healthy node: every rank restarts on the chips it holds"
	}
	most := j.Policy.Max()
	switch {
	case !j.Policy.Restarts(cause):
		path, why = GiveUp, fmt.Sprintf("the restart policy does not restart on %s", cause)
	case j.Restarts >= most:
		path, why = GiveUp, fmt.Sprintf("the restart policy allows %d restarts and %d were used", most, j.Restarts)
	}
	j.History = append(j.History, Attempt{Attempt: j.Attempt, Nodes: j.Nodes(), StartedAt: j.PlacedAt,
		Cause: cause, Detail: detail, DetectedAt: at, Path: path, Why: why, Lost: lost})
	a.Stop = j.liveRanks()
	if path == GiveUp {
		j.State, j.Target, j.Reason = Stopping, Failed, detail+"; "+why
		j.progress(at, a)
		return
	}
	if j.RunningAt != nil && !at.Before(j.RunningAt.Add(StableRun)) {
		j.Backoffs = 0
	}
	j.Restarts++
	j.Backoffs++
	j.State, j.Path, j.RestartAt = Recovering, path, at.Add(j.Policy.Delay(j.Backoffs))
	j.Reason = fmt.Sprintf("recovering from %s (%s): %s, restart %d of %d", cause, detail, path, j.Restarts, most)
	if path == Replace {
		j.Reserved = at
	}
	j.progress(at, a)
}

// progress advances the job after its ranks changed or time passed.
func (j *Job) progress(at time.Time, a *Actions) {
	switch j.State {
	case Starting, Running:
		allUp, allOK := true, true
		for _, r := range j.Ranks {
			switch {
			case r.Exited:
			case r.Up:
				allOK = false
			default:
				allUp, allOK = false, false
			}
		}
		if allOK {
			j.finish(Succeeded, "", at, a)
			return
		}
		if allUp && j.State == Starting {
			j.State = Running
			t := at
			j.RunningAt = &t
			if n := len(j.History); n > 0 && j.History[n-1].RecoveredAt == nil && j.History[n-1].Attempt == j.Attempt-1 &&
				j.History[n-1].Path != Requeue {
				j.History[n-1].RecoveredAt = &t
			}
		}
	case Stopping:
		if len(j.liveRanks()) > 0 {
			return
		}
		j.ended(at)
		if j.Target == Pending {
			j.release(a)
			j.State, j.Target, j.EvictAt = Pending, "", time.Time{}
			j.Reason = "preempted; waiting to run again"
			j.Attempt++
			a.Place = &Request{Whole: true}
			return
		}
		j.finish(j.Target, j.Reason, at, a)
	case Recovering:
		if !j.Placed || len(j.liveRanks()) > 0 {
			return
		}
		j.ended(at)
		if at.Before(j.RestartAt) {
			return
		}
		j.Attempt++
		if j.Path == InPlace {
			nodes := j.Nodes()
			j.Ranks = make([]Rank, len(nodes))
			for r, n := range nodes {
				j.Ranks[r].Node = n
			}
			j.State, j.Path, j.RestartAt, j.PlacedAt, j.RunningAt = Starting, "", time.Time{}, at, nil
			j.Reason = ""
			a.Launch = true
			return
		}
		h := j.History[len(j.History)-1]
		req := &Request{Whole: true, Lost: slices.Clone(h.Lost), Nodes: nil}
		for r := range j.Ranks {
			if !slices.Contains(h.Lost, r) {
				req.Pinned = append(req.Pinned, r)
			}
		}
		for _, r := range h.Lost {
			if n := j.Ranks[r].Node; !slices.Contains(req.Nodes, n) {
				req.Nodes = append(req.Nodes, n)
			}
		}
		if len(req.Pinned) > 0 && len(req.Lost) > 0 {
			// Graded: give back only the lost ranks' claims.
			req.Whole = false
			a.ReleaseRanks = slices.Clone(req.Lost)
			j.Placed, j.RunningAt, j.Kept = false, nil, slices.Clone(req.Pinned)
			j.Reason = fmt.Sprintf("re-placing ranks %v next to the survivors after %s (restart %d of %d)", req.Lost, h.Cause, j.Restarts, j.Policy.Max())
			a.Place = req
			return
		}
		j.release(a)
		j.Reason = fmt.Sprintf("re-placing the gang after %s (restart %d of %d)", h.Cause, j.Restarts, j.Policy.Max())
		a.Place = req
	}
}

// ended stamps the end of the current attempt's history entry.
func (j *Job) ended(at time.Time) {
	if n := len(j.History); n > 0 && j.History[n-1].Attempt == j.Attempt && j.History[n-1].EndedAt == nil {
		t := at
		j.History[n-1].EndedAt = &t
	}
}

func (j *Job) release(a *Actions) {
	if j.Placed || len(j.Kept) > 0 {
		a.Release = true
	}
	j.Placed, j.Ranks, j.RunningAt, j.Kept = false, nil, nil, nil
}

func (j *Job) finish(st State, reason string, at time.Time, a *Actions) {
	j.release(a)
	j.State, j.Reason, j.Target, j.Path = st, reason, "", ""
	j.EvictAt, j.RestartAt = time.Time{}, time.Time{}
	t := at
	j.FinishedAt = &t
	a.Done = true
}
