package sched

// Workload is a distribution of job shapes: what the pool is expected to be
// asked for. The caller builds it (the simulator from the jobs seen so far,
// the server from its history); scorers treat it as read-only and may key
// caches on its pointer, so a changed distribution must be a new value.
type Workload struct {
	// Shapes are the distinct rank shapes with their weights, heaviest
	// first; the weights sum to 1.
	Shapes []WorkloadShape
}

// WorkloadShape is one rank shape of a Workload.
type WorkloadShape struct {
	Chips     int   // chips per rank: 1 for a share of one chip, 0 for CPU only
	Milli     int   // thousandths of each chip (1000 for whole chips)
	CPUMilli  int64 // per rank
	MemoryMiB int64 // per rank
	// Kinds are the accepted chip kinds; empty accepts any.
	Kinds  []string
	Weight float64
}
