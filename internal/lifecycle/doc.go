// Package lifecycle is the one job lifecycle of Qun: every transition of a
// job and its attempts, decided once for the server, state.MemStore and the
// simulator. It is pure: an Event (with its time) goes in, the job's new
// state and the Actions its driver must carry out come out; it does no I/O
// and reads no clock.
//
// States:
//
//	pending ─placed→ starting ─all ranks up→ running ─all exited 0→ succeeded
//	   ▲                 │  fault (rank exit, node lost, device unhealthy)
//	   │                 ▼
//	   │            recovering ─survivors stopped, backoff over→ starting (attempt+1)
//	   │                 │        in place: same chips; re-place: through the scheduler
//	   │                 └─ policy exhausted or cause not in restartPolicy.on → failed
//	   └─ preempted ─ stopping ─ranks stopped→ pending (attempt+1), cancelled, failed
//
// A driver keeps the job's Job value, turns what it observes into Events,
// and applies the Actions: stop ranks (SIGTERM with the checkpoint grace —
// the server does this by no longer assigning them), release the
// allocation, offer the job to the scheduler again (Place, whole gang or a
// subset with survivors pinned), launch the next attempt on the chips it
// holds. Whether a job may be scheduled is Job.Schedulable.
//
// # Decisions taken here, once
//
//   - A reservation is consumed when the job is placed (Reserved is
//     cleared), and a job re-placed after a fault gets Reserved = the time
//     the fault was detected, so it goes first inside its priority class
//     and keeps its place in the queue (its submission time never changes).
//   - An attempt starts when it is placed (PlacedAt, what the scheduler
//     reads as Started), not when it was submitted.
//   - Only the first fault of an attempt counts: survivors exiting after
//     they were told to stop, or more nodes lost meanwhile, end nothing more.
//   - A fault during a preemption's grace period does not count as a
//     restart: the gang was going back to the queue anyway; the attempt's
//     history entry records the fault.
//
// # Caveats
//
// Graded recovery's "replace only what broke" is a seam, not built: every
// re-placement asks for the whole gang (Request.Whole), with Request.Lost
// and Request.Pinned saying which ranks broke and which could stay.
package lifecycle
