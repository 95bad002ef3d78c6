package trace

import (
	"fmt"
	"math"
	"math/rand"
)

// Shape is one kind of job in a synthetic workload.
type Shape struct {
	Weight    float64 // relative frequency
	GPUs      int
	GPUMilli  int // per GPU; 1000 for whole chips
	CPUMilli  int64
	MemoryMiB int64
}

// Tenant is one submitter of a synthetic workload.
type Tenant struct {
	Name   string
	Weight float64 // share of the jobs
}

// Synthetic describes a generated workload: Poisson arrivals, job shapes
// drawn by weight, log-normal run times.
type Synthetic struct {
	Jobs            int
	ArrivalsPerHour float64
	MedianSeconds   float64 // median run time
	Sigma           float64 // log-normal shape of run times
	Shapes          []Shape
	Tenants         []Tenant
}

// DefaultSynthetic is the embedded workload used when no trace is given:
// 2,000 jobs arriving at 110 an hour on DefaultNodes, a third of them sharing
// a GPU, with three tenants of unequal size.
func DefaultSynthetic() Synthetic {
	return Synthetic{
		Jobs:            2000,
		ArrivalsPerHour: 110,
		MedianSeconds:   3600,
		Sigma:           1.2,
		Shapes: []Shape{
			{Weight: 10, GPUs: 0, CPUMilli: 8000, MemoryMiB: 16384},
			{Weight: 12, GPUs: 1, GPUMilli: 250, CPUMilli: 4000, MemoryMiB: 16384},
			{Weight: 12, GPUs: 1, GPUMilli: 500, CPUMilli: 6000, MemoryMiB: 24576},
			{Weight: 36, GPUs: 1, GPUMilli: 1000, CPUMilli: 8000, MemoryMiB: 32768},
			{Weight: 12, GPUs: 2, GPUMilli: 1000, CPUMilli: 16000, MemoryMiB: 65536},
			{Weight: 10, GPUs: 4, GPUMilli: 1000, CPUMilli: 32000, MemoryMiB: 131072},
			{Weight: 8, GPUs: 8, GPUMilli: 1000, CPUMilli: 64000, MemoryMiB: 262144},
		},
		Tenants: []Tenant{{Name: "research", Weight: 5}, {Name: "product", Weight: 3}, {Name: "batch", Weight: 2}},
	}
}

// DefaultNodes is the pool of the embedded workload: 32 nodes of 8 GPUs
// ("G8") and 32 of 2 ("G2S"), 320 GPUs in all.
func DefaultNodes() []Node {
	var out []Node
	for i := range 32 {
		out = append(out, Node{Name: fmt.Sprintf("big-%02d", i), CPUMilli: 96000, MemoryMiB: 786432, GPUs: 8, Model: "G8"})
	}
	for i := range 32 {
		out = append(out, Node{Name: fmt.Sprintf("small-%02d", i), CPUMilli: 32000, MemoryMiB: 131072, GPUs: 2, Model: "G2S"})
	}
	return out
}

// Validate reports the first problem of a synthetic description.
func (s Synthetic) Validate() error {
	switch {
	case s.Jobs < 1 || s.Jobs > 10_000_000:
		return fmt.Errorf("%w: jobs: %d is out of range (1 to 10000000)", ErrInvalid, s.Jobs)
	case !(s.ArrivalsPerHour > 0):
		return fmt.Errorf("%w: arrivals per hour must be positive", ErrInvalid)
	case !(s.MedianSeconds > 0) || s.Sigma < 0:
		return fmt.Errorf("%w: run times need a positive median and a non-negative sigma", ErrInvalid)
	case len(s.Shapes) == 0 || len(s.Tenants) == 0:
		return fmt.Errorf("%w: at least one shape and one tenant are needed", ErrInvalid)
	}
	for i, sh := range s.Shapes {
		j := Job{Name: "x", GPUs: sh.GPUs, GPUMilli: sh.GPUMilli, CPUMilli: sh.CPUMilli, MemoryMiB: sh.MemoryMiB}
		if field, msg := validJob(&j); field != "" || !(sh.Weight > 0) {
			if field == "" {
				field, msg = "weight", "must be positive"
			}
			return fmt.Errorf("%w: shapes[%d].%s: %s", ErrInvalid, i, field, msg)
		}
	}
	for i, t := range s.Tenants {
		if t.Name == "" || !(t.Weight > 0) {
			return fmt.Errorf("%w: tenants[%d]: a name and a positive weight are needed", ErrInvalid, i)
		}
	}
	return nil
}

// Generate draws the workload with rng. The same rng state gives the same
// jobs.
func (s Synthetic) Generate(rng *rand.Rand) ([]Job, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	pick := func(ws []float64) int {
		var total float64
		for _, w := range ws {
			total += w
		}
		x := rng.Float64() * total
		for i, w := range ws {
			if x < w {
				return i
			}
			x -= w
		}
		return len(ws) - 1
	}
	shapeW := make([]float64, len(s.Shapes))
	for i, sh := range s.Shapes {
		shapeW[i] = sh.Weight
	}
	tenantW := make([]float64, len(s.Tenants))
	for i, t := range s.Tenants {
		tenantW[i] = t.Weight
	}
	out := make([]Job, 0, s.Jobs)
	var t float64
	for i := range s.Jobs {
		t += rng.ExpFloat64() * 3600 / s.ArrivalsPerHour
		sh := s.Shapes[pick(shapeW)]
		d := s.MedianSeconds * math.Exp(s.Sigma*rng.NormFloat64())
		out = append(out, Job{
			Name:      fmt.Sprintf("syn-%06d", i),
			Tenant:    s.Tenants[pick(tenantW)].Name,
			Submit:    int64(t),
			Duration:  max(1, int64(d)),
			CPUMilli:  sh.CPUMilli,
			MemoryMiB: sh.MemoryMiB,
			GPUs:      sh.GPUs,
			GPUMilli:  sh.GPUMilli,
		})
	}
	return out, nil
}
