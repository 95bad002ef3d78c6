package planner

import (
	"errors"
	"time"

	"github.com/qunhq/qun/internal/pool"
)

// CompareRequest is `qun plan --compare`: several models on several kinds,
// side by side. Zero fields take the defaults in their comments.
type CompareRequest struct {
	Models            []Model       // --model (repeatable); default dense-70b and moe-671b
	Kinds             []string      // --kind (repeatable); default 910B, 910C, H20, H100
	Tokens            float64       // --tokens; default 15T
	Deadline          time.Duration // --deadline; default 30 days (used unless Chips is set)
	Chips             int           // --chips: compare time to finish on this many chips instead
	GlobalBatchTokens float64       // --global-batch-tokens
	PricePerChipHour  float64       // --price
	Assumptions       *Assumptions
	Catalog           *pool.Catalog
	Comm              CommEstimator
}

// Comparison is one Result per model.
type Comparison struct {
	Results []*Result `json:"models"`
}

// Compare defaults.
var (
	DefaultCompareModels = []string{"dense-70b", "moe-671b"}
	DefaultCompareKinds  = []string{"910B", "910C", "H20", "H100"}
)

const (
	defaultCompareTokens   = 15e12
	defaultCompareDeadline = 30 * 24 * time.Hour
)

// Compare plans every model on every kind. Like Plan, per-kind failures are
// recorded in the results and joined into the error; a request error
// returns a nil Comparison.
func Compare(req CompareRequest) (*Comparison, error) {
	if len(req.Models) == 0 {
		for _, n := range DefaultCompareModels {
			m, _ := Preset(n)
			req.Models = append(req.Models, m)
		}
	}
	if len(req.Kinds) == 0 {
		req.Kinds = DefaultCompareKinds
	}
	if req.Tokens == 0 {
		req.Tokens = defaultCompareTokens
	}
	if req.Deadline == 0 && req.Chips == 0 {
		req.Deadline = defaultCompareDeadline
	}
	if req.Chips > 0 {
		req.Deadline = 0
	}
	if req.Comm == nil {
		req.Comm = &CommModel{}
	}
	targets := make([]Target, len(req.Kinds))
	for i, k := range req.Kinds {
		targets[i] = Target{Kind: k}
	}
	out := &Comparison{}
	var errs []error
	for _, m := range req.Models {
		res, err := Plan(Request{Model: m, Tokens: req.Tokens, Targets: targets, Chips: req.Chips, Deadline: req.Deadline,
			GlobalBatchTokens: req.GlobalBatchTokens, PricePerChipHour: req.PricePerChipHour,
			Assumptions: req.Assumptions, Catalog: req.Catalog, Comm: req.Comm})
		if res == nil {
			return nil, err
		}
		out.Results = append(out.Results, res)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return out, errors.Join(errs...)
}
