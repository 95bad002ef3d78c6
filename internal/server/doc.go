// Package server is Qun's control plane: the v1 HTTP API (handlers.go, with
// every error turned into an HTTP status in httperr.go through
// api.HTTPStatus), the jobs, nodes and allocations it keeps in memory, the
// store that makes them durable (a state.Durable: by default a state.Bolt,
// DATA_DIR/state.db), the scheduling loop and the node-liveness reconciler.
// `qun server` and `qun up` build one from a Config; tests build one on a
// temporary directory and a fake Clock.
//
// # The lock and the commit rule
//
// One mutex, Server.mu, guards all in-memory state: the job and node records,
// the jobs indexed by node (byNode), the allocation state (a pool.State), the
// fair-share history and the sets of records changed since the last batch
// (dirtyJobs, dirtyNodes, dirtyKeys). Every operation that changes something
// takes mu, changes memory, marks what it changed (touch, touchIfDurable,
// touchRank, touchNode) and calls queue, which returns the generation of the
// newest change in memory; it then releases mu and waits (await) until that
// generation is durable before it answers. A read takes the generation with
// observed and waits the same way, so no answer reports, and no agent is
// told, anything that is not on disk. A read of one job, and a heartbeat
// that changed nothing durable, wait only for the newest mark of what they
// read (observedMark: the job's, or the node's, which every change to the
// node or to a job placed on it advances), so a burst of submissions does
// not hold up the heartbeats of nodes it does not touch.
//
// Writing is group commit (commit.go): one committer goroutine takes mu just
// long enough to encode every marked record and clear the marks, releases
// it, writes the batch with one Durable.Commit (one bbolt transaction, one
// fsync), publishes the batch's generation and starts on the next batch,
// which holds whatever was marked meanwhile. No I/O happens under mu, so
// heartbeats and the scheduler never wait for the disk, only their own
// answers do. Batches are written in order, one at a time. Each batch has
// a channel closed when it is durable: a waiter sleeps on its own batch's
// and wakes once (seal, publish), so a batch's fsync wakes its requests and
// no others. With authentication, the committer also cuts the audit log's
// batch as it starts each commit: the audit entries of the requests in it,
// enqueued as they changed the state, are fsynced beside it.
//
// The two goroutines that mostly wait in fsync (the committer and the audit
// log's writer) each keep a P while blocked; a process serving the API runs
// with GOMAXPROCS two above the cores (Procs) so the cores stay busy while
// they wait, and with GOGC at GCPercent (qun server sets both).
//
// If a commit fails, memory is ahead of disk: the server marks itself broken
// (logged once at error level) before any waiter learns of it; the requests
// of that batch and of every later one get CodeUnavailable, reads included
// (their generation is never published). A restart recovers from the store
// (New, recover), which holds only what cannot be rebuilt.
//
// # Durable and soft state
//
// Durable: jobs (spec, lifecycle state and attempt history, placement, usage
// spans), the end of each rank of a job's current attempt (its own record,
// JOBID/ATTEMPT/RANK, beside the job's; deleted when the attempt ends), nodes
// (registration, lost or removed) and the fair-share history. Soft, kept in
// memory only and told again by the agents: rank liveness and statuses short
// of an exit (handed out, up, gone, PID, start time) and heartbeat times. A
// job's record is rewritten only when a durable fact of it changes
// (touchIfDurable compares the durable projection, durableOf), never for a
// rank's status, so a heartbeat that changes only soft state writes nothing,
// and a rank's exit writes a record of a few hundred bytes whatever the size
// of its gang. After a restart a placed job's ranks without an end record
// are starting and possibly live until their node's next heartbeat;
// allocations are rebuilt from the jobs' placements; nodes get a full
// NodeTimeout before they can be declared lost again. Rank logs are plain
// files under DATA_DIR/logs, outside the state file (logs.go).
//
// The placed jobs are indexed by node (index.go: addPlaced, dropPlaced,
// placedOn): a heartbeat, a node loss or an unhealthy device costs what the
// node runs, not what the pool runs. Code that changes a job's claims calls
// addPlaced again.
//
// Methods whose comment says "Callers hold mu" must be called with mu held.
//
// # Scheduling cycles
//
// Cycle runs one scheduling cycle: under mu it takes a snapshot (a clone of
// the allocation state with the chips of hosts without a ready agent fenced
// off, the pending and placed jobs, the decayed fair-share usage), releases
// mu while sched.Schedule decides a plan, then takes mu again and applies the
// plan with state.ApplyToPool, the verifier the simulator shares, which
// re-checks every claim against the newest state and takes all of the plan or
// none of it. A plan that conflicts is retried without its starts (its
// evictions and reservations still go ahead); the records it changes go into
// the next batch, which the cycle waits for before the loop spaces the next
// one. The pending jobs are sorted after mu is released.
//
// Only one goroutine may call Cycle at a time. After Start, that goroutine is
// the scheduling loop (loop.go): it runs a cycle whenever something triggers
// one — a submission, a cancel, a job releasing its chips, a node
// registering, coming back, being removed or lost — and at least every
// Config.CycleEvery. After each cycle it waits for the longer of
// Config.MinCycleGap and the cycle's own duration, so a burst of triggers
// costs one cycle and scheduling takes at most about half of a core from the
// API. Like Slurm's event-triggered scheduler (default_queue_depth), a
// triggered cycle tries only the first Config.TriggeredDepth pending jobs
// in the scheduler's order (sched.Snapshot.Depth; default 1000, -1 for
// all), so a queue of tens of thousands that cannot fit costs little per
// submission; the jobs past the depth keep their explanation. The
// ticker's cycles try every pending job, and so does a triggered cycle when
// no full one began within CycleEvery by the server's clock (the ticker can
// lose the select to a stream of kicks). Cycle, which tests that do not call
// Start call themselves (with Reconcile), is always full.
//
// # Reconcilers
//
// Three things bring memory back in line with the world:
//
//   - The liveness reconciler (reconcileLoop, every NodeTimeout/4) calls
//     Reconcile, which marks each ready node lost whose last heartbeat is
//     older than Config.NodeTimeout and fails the jobs with ranks on it.
//     Removing a node (RemoveNode) does the same at once.
//   - Heartbeat (the entry point of every agent report, whatever the
//     transport) reconciles one node's ranks: each report moves its rank
//     through starting, running and exited, the job moves with its ranks
//     (starting → running → succeeded or failed; stopping → its target once
//     every rank has stopped), and the answer lists every rank the node
//     should run, so an agent that lost a rank, or restarted, gets it back.
//     A heartbeat from a lost node makes it ready again.
//   - recover, at start, fails a stored placed job whose allocation no longer
//     fits (only reachable when the file was edited by hand).
//
// # Log levels
//
// The server logs through Config.Logger (log/slog; `qun server --log-level`):
//
//   - error: something is wrong with the server itself — a commit failed
//     and the server now refuses requests, a request failed with an
//     internal error (a 5xx other than unavailable), an allocation could
//     not be released or rebuilt, a rank table could not be built.
//   - warn: the world disagreed and the server coped — a node was lost, a
//     plan conflicted with newer state and was applied in part or dropped,
//     a stored node is not a host of the pool, stored fair-share history is
//     unreadable, no HCCL rank table could be written for a job, errors of
//     the HTTP server itself.
//   - info: lifecycle — state recovered, serving, shutting down, a node
//     registered, came back or was removed, a job placed or finished.
//   - debug: noise a client causes, such as a log download it stopped
//     reading.
//
// Requests that fail for the caller's reasons (bad data, not found,
// conflicts) are answered, not logged.
package server
