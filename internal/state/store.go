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
//   - Durable is the interface of a server's durable record store, and Bolt
//     its implementation on one bbolt file: job, node and server records
//     stored as opaque bytes, one fsynced transaction per Commit. It does
//     not implement Store; the server keeps its state in memory, encodes the
//     records, applies plans with ApplyToPool itself and writes what changed
//     in batches (group commit, one Commit per batch).
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

// Durable is a server's durable record store: job, node and server records
// as opaque bytes under string keys, in three separate key spaces (buckets).
// The server (internal/server) is its one writer and calls it only outside
// its own lock. Bolt implements it; an implementation on another engine
// must keep this contract:
//
//   - Commit writes one batch atomically: every record of r or, when it
//     returns an error, none of them. A nil value deletes its key (deleting
//     an absent key is not an error). When Commit returns nil the batch is
//     durable: it survives a crash of the process and of the machine (bbolt:
//     fsync). The server answers the requests whose changes a batch holds
//     only after Commit returned nil for it; after an error it answers none
//     of them and stops serving (its memory is then ahead of the store).
//   - Commits are issued one at a time, in order: a later batch may
//     overwrite keys of an earlier one. Implementations need not make
//     concurrent Commit calls safe, but Load and ServerRecord may be called
//     before the first Commit.
//   - Keys are any non-empty strings. Job keys include per-rank records
//     named "JOBKEY/ATTEMPT/RANK" beside the job record "JOBKEY"; Load
//     returns them all through the job callback, in any order.
//   - Server records are the server's own (fair-share history); the key
//     "format" is reserved for the store's format marker.
//   - Load calls job for every job record and node for every node record;
//     the value slices are valid only during the call. ServerRecord returns
//     a copy of one server record, or nil when there is none.
//   - Close releases the store; no call follows it.
type Durable interface {
	Load(job, node func(key string, value []byte) error) error
	ServerRecord(key string) ([]byte, error)
	Commit(r Records) error
	Close() error
}
