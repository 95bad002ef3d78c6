// Package state keeps the pool's allocation state, its queues and its jobs,
// and applies scheduling plans to them: the one verifier of "optimistic
// plans, one verifier". The scheduler reads a Snapshot, decides a plan
// without locks, and Apply re-checks that plan against the newest state and
// commits all of it or none of it, so capacity is never double-booked
// whatever the number of schedulers.
//
// MemStore keeps everything in memory (the simulator and tests); durable
// stores (bbolt, etcd) implement the same Store interface.
//
// # Caveats
//
// MemStore serialises every call with one mutex; snapshots it returns are
// independent copies the caller may keep.
package state

import (
	"errors"
	"time"

	"github.com/qunhq/qun/internal/sched"
)

// Errors of a Store; they are wrapped with detail, test with errors.Is.
var (
	ErrConflict = errors.New("plan conflicts with the current state")
	ErrNotFound = errors.New("no such job")
	ErrExists   = errors.New("job already exists")
	ErrInvalid  = errors.New("invalid job")
)

// Store is the state the scheduler reads and its plans change. All methods
// are safe for concurrent use.
type Store interface {
	// Snapshot returns an independent copy of the state for one cycle at
	// time now (fair-share usage is decayed up to now).
	Snapshot(now time.Time) (*sched.Snapshot, error)
	// Apply re-checks the plan against the current state and commits all
	// of it or, returning an error wrapping ErrConflict, none of it.
	Apply(plan *sched.Plan, now time.Time) error
	// Submit adds a pending job.
	Submit(j *sched.Job) error
	// Complete removes a running or pending job; a running job's chips are
	// freed.
	Complete(id string, now time.Time) error
	// Requeue stops a running job (its eviction finished) and makes it
	// pending again, keeping its submission time.
	Requeue(id string, now time.Time) error
}
