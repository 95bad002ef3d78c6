package pool

import "math"

// RankLimit names what bounds the ranks a host can still take.
type RankLimit int

const (
	LimitNone   RankLimit = iota // nothing but the chips
	LimitRanks                   // the host's rank limit (MaxRanks)
	LimitCPU                     // its free CPU
	LimitMemory                  // its free memory
)

// RankRoom returns how many more ranks needing cpuMilli and memMiB each
// host h can take before its rank limit, CPU or memory runs out — chips
// aside — and which of the three binds (the first of ranks, CPU, memory on
// a tie; LimitNone and math.MaxInt when none applies).
func (s *State) RankRoom(h DomainID, cpuMilli, memMiB int64) (int, RankLimit) {
	n, why := math.MaxInt, LimitNone
	if m := s.t.MaxRanks(h); m > 0 {
		n, why = max(0, m-s.Ranks(h)), LimitRanks
	}
	if cpuMilli > 0 {
		if c := int(s.FreeCPU(h) / cpuMilli); c < n {
			n, why = c, LimitCPU
		}
	}
	if memMiB > 0 {
		if c := int(s.FreeMemory(h) / memMiB); c < n {
			n, why = c, LimitMemory
		}
	}
	return n, why
}

// WholeChipClaim is the claim of one rank on host h taking the given chips
// whole, with the rank's CPU and memory.
func WholeChipClaim(h DomainID, chips []ChipID, cpuMilli, memMiB int64) Claim {
	g := make([]Grant, len(chips))
	for i, c := range chips {
		g[i] = Grant{Chip: c, Milli: Full}
	}
	return Claim{Host: h, CPUMilli: cpuMilli, MemoryMiB: memMiB, Grants: g}
}
