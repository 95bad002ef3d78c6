package place

import (
	"encoding/json"
	"math"
	"slices"

	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/pool"
)

// Decision is a placement with everything that explains it. Decide returns
// one; a scheduler keeps the Placement and records the rest (Records).
type Decision struct {
	Job    string `json:"job"`
	Placed bool   `json:"placed"`
	// Kind is the chosen kind (kinds joined by "+" for a mixed gang).
	Kind   string `json:"kind,omitempty"`
	Family string `json:"family,omitempty"`
	// Domain is the path of the smallest domain holding the gang, Level its
	// level name.
	Domain string `json:"domain,omitempty"`
	Level  string `json:"level,omitempty"`

	Placement *pool.Placement `json:"-"`
	// Chips lists every rank's chips in rank order: device rank i runs on
	// Chips[i] (whole-chip ranks); for shared chips, one entry per rank.
	Chips []pool.ChipID `json:"-"`

	Plan             comm.Plan     `json:"plan"`
	Volumes          comm.Volumes  `json:"volumes"`
	VolumesDefaulted bool          `json:"volumes_defaulted,omitempty"`
	Step             comm.Estimate `json:"step"`
	// LowerBound is the modelled step communication of the gang in the best
	// domain of an empty pool of the same kind.
	LowerBound comm.Estimate `json:"lower_bound"`
	// Ratio is Step.Seconds / LowerBound.Seconds (1 when both are zero).
	Ratio         float64 `json:"ratio"`
	Fragmentation float64 `json:"fragmentation"`
	Score         float64 `json:"score"`

	// Kinds is the per-kind estimate of completion behind the choice.
	Kinds []KindEstimate `json:"kinds"`
	// Candidates are the domains considered, the chosen one first.
	Candidates []Candidate `json:"candidates"`
	// Skipped counts feasible domains not evaluated, by reason.
	Skipped map[string]int `json:"skipped,omitempty"`
	// Visited is the number of domains the search looked at.
	Visited int `json:"visited"`

	Status *Status `json:"status,omitempty"`
}

// KindEstimate is the modelled completion of the job on one accepted kind
// (or a mixed set of kinds, when the job allows mixing families).
type KindEstimate struct {
	Kind      string `json:"kind"`
	Family    string `json:"family"`
	Placeable bool   `json:"placeable"`
	// FreeChips of the kind now; WaitSeconds until enough are expected free
	// (0 when placeable; +Inf when unknown).
	FreeChips   int     `json:"free_chips"`
	WaitSeconds float64 `json:"wait_s"`
	// Per step: compute, communication (placed, or its lower bound when not
	// placeable now), and their sum.
	ComputeSeconds float64 `json:"compute_s"`
	CommSeconds    float64 `json:"comm_s"`
	StepSeconds    float64 `json:"step_s"`
	// RunSeconds = steps × StepSeconds; FinishSeconds = WaitSeconds + RunSeconds.
	RunSeconds    float64 `json:"run_s"`
	FinishSeconds float64 `json:"finish_s"`
	Chosen        bool    `json:"chosen,omitempty"`
	Reason        string  `json:"reason,omitempty"`
	Detail        string  `json:"detail,omitempty"`
}

// Candidate is one domain the placement was evaluated in.
type Candidate struct {
	Kind      string  `json:"kind"`
	Domain    string  `json:"domain"`
	Level     string  `json:"level"`
	FreeChips int     `json:"free_chips"`
	Hosts     int     `json:"hosts"` // hosts the gang would use
	CommSec   float64 `json:"comm_s"`
	Ratio     float64 `json:"ratio"`
	Frag      float64 `json:"fragmentation"`
	Score     float64 `json:"score"`
	Reason    string  `json:"reason"`
	Detail    string  `json:"detail,omitempty"`
}

// MarshalJSON writes the decision with every infinite time or score (an
// unknown wait, a kind that cannot hold the gang) as -1, which JSON can
// carry.
func (d *Decision) MarshalJSON() ([]byte, error) {
	type plain Decision
	c := plain(*d)
	fix := func(x *float64) {
		if math.IsInf(*x, 0) || math.IsNaN(*x) {
			*x = -1
		}
	}
	fix(&c.Step.Seconds)
	fix(&c.LowerBound.Seconds)
	fix(&c.Ratio)
	fix(&c.Score)
	c.Kinds = slices.Clone(c.Kinds)
	for i := range c.Kinds {
		k := &c.Kinds[i]
		for _, x := range []*float64{&k.WaitSeconds, &k.ComputeSeconds, &k.CommSeconds, &k.StepSeconds, &k.RunSeconds, &k.FinishSeconds} {
			fix(x)
		}
	}
	c.Candidates = slices.Clone(c.Candidates)
	for i := range c.Candidates {
		k := &c.Candidates[i]
		for _, x := range []*float64{&k.CommSec, &k.Ratio, &k.Score, &k.Frag} {
			fix(x)
		}
	}
	return json.Marshal(c)
}
