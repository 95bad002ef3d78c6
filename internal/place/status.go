package place

import "fmt"

// Reasons of statuses, per-kind estimates and candidate records:
// kebab-case constants, cheap to compare and count; the numbers and names
// behind one go in the Detail next to it. Where a scheduler plugin reports
// the same cause, it uses the same word.
const (
	// ReasonPlaced is the record of a successful placement.
	ReasonPlaced = "placed"
	// ReasonNoKind: the pool has none of the kinds the job accepts.
	ReasonNoKind = "no-accepted-kind"
	// ReasonBadRankSize: ranks or chips per rank are not a valid gang.
	ReasonBadRankSize = "invalid-rank-size"
	// ReasonInsufficient: too few free chips of an accepted kind.
	ReasonInsufficient = "insufficient-chips"
	// ReasonShapeOrHost: the chips are free but unusable under the shape
	// rules or the hosts' limits (CPU, memory, ranks, host filters).
	ReasonShapeOrHost = "shape-or-host-limits"
	// ReasonShortfall: the chips are free in aggregate but first fit
	// could not form enough ranks from them.
	ReasonShortfall = "domain-shortfall"
	// ReasonWaitFaster: waiting for a kind that finishes sooner than any
	// kind that could start now.
	ReasonWaitFaster = "waiting-for-faster-kind"
	// ReasonSlower: a candidate communicates slower than the chosen one.
	ReasonSlower = "slower-communication"
	// ReasonFragmentation: a candidate breaks more free blocks or fits
	// looser than the chosen one.
	ReasonFragmentation = "more-fragmentation"
	// ReasonTie: equal score, later in topology order.
	ReasonTie = "equal-score"
	// ReasonNotModelled: a feasible domain beyond the evaluation budget.
	ReasonNotModelled = "beyond-evaluation-budget"
	// ReasonSameClass: a free domain identical to one already evaluated.
	ReasonSameClass = "same-as-evaluated"
	// ReasonLaterFinish: a kind or candidate that finishes later.
	ReasonLaterFinish = "finishes-later"
	// ReasonNeedsWait: a kind that cannot start now.
	ReasonNeedsWait = "cannot-start-now"
	// ReasonChosen: the chosen kind or candidate.
	ReasonChosen = "chosen"
)

// Reasons lists every reason the package reports.
func Reasons() []string {
	return []string{ReasonPlaced, ReasonNoKind, ReasonBadRankSize, ReasonInsufficient, ReasonShapeOrHost, ReasonShortfall,
		ReasonWaitFaster, ReasonSlower, ReasonFragmentation, ReasonTie, ReasonNotModelled, ReasonSameClass,
		ReasonLaterFinish, ReasonNeedsWait, ReasonChosen, ReasonReplaced, ReasonNoRoomNear}
}

// Code says whether a gang that was not placed may be placed later.
type Code int

// The codes of a Status (the scheduler's adapter maps them to its codes of
// the same name).
const (
	// Unschedulable: not now; the pool could hold the gang when chips
	// free up.
	Unschedulable Code = 1
	// Unresolvable: never, as specified (the pool could not hold it even
	// empty).
	Unresolvable Code = 2
)

func (c Code) String() string {
	switch c {
	case Unschedulable:
		return "unschedulable"
	case Unresolvable:
		return "unresolvable"
	}
	return fmt.Sprintf("code(%d)", int(c))
}

// Status says why a gang was not placed: a Reason constant and the detail
// (how much, where).
type Status struct {
	Code   Code
	Reason string
	Detail string
}

func (s *Status) String() string {
	if s == nil {
		return "placed"
	}
	if s.Detail == "" {
		return fmt.Sprintf("%s (%s)", s.Reason, s.Code)
	}
	return fmt.Sprintf("%s: %s (%s)", s.Reason, s.Detail, s.Code)
}

// Record is one line of a decision's explanation (see Decision.Records).
type Record struct {
	Reason string
	Detail string
	Score  float64
	Count  int // how many candidates or domains gave this reason
}
