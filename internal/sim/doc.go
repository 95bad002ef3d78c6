// Package sim is Qun's simulator: it drives the production scheduler
// (sched.Schedule with a profile's plugins) and the one plan verifier
// (state.ApplyToPool, through state.MemStore in replay mode) over a trace on
// a virtual clock, and reports what happened.
//
// # Modes
//
// Replay (Replay) plays arrivals at their submit time and departures after
// their duration, with a queue for jobs that do not fit, and measures
// utilisation over time and waiting and completion times per tenant. The
// FGD experiment (PrepareFGD, RunFGD) reproduces the method of the FGD
// paper's artifact on the openb trace exactly, random draws included, so
// that its published figures can be compared seed for seed. Run runs a whole
// comparison (several policies and seeds) and returns a Report, which writes
// JSON, Markdown and SVG plots.
//
// The ETTR experiment (RunETTRExperiment, RunETTR) runs one large training
// job on a pool file under faults drawn per kind and chip (DefaultFaults:
// Llama 3's published mix; ParseFaults reads a fault file), with repair
// times, correlated faults, stragglers and spare hosts. It is a driver of
// internal/lifecycle like the server: faults become lifecycle events after
// a detection time, the lifecycle decides the recovery, and the scheduler
// runs only when the lifecycle asks for a placement (docs/faults-sim.md).
//
// Trace nodes become a pool (BuildPool): one host per node with its CPU,
// memory and pod capacity, and a user-defined chip kind per GPU model, so
// every feasibility check is the pool's.
//
// # Determinism
//
// Every random number comes from one math/rand source seeded by the caller;
// the scheduler receives it as a math/rand/v2 Rand over that source. No
// goroutine is started and no wall clock is read except to report
// wall_seconds, so the same inputs give byte-identical reports apart from
// those timing fields.
//
// # Caveats
//
// In the FGD experiment the simulator keeps the pool state itself (one
// cycle per pod; MemStore's snapshots copy every job) and leaves running
// jobs out of snapshots for profiles that cannot use them; see
// docs/simulator.md, "Cost".
package sim
