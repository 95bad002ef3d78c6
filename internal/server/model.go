package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/lifecycle"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// jobRec is a job as the server keeps it in memory and stores it (as JSON)
// in the jobs bucket. The api.Job fields are what clients see.
type jobRec struct {
	api.Job
	Seq uint64 `json:"seq"` // the job's sequence number; the ID is derived from it
	// LC is the job's lifecycle state (internal/lifecycle), the one
	// authority on its state, attempts and history; the api.Job fields
	// mirror it (see sync).
	LC lifecycle.Job `json:"lc"`
	// Target is read from state files written before LC existed.
	Target api.JobState `json:"target,omitempty"`
	// Usage lists the job's allocations over time, for `qun usage`.
	Usage []usageSpan `json:"usage,omitempty"`

	spec   *job.Spec        // decoded Spec
	claims []pool.Claim     // the allocation held, one claim per rank; nil when none
	assign []api.Assignment // per rank, built when placed
	sj     *sched.Job       // the scheduler's view, without placement
	expl   []sched.Record   // the last cycle's explanation; shared, read-only
	// estStart is when the last cycle's reservation expects the job to
	// start; zero without one.
	estStart time.Time

	saved       durable  // the durable facts as last marked for writing
	want        uint64   // the generation that makes the newest mark of the job durable
	rankKeys    []string // rank records on disk (or queued) for attempt rankAttempt
	rankAttempt int
	onNodes     []string // the nodes byNode lists the job under
}

// jobID formats a sequence number as a job ID.
func jobID(seq uint64) string { return fmt.Sprintf("j-%06d", seq) }

// holds reports whether the job holds an allocation.
func (j *jobRec) holds() bool { return j.claims != nil }

// nodeRec is a registered node, stored as JSON in the nodes bucket under
// its canonical name (the host's path in the pool).
type nodeRec struct {
	api.Node
	host pool.DomainID
	// want is the generation that makes durable the newest change to what
	// the node's heartbeat answer shows (its state, its jobs' records).
	want uint64
	// faults are the times its devices turned unhealthy within the node
	// escalation window (health.go); soft state, forgotten on restart.
	faults []time.Time
}

// schedJob returns the scheduler's view of a job, without placement.
func schedJob(j *jobRec) *sched.Job {
	sj := sched.FromSpec(j.ID, j.spec, j.SubmittedAt)
	sj.Reserved = j.LC.Reserved
	return sj
}

// encodeJob returns the stored form of a job. Rank statuses are soft while
// the job runs (agents report them again after a restart) except a rank's
// end, which has its own record (rankKey); a finished job's record keeps
// its final rank statuses.
func encodeJob(j *jobRec) ([]byte, error) {
	if len(j.LC.Ranks) == 0 && (j.Ranks == nil || j.State.Terminal()) {
		return json.Marshal(j) // nothing soft to leave out (a pending job)
	}
	c := *j
	if len(j.LC.Ranks) > 0 {
		// The lifecycle's rank list without what is soft (up, live): its
		// nodes and ends are durable facts (a recovering job's survivors).
		c.LC.Ranks = make([]lifecycle.Rank, len(j.LC.Ranks))
		for i, r := range j.LC.Ranks {
			r.Up, r.Live = r.Exited, false
			c.LC.Ranks[i] = r
		}
	}
	if !j.State.Terminal() {
		c.Ranks = nil
	}
	return json.Marshal(&c)
}

// rankRec is a stored rank end: key job/attempt/rank, value the rank's
// status as it exited.
type rankRec struct {
	job           string
	attempt, rank int
	key           string
	st            api.RankStatus
}

// isRankKey tells a rank record's key from a job record's.
func isRankKey(key string) bool { return strings.IndexByte(key, '/') >= 0 }

func decodeRank(key string, v []byte) (rankRec, error) {
	r := rankRec{key: key}
	parts := strings.Split(key, "/")
	if len(parts) != 3 {
		return r, fmt.Errorf("key %q is not job/attempt/rank", key)
	}
	var err1, err2 error
	r.job = parts[0]
	r.attempt, err1 = strconv.Atoi(parts[1])
	r.rank, err2 = strconv.Atoi(parts[2])
	if err := errors.Join(err1, err2); err != nil {
		return r, fmt.Errorf("key %q: %w", key, err)
	}
	if r.job == "" || r.attempt < 0 || r.rank < 0 || rankKey(r.job, r.attempt, r.rank) != key {
		return r, fmt.Errorf("key %q is not job/attempt/rank with a job ID and numbers from 0 written plainly", key)
	}
	if err := json.Unmarshal(v, &r.st); err != nil {
		return r, err
	}
	return r, nil
}

