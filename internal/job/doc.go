// Package job defines what a Qun job is: a gang of ranks that must start
// together, with the chips each rank needs, how the model is split across
// them, and what each rank runs. It decodes job specs from YAML (or JSON),
// fills in defaults and validates them, so that the rest of the control
// plane only ever sees a complete, consistent Spec.
//
// # The smallest job
//
// Six lines are enough:
//
//	apiVersion: qun/v1
//	kind: Job
//	name: quick
//	chips: 8
//	duration: 1h
//	command: [python, train.py]
//
// This asks for 8 chips of any kind, as 8 ranks of one chip each, in the
// queue "default" at priority 0, expected to run for an hour. Load turns the
// text into a *Spec with every default written out:
//
//	spec, err := job.Load("quick.yaml", data, pool.DefaultCatalog())
//	if errors.Is(err, strictyaml.ErrInvalid) {
//		fmt.Println(err) // quick.yaml:4:8: chips: ... (allowed ...)
//	}
//
// # Sizing: chips, ranks, chipsPerRank
//
// A rank is one process of the gang. Each holds chipsPerRank chips: a whole
// number from 1 to 64, or a fraction of one chip in thousandths (0.5, 0.25,
// 0.125) for inference and small jobs that share a chip. The job's total is
// ranks × chipsPerRank. Give any two of the three and the third follows:
//
//	chips: 64                    → 64 ranks × 1 chip
//	chips: 64, chipsPerRank: 8   → 8 ranks × 8 chips
//	chips: 64, ranks: 8          → 8 ranks × 8 chips
//	ranks: 4, chipsPerRank: 0.25 → 4 ranks × 0.25 chip, 1 chip in all
//	(none)                       → 1 rank × 1 chip
//
// All three may be given if they agree. The values must divide exactly, and
// a job may use at most 1,048,576 chips and 1,000,000 ranks.
//
// # Which chips
//
// accept.kinds lists the chip kinds (names from the pool's catalog, such as
// 910B or H20) the job can run on; accept.minHBMGiB keeps only kinds with at
// least that much memory per chip; both together mean both. With neither,
// any kind will do. A gang is placed on one collective family (HCCL or NCCL)
// unless accept.mixFamilies is true.
//
// # Parallelism
//
// parallelism gives the tensor, pipeline, data and expert parallel sizes.
// tensor × pipeline × data must equal the job's chips (its ranks when a rank
// holds a fraction of a chip), and expert must divide data. Tensor, pipeline
// and expert default to 1; data, when omitted, is derived as
// chips / (tensor × pipeline). The plan and the optional per-rank, per-step
// communication volumes are for the scheduler, to keep the heaviest traffic
// (tensor, then expert, pipeline, data) inside the fastest topology domains.
//
// # Defaults
//
//	queue            "default"
//	priority         0 (range -1,000,000 to 1,000,000; higher goes first)
//	ranks            1, or derived from chips
//	chipsPerRank     1, or derived from chips and ranks
//	accept           any kind, no HBM minimum, families not mixed
//	cpuMilliPerRank  0 (no CPU request)
//	memoryMiBPerRank 0 (no memory request)
//	parallelism      tensor 1, pipeline 1, expert 1, data derived
//	communication    unknown
//	duration         0 (unknown; the job is not backfilled)
//	checkpoint       none
//	restartPolicy    maxRestarts 3, backoff 10s doubling per restart up to 5m,
//	                 on [node-lost, device-unhealthy, rank-failed, preempted]
//	                 (also allowed: rank-signaled); preemptions do not count
//
// apiVersion (qun/v1), kind (Job), name and command have no default.
//
// # Errors
//
// Load never returns a half-built spec: it returns a valid one or all of its
// problems at once as strictyaml.Problems, sorted by position, each naming
// the file, line and column, the field path and what is allowed:
//
//	bad-kind.yaml:7:5: accept.kinds[0]: unknown chip kind "910X" (known: 910, 910B, 910C, ...)
//
// Validate checks a spec built in Go or decoded from JSON the same way; pass
// nil positions and messages name only the field.
//
// # Caveats
//
//   - Problems with the shape of the document (bad YAML, unknown fields,
//     wrong types, a fraction where a whole number belongs) are reported
//     first; problems with the values are reported once the shape is right.
//   - A zero value means "not given". Over JSON, or when validating a Spec
//     built in Go, "ranks": 0 therefore means the default, one rank; only a
//     YAML document decoded with positions can tell a written 0 from an
//     omitted field and reject it.
//   - Chip kinds are checked against the catalog passed in. A spec valid
//     against one pool's catalog may name kinds another pool lacks.
//   - duration is an estimate given by the user; the scheduler trusts it for
//     backfill only, never to stop a job.
//   - Communication volumes are floating-point byte counts, so very large
//     values are approximate.
//   - A Spec is a plain value and not safe for concurrent mutation; a
//     normalized spec that nobody mutates may be read from many goroutines.
package job
