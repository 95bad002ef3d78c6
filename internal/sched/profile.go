package sched

import "time"

// Profile is a configured scheduler: which plugins run at each stage (in
// the order the cycle runs them: QueueSort, Admit, Place with its
// Filters and Scores, PostPlace), with which weights, and the policies of
// the cycle driver. Profiles are built
// from a ProfileSpec by a Registry; an unknown plugin name fails at start-up.
type Profile struct {
	Name       string
	QueueSort  QueueSort
	Admit      []Admit
	Filters    []HostFilter
	Scores     []WeightedScore
	Place      Place
	PostPlace  []PostPlace
	Backfill   BackfillConfig
	Preemption PreemptionConfig
	FairShare  FairShareConfig
}

// WeightedScore is a host scorer with its weight in the profile.
type WeightedScore struct {
	Plugin HostScore
	Weight float64
}

// BackfillConfig controls reservations for blocked jobs.
type BackfillConfig struct {
	// Mode is "easy" (only reservations bind backfilled jobs), "conservative"
	// (every blocked job gets a reservation) or "off".
	Mode string
	// ReserveTop is how many blocked jobs get reservations in easy mode.
	ReserveTop int
	// DefaultDuration is assumed for jobs that give none. With none, a job
	// without a duration never ends as far as reservations are concerned.
	DefaultDuration time.Duration
	// OverrunGrace is how long a job that has outlived its expected
	// duration is still assumed to run, counted from now: its expected end
	// is max(start + duration, now + OverrunGrace). Zero means one minute.
	OverrunGrace time.Duration
}

// PreemptionConfig controls evictions.
type PreemptionConfig struct {
	Enabled bool
	Grace   time.Duration // time a victim gets to checkpoint
	// MaxAttempts caps how many blocked jobs may look for victims in one
	// cycle; 0 means 16.
	MaxAttempts int
}

// FairShareConfig controls how historical usage counts in fair share.
type FairShareConfig struct {
	HalfLife time.Duration // 0: only current usage counts
}
