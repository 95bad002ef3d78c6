package plugins

import (
	"fmt"

	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// FirstFitName is the gang placement plugin "firstfit".
const FirstFitName = "firstfit"

// FirstFit places gangs of whole-chip ranks in the smallest domain that
// holds them with place.FirstFit (place.ScopeSmallest), through the
// profile's host filters (cs.FilterHost). Jobs of fractional or CPU-only
// ranks are placed as by hostscore. All ranks use one chip kind.
type FirstFit struct{}

var _ sched.Place = FirstFit{}

func newFirstFit(args map[string]any) (sched.Plugin, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	return FirstFit{}, nil
}

// Name implements sched.Plugin.
func (FirstFit) Name() string { return FirstFitName }

// Place implements sched.Place; st is unchanged when it returns.
func (FirstFit) Place(cs *sched.CycleState, j *sched.Job, st *pool.State) (*pool.Placement, *sched.Status) {
	if _, whole := j.WholeChips(); !whole {
		return placeByHost(cs, j, st, 64, FirstFitName)
	}
	var opts place.FirstFitOptions
	opts.Scope = place.ScopeSmallest
	if cs.HasHostFilters() {
		opts.HostOK = func(h pool.DomainID) bool { return cs.FilterHost(j, st, h).IsSuccess() }
		opts.HostWhy = func(h pool.DomainID) string {
			if s := cs.FilterHost(j, st, h); !s.IsSuccess() {
				return "rejected by " + s.Plugin + "/" + s.Reason
			}
			return ""
		}
	}
	p, s := place.FirstFit(st, PlaceRequest(j), opts)
	return p, placeStatus(FirstFitName, s)
}
