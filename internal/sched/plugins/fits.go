package plugins

import (
	"fmt"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// FitsName is the host filter "fits".
const FitsName = "fits"

// Reasons the fits filter gives.
const (
	ReasonMaxRanks           = "max-ranks"
	ReasonInsufficientCPU    = "insufficient-cpu"
	ReasonInsufficientMemory = "insufficient-memory"
	ReasonInsufficientChips  = "insufficient-chips" // also the placers', for the same cause
)

// Fits passes a host with a ready agent and room for one more rank: below
// its rank limit, with the rank's CPU and memory free, and with enough free
// chips (or one chip with a large enough free share) of an accepted kind.
// Shape rules are checked when chips are selected.
type Fits struct{}

var _ sched.HostFilter = Fits{}

func newFits(args map[string]any) (sched.Plugin, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	return Fits{}, nil
}

// Name implements sched.Plugin.
func (Fits) Name() string { return FitsName }

var (
	stNotReady = &sched.Status{Code: sched.Unschedulable, Plugin: FitsName, Reason: sched.ReasonHostNotReady}
	stMaxRanks = &sched.Status{Code: sched.Unschedulable, Plugin: FitsName, Reason: ReasonMaxRanks}
	stCPU      = &sched.Status{Code: sched.Unschedulable, Plugin: FitsName, Reason: ReasonInsufficientCPU}
	stMemory   = &sched.Status{Code: sched.Unschedulable, Plugin: FitsName, Reason: ReasonInsufficientMemory}
	stChips    = &sched.Status{Code: sched.Unschedulable, Plugin: FitsName, Reason: ReasonInsufficientChips}
)

// FilterHost implements sched.HostFilter. The statuses it returns are
// shared and must not be modified.
func (Fits) FilterHost(cs *sched.CycleState, j *sched.Job, st *pool.State, h pool.DomainID) *sched.Status {
	if !cs.HostReady(h) {
		return stNotReady
	}
	if n, why := st.RankRoom(h, j.CPUMilli, j.MemoryMiB); n <= 0 {
		switch why {
		case pool.LimitRanks:
			return stMaxRanks
		case pool.LimitCPU:
			return stCPU
		}
		return stMemory
	}
	if j.RankMilli == 0 {
		return nil
	}
	n, whole := j.WholeChips()
	for _, k := range cs.Kinds(j) {
		if whole && st.FreeChipsOfKind(h, k) >= n {
			return nil
		}
		// A share must fit on one chip: the host's total free share is only
		// a quick bound.
		if !whole && st.FreeMilliOfKind(h, k) >= int64(j.RankMilli) && st.SelectShare(h, k, j.RankMilli) >= 0 {
			return nil
		}
	}
	return stChips
}
