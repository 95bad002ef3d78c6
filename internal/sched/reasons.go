package sched

import (
	"regexp"
	"slices"
)

// Reasons are short kebab-case constants, cheap to compare and to count in
// metrics labels; the numbers and names of one decision go in Detail. The
// same cause has the same word in every plugin: a host too full for a rank
// is "insufficient-chips" whether the fits filter or a placer finds it.
const (
	// The cycle (PluginCycle).
	ReasonRunning       = "already-running"
	ReasonNotConsidered = "not-considered"
	ReasonPlaced        = "placed"
	ReasonNoPlacement   = "no-placement"      // a Place plugin returned neither placement nor status: a bug
	ReasonBadPlacement  = "invalid-placement" // a Place plugin returned a placement that does not fit: a bug
	ReasonHostNotReady  = "host-not-ready"

	// Graded recovery (PluginRecovery).
	ReasonReplaceSubset = "replace-subset" // the lost ranks go next to the survivors
	ReasonReplaceWhole  = "replace-whole"  // no room next to the survivors: the whole gang is placed again
	ReasonRecoveryWait  = "waiting-for-room"

	// Static feasibility (NeverFits): no state of the pool could hold the job.
	ReasonNoKind     = "no-accepted-kind"
	ReasonTooLarge   = "larger-than-pool"
	ReasonShape      = "shape"
	ReasonHostCPU    = "host-cpu"
	ReasonHostMemory = "host-memory"

	// Quotas (Quotas.Check, the quota plugin's Admit and PostPlace).
	ReasonBorrowLimit = "borrow-limit"
	ReasonNoLendable  = "no-lendable-capacity"

	// Reservations and backfill (PluginBackfill).
	ReasonReserved      = "reserved"
	ReasonNoReservation = "no-reservation"
	ReasonDelays        = "would-delay-reservation"

	// Preemption (PluginPreemption).
	ReasonWaitEvictions = "waiting-for-evictions"
	ReasonPreempting    = "preempting"
	ReasonEvicted       = "evicted"
	ReasonNoVictims     = "no-victims"
	ReasonPriority      = "priority" // an eviction's reason: a higher-priority job of the queue
	ReasonReclaim       = "reclaim"  // an eviction's reason: the preemptor's queue reclaims its guarantee
)

// Plugin names of the stages the cycle driver runs itself.
const (
	PluginCycle      = "cycle"
	PluginBackfill   = "backfill"
	PluginPreemption = "preemption"
	PluginQuota      = "quota" // Quotas.Check's statuses; the quota plugin's name
	PluginRecovery   = "recovery"
)

// reasons lists every reason constant of this package, for Reasons.
var reasons = []string{
	ReasonRunning, ReasonNotConsidered, ReasonPlaced, ReasonNoPlacement, ReasonBadPlacement, ReasonHostNotReady,
	ReasonReplaceSubset, ReasonReplaceWhole, ReasonRecoveryWait,
	ReasonNoKind, ReasonTooLarge, ReasonShape, ReasonHostCPU, ReasonHostMemory,
	ReasonBorrowLimit, ReasonNoLendable,
	ReasonReserved, ReasonNoReservation, ReasonDelays,
	ReasonWaitEvictions, ReasonPreempting, ReasonEvicted, ReasonNoVictims, ReasonPriority, ReasonReclaim,
}

// Reasons returns every reason the cycle driver and the quotas give, sorted.
// Plugin packages export their own lists (plugins.Reasons, score.Reasons);
// a test walks them all and checks each is kebab-case.
func Reasons() []string {
	out := slices.Clone(reasons)
	slices.Sort(out)
	return out
}

var kebab = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// IsKebab reports whether a reason is kebab-case: lower-case words of
// letters and digits joined by single hyphens.
func IsKebab(reason string) bool { return kebab.MatchString(reason) }
