// Package sched decides which jobs run next and where. It is a pure
// function of its inputs: Schedule(snapshot, now, rng, profile) returns a
// plan and an explanation, reading no clock, doing no I/O and drawing no
// global randomness, so that the server and the simulator run exactly the same
// code and every run can be replayed.
//
// # Stages
//
// A scheduling cycle orders the pending jobs and takes each (or, with
// Snapshot.Depth set, only the first Depth of them, like Slurm's
// default_queue_depth; running and recovering jobs always) through typed
// stages, in this order (cycle.go, try), each a small interface that
// plugins implement only where they need to:
//
//	QueueSort  → orders pending jobs (priority, fair share, submission time)
//	NeverFits  → static feasibility: could any state of the pool hold the job (the driver)
//	Admit      → may the job be considered now (quota, borrowing limits)
//	Place      → choose chips for the whole gang, all ranks or none, asking
//	  HostFilter → can this host take one rank of the job
//	  HostScore  → how good is this host for one rank (higher is better)
//	PostPlace  → may the job run on that placement (quota of the kind it landed on)
//	start      → commit the placement to the cycle's state (the driver)
//
// A job that fits its quota but not the pool now is blocked: it waits for
// evictions under way, preempts (the Preemption policy of the profile) or
// gets a reservation (the Backfill policy), in that order (reserve.go).
//
// Outcomes are *Status values (nil is success) whose Code says what happens
// next: try again later, never schedulable as specified, or an internal error.
// Every rejection and score is recorded in an Explanation keyed by plugin and
// reason, which is what `qun job explain` shows.
//
// # Plans
//
// Schedule never changes the snapshot. It returns a Plan of placements and
// evictions; a plan applier re-checks the plan against the newest state and
// commits it whole or not at all.
//
// # Recovery
//
// A pending job with Recover set lost ranks to a fault and still holds its
// survivors' chips: the cycle places the lost ranks next to them (the Place
// plugin's Replacer), else the whole gang; spare hosts of the pool are
// fenced off for every other job, cordoned hosts for all (recover.go).
//
// # Caveats
//
// Plugins may keep per-cycle data in CycleState but must not keep state
// between cycles: a plugin instance is shared by every cycle of a profile.
package sched
