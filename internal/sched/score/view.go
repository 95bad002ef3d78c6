package score

import (
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// Normalisation constants of the FGD artifact: the largest node it models
// has 128 CPUs and 8 GPUs.
const (
	maxSpecCPU = 128000
	maxSpecGPU = 8000
	maxScore   = 100
)

// maxChips is the most chips per host that the memo tables key on; larger
// hosts are computed without memoisation.
const maxChips = 8

// host is a read-only view of one host: its chips' free shares, CPU and
// memory.
type host struct {
	id        pool.DomainID
	kind      pool.KindID // kind of the first chip; hosts in one trace carry one kind
	lo, hi    pool.ChipID
	cpu, mem  int64 // free
	cpuCap    int64
	freeMilli int64 // total free thousandths
	fullFree  int   // fully free chips
}

func viewHost(st *pool.State, h pool.DomainID) host {
	t := st.Topology()
	lo, hi := t.ChipRange(h)
	v := host{id: h, lo: lo, hi: hi, cpu: st.FreeCPU(h), mem: st.FreeMemory(h), cpuCap: t.CPUMilli(h),
		freeMilli: st.FreeMilli(h), fullFree: st.FreeChips(h)}
	if hi > lo {
		v.kind = t.ChipKind(lo)
	}
	return v
}

// chips returns the number of chips of the host.
func (v *host) chips() int { return int(v.hi - v.lo) }

// shape is a job's rank as the scorers see it.
type shape struct {
	chips int   // chips per rank (1 for a share)
	milli int   // thousandths of each chip
	cpu   int64 // CPU thousandths
	mem   int64
	job   *sched.Job // for the kinds it accepts (sched.Accepts)
}

func (s shape) share() bool { return s.chips == 1 && s.milli < pool.Full }

func (s shape) total() int64 { return int64(s.chips) * int64(s.milli) }

func jobShape(j *sched.Job) shape {
	s := shape{cpu: j.CPUMilli, mem: j.MemoryMiB, job: j}
	switch {
	case j.RankMilli <= 0:
	case j.RankMilli < pool.Full:
		s.chips, s.milli = 1, j.RankMilli
	default:
		s.chips, s.milli = (j.RankMilli+pool.Full-1)/pool.Full, pool.Full
	}
	return s
}

// freeList fills buf with the free thousandths of the host's chips in index
// order.
func freeList(st *pool.State, v *host, buf []int32) []int32 {
	buf = buf[:0]
	for c := v.lo; c < v.hi; c++ {
		buf = append(buf, int32(st.ChipFree(c)))
	}
	return buf
}

// scratch returns n values of buf, or a new slice when a host has more
// chips than buf holds (pool files allow up to 1,024 a host).
func scratch(buf *[64]int32, n int) []int32 {
	if n <= len(buf) {
		return buf[:n]
	}
	return make([]int32, n)
}

// bestFitShare returns the chip with the least free share that still holds
// milli, first in index order on ties, or -1.
func bestFitShare(free []int32, milli int32) int {
	best := -1
	for i, f := range free {
		if f >= milli && (best < 0 || f < free[best]) {
			best = i
		}
	}
	return best
}
