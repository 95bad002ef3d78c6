package sched

import (
	"fmt"
	"slices"
	"time"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// Job is the scheduler's view of one job: a gang of identical ranks.
type Job struct {
	ID        string
	Queue     string // leaf queue path, e.g. "org/team"
	Priority  int
	Submitted time.Time

	Ranks     int
	RankMilli int   // chips per rank in thousandths: 250 is a quarter chip, 8000 is 8 chips, 0 is CPU only
	CPUMilli  int64 // per rank
	MemoryMiB int64 // per rank

	Kinds       []string // accepted chip kinds; empty accepts any
	MinHBMGiB   float64  // with Kinds empty: any kind with at least this HBM
	MixFamilies bool     // may one gang mix collective families (HCCL and NCCL)

	Plan     job.Parallelism // tensor, pipeline, data, expert
	Volumes  job.Communication
	Duration time.Duration // expected run time; 0 when unknown

	CheckpointInterval time.Duration

	// Set for running jobs.
	Placement      *pool.Placement
	Started        time.Time
	LastCheckpoint time.Time // zero: never checkpointed
	Evicting       bool      // an eviction is under way (grace period)
	EvictAt        time.Time // with Evicting: when the job will have stopped

	// Reserved is when the job first got a reservation (zero: never). A
	// store sets it when it applies a plan holding a reservation for the
	// job; a reserved job goes first inside its priority class, which is
	// what keeps large gangs from starving (see docs/scheduler.md).
	Reserved time.Time

	// Recover is set while the job waits to have the ranks it lost to a
	// fault placed again (graded recovery); nil otherwise.
	Recover *Recovery
}

// WholeChips reports whether each rank takes whole chips, and how many.
func (j *Job) WholeChips() (int, bool) {
	if j.RankMilli >= pool.Full && j.RankMilli%pool.Full == 0 {
		return j.RankMilli / pool.Full, true
	}
	return 0, false
}

// TotalMilli is the chip thousandths of the whole gang.
func (j *Job) TotalMilli() int64 { return int64(j.Ranks) * int64(j.RankMilli) }

// Snapshot is the input of one scheduling cycle. Schedule treats it as
// read-only.
type Snapshot struct {
	Pool    *pool.State
	Queues  []Queue
	Pending []*Job
	Running []*Job
	// Usage is each queue's decayed historical chip usage in chip-seconds,
	// kept by the caller (see Usage.Decay), used by fair share.
	Usage map[string]float64
	// HostOrder, when set, is the order in which hosts are considered and so
	// breaks score ties (the first host wins); nil means topology order.
	HostOrder []pool.DomainID
	// NotReady lists the hosts without a ready agent. The cycle takes all
	// their free capacity first, so nothing is placed there, and tells a job
	// that would fit with them that it waits for them (ReasonHostNotReady).
	NotReady []pool.DomainID
	// Cordoned lists the hosts that take no new work (cordoned, draining):
	// the cycle takes their free capacity first, so nothing new lands
	// there, recoveries included; what runs there stays.
	Cordoned []pool.DomainID
	// Workload, when set, is the distribution of job shapes the caller
	// expects (learnt from history and the queue); fragmentation-aware
	// scorers measure a host against it. Nil: they use the pending jobs.
	Workload *Workload
	// Depth, when > 0, is how many pending jobs the cycle tries, in the
	// cycle's order (Slurm's default_queue_depth): the jobs past it are not
	// tried and get no Explanation entry. Running jobs listed in Pending and
	// recovering jobs (Recover set) do not count and are always tried. 0
	// tries every pending job.
	Depth int
}

// Queue is one node of the queue tree, named by its path ("org/team").
// Quota maps a chip kind name to thousandths of chips ("*" for any kind).
type Queue struct {
	Name       string
	Parent     string // "" for a root
	Weight     float64
	Guaranteed map[string]int64 // thousandths per kind that are the queue's own
	Borrowing  map[string]int64 // most thousandths per kind it may borrow beyond Guaranteed; nil: unlimited
	Lending    map[string]int64 // most thousandths per kind others may borrow from it; nil: all unused
}

// Plan is what a cycle decided.
type Plan struct {
	Start        []Assignment
	Evict        []Eviction
	Reservations []Reservation
}

// Assignment starts a job on a placement.
type Assignment struct {
	JobID     string
	Placement pool.Placement
	// Held are the claims a recovering job already holds (its survivors');
	// the store releases them before it takes Placement, which holds every
	// rank: the survivors' claims again (a subset re-placement) or new ones
	// (the whole gang placed again).
	Held []pool.Claim
}

// Eviction stops a running job to make room for another.
type Eviction struct {
	JobID     string
	Preemptor string // the job that needs the room
	Reason    string
	Grace     time.Duration // time to checkpoint before the job is stopped
}

// Reservation holds capacity for a blocked job from a future time.
type Reservation struct {
	JobID string
	At    time.Time
	// Placement is where the job would run at At; backfilled jobs that end
	// after At keep off these chips. Nil when the reservation only waits
	// for evictions to finish.
	Placement *pool.Placement
}

// Code says what the scheduler does with a job after a stage.
type Code int

const (
	Success       Code = iota
	Unschedulable      // not now; try again in a later cycle
	Unresolvable       // never, as specified (no pool could hold it)
	Error              // a bug or inconsistency; logged and retried
)

func (c Code) String() string {
	switch c {
	case Success:
		return "success"
	case Unschedulable:
		return "unschedulable"
	case Unresolvable:
		return "unresolvable"
	case Error:
		return "error"
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// Status is the outcome of a stage; nil means success. Reason is a short
// constant string (cheap to compare and count); Detail says how much, where.
type Status struct {
	Code   Code
	Plugin string
	Reason string
	Detail string
}

func (s *Status) String() string {
	if s == nil {
		return "success"
	}
	if s.Detail == "" {
		return fmt.Sprintf("%s: %s (%s)", s.Plugin, s.Reason, s.Code)
	}
	return fmt.Sprintf("%s: %s: %s (%s)", s.Plugin, s.Reason, s.Detail, s.Code)
}

// IsSuccess reports whether s is nil or a success.
func (s *Status) IsSuccess() bool { return s == nil || s.Code == Success }

// Record is one entry of an explanation.
type Record struct {
	Plugin string  `json:"plugin"`
	Reason string  `json:"reason"`
	Detail string  `json:"detail,omitempty"`
	Score  float64 `json:"score,omitempty"`
	Count  int     `json:"count,omitempty"` // how many hosts or domains gave this reason
}

// Explanation records, per job ID, why it was placed, held or rejected.
type Explanation map[string][]Record

// Recovery is set on a pending job that lost some of its ranks to a fault
// (a node lost, a chip unhealthy) and still holds the chips of the others:
// the cycle places the lost ranks next to the survivors (the Place
// plugin's Replacer), spares first, or, when the domain cannot hold them,
// the whole gang again.
type Recovery struct {
	// Keep is one claim per rank: what each surviving rank holds (allocated
	// in the snapshot's pool) and, for a lost rank, a claim without grants.
	Keep []pool.Claim
	// Lost are the ranks to place again.
	Lost []int
	// From are the hosts the lost ranks ran on.
	From []pool.DomainID
}

// Held returns the claims the surviving ranks hold.
func (r *Recovery) Held() []pool.Claim {
	var out []pool.Claim
	for i, c := range r.Keep {
		if !slices.Contains(r.Lost, i) {
			out = append(out, c)
		}
	}
	return out
}
