package sim

import (
	"fmt"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sim/trace"
)

// DefaultMaxPods is the pod capacity of a trace node: the FGD artifact's
// node files declare 1001 pods per node (far above what CPU and memory
// allow), not the Kubernetes default of 110.
const DefaultMaxPods = 1001

// openbKinds are the GPU models of the openb trace, from public figures.
// G2 and G3 are undisclosed models; their figures are placeholders marked
// as estimates. The simulator only needs their names.
var openbKinds = map[string]pool.ChipKind{
	"T4":      {Vendor: "NVIDIA", BF16TFLOPS: 65, HBMGiB: 16, HBMTBps: 0.32, PowerW: 70},
	"P100":    {Vendor: "NVIDIA", BF16TFLOPS: 18.7, HBMGiB: 16, HBMTBps: 0.73, PowerW: 250},
	"V100M16": {Vendor: "NVIDIA", BF16TFLOPS: 125, HBMGiB: 16, HBMTBps: 0.9, PowerW: 300},
	"V100M32": {Vendor: "NVIDIA", BF16TFLOPS: 125, HBMGiB: 32, HBMTBps: 0.9, PowerW: 300},
	"A10":     {Vendor: "NVIDIA", BF16TFLOPS: 125, HBMGiB: 24, HBMTBps: 0.6, PowerW: 150},
}

// kindFor returns a chip kind for a trace GPU model.
func kindFor(model string) pool.ChipKind {
	k, known := openbKinds[model]
	if !known {
		k = pool.ChipKind{Vendor: "unknown", BF16TFLOPS: 100, HBMGiB: 32, HBMTBps: 1, PowerW: 300,
			Estimated: []string{"bf16TFLOPS", "hbmGiB", "hbmTBps", "powerW"}}
	}
	k.Name = model
	k.ScaleUpGBps, k.ScaleOutGbps, k.Collective = 32, 25, pool.FamilyNCCL
	k.Estimated = append(k.Estimated, "scaleUpGBps", "scaleOutGbps")
	return k
}

// BuildPool turns trace nodes into a pool: one cluster of hosts, each with
// its CPU, memory, pod capacity (maxPods ranks) and GPUs as chips of a kind
// named after the GPU model. Hosts keep the nodes' names and order.
func BuildPool(name string, nodes []trace.Node, maxPods int) (*pool.Topology, error) {
	f := &pool.File{APIVersion: "qun/v1", Kind: "Pool", Name: name,
		Levels: []pool.LevelSpec{
			{Name: "cluster", BandwidthGBps: 1},
			{Name: "node", Host: true, BandwidthGBps: 32},
		},
		Root: pool.DomainSpec{Name: name, Level: "cluster"},
	}
	seen := map[string]bool{}
	cat := pool.DefaultCatalog()
	for _, n := range nodes {
		d := pool.DomainSpec{Name: n.Name, Level: "node", CPUMilli: n.CPUMilli, MemoryMiB: n.MemoryMiB, MaxRanks: maxPods}
		if n.GPUs > 0 {
			if !seen[n.Model] {
				seen[n.Model] = true
				if _, builtin := cat.Lookup(n.Model); !builtin {
					f.ChipKinds = append(f.ChipKinds, kindFor(n.Model))
				}
			}
			d.Chips = &pool.ChipsSpec{Kind: n.Model, Count: n.GPUs}
		}
		f.Root.Children = append(f.Root.Children, d)
	}
	t, err := pool.Build(f, cat, nil)
	if err != nil {
		return nil, fmt.Errorf("build pool from trace nodes: %w", err)
	}
	return t, nil
}
