package planner

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrInput is wrapped by every error caused by the request rather than by
// the planner: bad flags, unknown kinds, models that cannot fit, deadlines
// that cannot be met. The CLI maps it to exit code 2 with errors.Is.
var ErrInput = errors.New("bad planner input")

type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }
func (e *inputError) Unwrap() error { return ErrInput }

func inputErrorf(format string, args ...any) error {
	return &inputError{msg: fmt.Sprintf(format, args...)}
}

// UnknownKindError names a chip kind the planner does not know.
type UnknownKindError struct {
	Kind  string
	Known []string
}

func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("unknown chip kind %q; known kinds: %s (or describe the hardware in a pool file)", e.Kind, strings.Join(e.Known, ", "))
}

// Unwrap returns ErrInput.
func (e *UnknownKindError) Unwrap() error { return ErrInput }

// FitError says a model cannot fit in a kind's HBM at any parallelism the
// request allows. Smallest is the most sharded plan tried and its memory.
type FitError struct {
	Kind     string
	Model    string
	Smallest Parallelism
	Memory   Memory
	Fixes    []string
}

func (e *FitError) Error() string {
	m := e.Memory
	return fmt.Sprintf("%s on %s does not fit in HBM at any parallelism: the most sharded plan (TP %d, PP %d, DP %d, EP %d, micro-batch %d, recompute %s) needs %.1f GiB per chip (weights %.1f, gradients %.1f, optimizer %.1f, activations %.1f) but %s has %.0f GiB, %.1f GiB usable after the %.0f%% margin; to fix: %s",
		e.Model, e.Kind, e.Smallest.TP, e.Smallest.PP, e.Smallest.DP, e.Smallest.EP, e.Smallest.MicroBatch, e.Smallest.Recompute,
		m.TotalGiB, m.WeightsGiB, m.GradientsGiB, m.OptimizerGiB, m.ActivationsGiB, e.Kind, m.HBMGiB, m.UsableGiB,
		100*(1-m.UsableGiB/m.HBMGiB), strings.Join(e.Fixes, "; "))
}

// Unwrap returns ErrInput.
func (e *FitError) Unwrap() error { return ErrInput }

// DeadlineError says no plan on a kind finishes by the deadline. Best is
// the fastest plan found.
type DeadlineError struct {
	Kind     string
	Deadline time.Duration
	Best     *KindResult
	Reason   string
	Fixes    []string
}

func (e *DeadlineError) Error() string {
	s := fmt.Sprintf("no plan on %s finishes within %s", e.Kind, days(e.Deadline.Hours()/24))
	if e.Best != nil {
		s += fmt.Sprintf(": the fastest takes %s on %d chips (TP %d, PP %d, DP %d)", days(e.Best.WallDays),
			e.Best.Chips, e.Best.Plan.TP, e.Best.Plan.PP, e.Best.Plan.DP)
	}
	if e.Reason != "" {
		s += "; " + e.Reason
	}
	if len(e.Fixes) > 0 {
		s += "; to fix: " + strings.Join(e.Fixes, "; ")
	}
	return s
}

// Unwrap returns ErrInput.
func (e *DeadlineError) Unwrap() error { return ErrInput }

func days(d float64) string {
	if math.IsInf(d, 1) {
		return "forever (faults come faster than work is saved)"
	}
	return fmt.Sprintf("%.1f days", d)
}
