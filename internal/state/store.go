// Package state keeps the pool's allocation state, its queues and its jobs,
// and applies scheduling plans to them: the one verifier of "optimistic
// plans, one verifier". The scheduler reads a snapshot, decides a plan
// without locks, and ApplyToPool re-checks that plan against the newest
// allocation state and takes all of it or none of it, so capacity is never
// double-booked. Every caller that applies plans goes through ApplyToPool:
// MemStore.Apply and the server's cycle (internal/server).
//
// The package has two stores for two different callers:
//
//   - Store is the interface of a whole scheduling state (snapshot, apply,
//     submit, complete, requeue). MemStore implements it in memory for the
//     simulator (replay mode), `qun bench sched` and tests.
//   - Bolt is the server's durable record store: one bbolt file of job, node
//     and server records that it stores as opaque bytes, one fsynced
//     transaction per Commit, group commit for CreateJob. It does not
//     implement Store; the server keeps its state in memory, encodes the
//     records and applies plans with ApplyToPool itself.
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
