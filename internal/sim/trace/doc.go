// Package trace reads workloads for the simulator: the Alibaba GPU cluster
// trace v2023 ("openb") node and pod lists, a generic job trace in JSON
// Lines, and a synthetic workload generator.
//
// Every reader returns plain values (Node, Job) in the units the pool model
// uses: CPU in thousandths of a core, memory in MiB, accelerator shares in
// thousandths of one chip. A malformed file is rejected whole with an error
// naming the file, the line and the column (see *Error).
//
// # Formats
//
// The openb CSV columns are described in docs/simulator.md and in the
// trace's own README. The generic JSONL format has one job per line:
//
//	{"name":"train-1","tenant":"team-a","submit":0,"duration":3600,
//	 "cpu_milli":8000,"memory_mib":32768,"gpus":1,"gpu_milli":500,
//	 "gpu_models":["T4","A10"]}
//
// # Caveats
//
// Times are whole seconds from the start of the trace. The openb pod list
// has no tenants; its QoS class (LS, BE, Burstable, Guaranteed) is used as
// the tenant so that per-tenant figures still mean something.
package trace
