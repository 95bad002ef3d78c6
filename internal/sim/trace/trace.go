package trace

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is wrapped by every error about the content of a trace file.
var ErrInvalid = errors.New("invalid trace")

// Error locates a problem in a trace file. Line and Column count from 1;
// Column is in bytes, 0 when the problem concerns the whole line.
type Error struct {
	File   string
	Line   int
	Column int
	Field  string // column or JSON field name, when known
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	fmt.Fprintf(&b, ":%d", e.Line)
	if e.Column > 0 {
		fmt.Fprintf(&b, ":%d", e.Column)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// Node is one machine of a trace.
type Node struct {
	Name      string
	CPUMilli  int64
	MemoryMiB int64
	GPUs      int
	Model     string // GPU model; empty for CPU-only nodes
}

// Job is one unit of work: a pod of the openb trace or a line of a generic
// trace. A job takes GPUs whole chips (GPUMilli = 1000), a share of one chip
// (GPUs = 1, GPUMilli < 1000), or no chip (GPUs = 0).
type Job struct {
	Name      string
	Tenant    string
	Submit    int64 // seconds from the start of the trace
	Duration  int64 // seconds of run time; 0: runs until the end
	CPUMilli  int64
	MemoryMiB int64
	GPUs      int
	GPUMilli  int      // thousandths of each chip taken
	Models    []string // accepted GPU models; empty accepts any
}

// TotalMilli is the chip thousandths the job takes in all.
func (j *Job) TotalMilli() int64 { return int64(j.GPUs) * int64(j.GPUMilli) }

// Sharing reports whether the job takes a share of one chip.
func (j *Job) Sharing() bool { return j.GPUs == 1 && j.GPUMilli < 1000 }

// Limits applied by the readers, so that absurd input fails with a message.
const (
	MaxGPUsPerJob  = 64
	MaxGPUsPerNode = 64
	maxQuantity    = 1 << 40
)

func validJob(j *Job) (field, msg string) {
	switch {
	case j.CPUMilli < 0 || j.CPUMilli > maxQuantity:
		return "cpu_milli", fmt.Sprintf("%d is out of range (0 to %d)", j.CPUMilli, int64(maxQuantity))
	case j.MemoryMiB < 0 || j.MemoryMiB > maxQuantity:
		return "memory_mib", fmt.Sprintf("%d is out of range (0 to %d)", j.MemoryMiB, int64(maxQuantity))
	case j.GPUs < 0 || j.GPUs > MaxGPUsPerJob:
		return "gpus", fmt.Sprintf("%d is out of range (0 to %d)", j.GPUs, MaxGPUsPerJob)
	case j.GPUs > 0 && (j.GPUMilli < 1 || j.GPUMilli > 1000):
		return "gpu_milli", fmt.Sprintf("%d is out of range (1 to 1000 thousandths of a GPU)", j.GPUMilli)
	case j.GPUs > 1 && j.GPUMilli != 1000:
		return "gpu_milli", fmt.Sprintf("%d: a job of %d GPUs takes them whole (1000)", j.GPUMilli, j.GPUs)
	case j.Submit < 0 || j.Submit > maxQuantity:
		return "submit", fmt.Sprintf("%d is out of range (0 to %d seconds)", j.Submit, int64(maxQuantity))
	case j.Duration < 0 || j.Duration > maxQuantity:
		return "duration", fmt.Sprintf("%d is out of range (0 to %d seconds)", j.Duration, int64(maxQuantity))
	}
	return "", ""
}
