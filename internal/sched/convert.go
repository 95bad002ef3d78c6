package sched

import (
	"time"

	"github.com/qunhq/qun/internal/job"
)

// FromSpec converts a normalized, valid job spec into the scheduler's view
// of a pending job.
func FromSpec(id string, spec *job.Spec, submitted time.Time) *Job {
	return &Job{
		ID:                 id,
		Queue:              spec.Queue,
		Priority:           spec.Priority,
		Submitted:          submitted,
		Ranks:              spec.RankCount(),
		RankMilli:          spec.RankMilli(),
		CPUMilli:           spec.CPUMilliPerRank,
		MemoryMiB:          spec.MemoryMiBPerRank,
		Kinds:              append([]string(nil), spec.Accept.Kinds...),
		MinHBMGiB:          spec.Accept.MinHBMGiB,
		MixFamilies:        spec.Accept.MixFamilies,
		Plan:               spec.Plan(),
		Volumes:            spec.Communication,
		Duration:           time.Duration(spec.Duration),
		CheckpointInterval: time.Duration(spec.Checkpoint.Interval),
	}
}

// SpecField names the job spec field a NeverFits reason is about, for
// errors that point at the spec.
func SpecField(reason string) string {
	switch reason {
	case ReasonNoKind:
		return "accept"
	case ReasonShape:
		return "chipsPerRank"
	case ReasonHostCPU:
		return "cpuMilliPerRank"
	case ReasonHostMemory:
		return "memoryMiBPerRank"
	}
	return "chips"
}