// softRanks rebuilds what a stored placed job does not keep: the
// lifecycle's rank list from the placement, and rank statuses (starting
// until its agents report them).
func softRanks(j *jobRec) {
	if len(j.LC.Ranks) == 0 {
		j.LC.Ranks = make([]lifecycle.Rank, len(j.Placement))
		for r, rp := range j.Placement {
			j.LC.Ranks[r].Node = rp.Node
		}
	}
	if len(j.Ranks) == 0 {
		j.Ranks = make([]api.RankStatus, len(j.Placement))
		for r, rp := range j.Placement {
			j.Ranks[r] = api.RankStatus{Rank: r, Node: rp.Node, State: api.RankStarting}
		}
	}
}

// decodeJob reads a stored job and its spec.
func decodeJob(data []byte) (*jobRec, error) {
	j := &jobRec{}
	if err := json.Unmarshal(data, j); err != nil {
		return nil, err
	}
	var s job.Spec
	if err := json.Unmarshal(j.Spec, &s); err != nil {
		return nil, fmt.Errorf("job %s: spec: %w", j.ID, err)
	}
	s.Normalize()
	j.spec = &s
	if j.LC.State == "" {
		j.LC = legacyLifecycle(j)
	}
	j.LC.Policy = s.RestartPolicy
	return j, nil
}

// claimsOf rebuilds the claims of a placed job from its placement.
func claimsOf(t *pool.Topology, spec *job.Spec, pl []api.RankPlacement) ([]pool.Claim, error) {
	claims := make([]pool.Claim, len(pl))
	for i, rp := range pl {
		h, ok := t.HostByName(rp.Node)
		if !ok {
			return nil, fmt.Errorf("rank %d: node %q is not a host of pool %s", rp.Rank, rp.Node, t.Name)
		}
		c := pool.Claim{Host: h, CPUMilli: spec.CPUMilliPerRank, MemoryMiB: spec.MemoryMiBPerRank}
		for _, d := range rp.Devices {
			chip, ok := chipAt(t, h, d)
			if !ok {
				return nil, fmt.Errorf("rank %d: node %s has no device %d", rp.Rank, rp.Node, d)
			}
			c.Grants = append(c.Grants, pool.Grant{Chip: chip, Milli: int32(rp.ChipMilli)})
		}
		claims[i] = c
	}
	return claims, nil
}

// chipAt returns the chip with device index d on host h.
func chipAt(t *pool.Topology, h pool.DomainID, d int) (pool.ChipID, bool) {
	lo, hi := t.ChipRange(h)
	for c := lo; c < hi; c++ {
		if t.ChipIndex(c) == d {
			return c, true
		}
	}
	return 0, false
}

// placementOf describes claims as the API's rank placements.
func placementOf(t *pool.Topology, claims []pool.Claim) []api.RankPlacement {
	out := make([]api.RankPlacement, len(claims))
	for i, c := range claims {
		rp := api.RankPlacement{Rank: i, Node: t.Path(c.Host), Devices: []int{}, ChipMilli: pool.Full}
		for _, g := range c.Grants {
			rp.Devices = append(rp.Devices, t.ChipIndex(g.Chip))
			rp.ChipMilli = int(g.Milli)
		}
		sort.Ints(rp.Devices)
		out[i] = rp
	}
	return out
}

// publicJob returns a copy of the client-visible part of j. A pending
// job's reason is the last record of its last explanation.
func publicJob(j *jobRec) api.Job {
	out := j.Job
	if j.State == api.JobPending && len(j.expl) > 0 {
		last := j.expl[len(j.expl)-1]
		out.Reason, out.ReasonCode = last.Reason, last.Reason
		if last.Detail != "" {
			out.Reason += ": " + last.Detail
		}
	}
	if j.State == api.JobPending && !j.estStart.IsZero() {
		at := j.estStart
		out.EstimatedStart = &at
	}
	out.Placement = append([]api.RankPlacement(nil), j.Placement...)
	out.Ranks = append([]api.RankStatus(nil), j.Ranks...)
	out.History = append([]api.Attempt(nil), j.History...)
	return out
}
