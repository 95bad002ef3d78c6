package sched

import "github.com/qunhq/qun/internal/pool"

// FilterHost runs the profile's host filters on host h for one more rank
// of j in st, in profile order: the first failure wins. Nil (success) when
// every filter passes or the profile has none. Place plugins call it
// instead of walking the profile themselves.
func (cs *CycleState) FilterHost(j *Job, st *pool.State, h pool.DomainID) *Status {
	if cs == nil || cs.Profile == nil {
		return nil
	}
	for _, f := range cs.Profile.Filters {
		if s := f.FilterHost(cs, j, st, h); !s.IsSuccess() {
			return s
		}
	}
	return nil
}

// ScoreHost is the profile's score of host h for one rank of j in st: the
// sum of every host score times its weight, 0 without scores.
func (cs *CycleState) ScoreHost(j *Job, st *pool.State, h pool.DomainID) float64 {
	if cs == nil || cs.Profile == nil {
		return 0
	}
	sc := 0.0
	for _, ws := range cs.Profile.Scores {
		sc += ws.Weight * ws.Plugin.ScoreHost(cs, j, st, h)
	}
	return sc
}

// HasHostScores reports whether the profile scores hosts at all (a Place
// plugin without scores takes the first feasible host).
func (cs *CycleState) HasHostScores() bool {
	return cs != nil && cs.Profile != nil && len(cs.Profile.Scores) > 0
}

// HasHostFilters reports whether the profile filters hosts at all.
func (cs *CycleState) HasHostFilters() bool {
	return cs != nil && cs.Profile != nil && len(cs.Profile.Filters) > 0
}
