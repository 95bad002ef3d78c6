// Package score holds the host-scoring placement policies: the baselines of
// the FGD paper (Weng et al., "Beware of Fragmentation", USENIX ATC '23) —
// Random, DotProduct, GpuClustering, GpuPacking, BestFit and FGD — and Qun's
// own policy, each a sched.HostScore plugin that the hostscore placer
// combines by weight.
//
// The baselines are written from the paper's description. Where the
// paper's artifact made choices the paper does not state (scores truncated
// to integers from 0 to 100, CPU-only typical pods counting their whole
// idle GPU share as fragment, the sigmoid of FGD), the plugins follow the
// artifact so that reproduced figures are comparable; each such choice is
// an argument ("quantize") and is documented in docs/simulator.md.
//
// # Fragmentation
//
// A host's fragmentation, measured against a workload (sched.Workload), is
// the expected amount of its free accelerator share that a job drawn from
// the workload could not use: all of it when the job does not fit the
// host's CPU or chips, or the free shares of the chips too small for the
// job when it does. FGD places a job where fragmentation grows least.
// Fragmentation depends only on a host's free vector, so it is memoised per
// distinct vector (Frag); identical hosts are computed once.
//
// # Caveats
//
// Plugins keep no state between cycles except memo tables keyed by the
// workload and a host's free vector, which cannot change a result; the
// tables are safe for concurrent use.
package score
