package planner

import "github.com/qunhq/qun/internal/pool"

// Planner-local chip kinds used to reproduce published runs. They are not
// in the pool catalog because no Qun pool is expected to hold them; a user
// may still plan on them by name.
var localKinds = []pool.ChipKind{
	// H800: the export variant of H100 SXM, same compute and HBM, NVLink cut
	// to 400 GB/s bidirectional (200 GB/s per direction). DeepSeek-V3's
	// cluster: 8 GPUs per node, one 400 Gb/s InfiniBand NIC per GPU.
	{Name: "H800", Vendor: "NVIDIA", BF16TFLOPS: 989, FP8TFLOPS: 1979, HBMGiB: 80, HBMTBps: 3.35,
		ScaleUpGBps: 200, ScaleOutGbps: 400, PowerW: 700, Collective: pool.FamilyNCCL},
	// A100 SXM4 80GB: 312 dense BF16 TFLOPS, NVLink3 600 GB/s bidirectional
	// (300 per direction), 400 W; 200 Gb/s HDR NIC per GPU as in DGX A100.
	// Used for MegaScale (NVIDIA Ampere GPUs).
	{Name: "A100", Vendor: "NVIDIA", BF16TFLOPS: 312, HBMGiB: 80, HBMTBps: 2.04,
		ScaleUpGBps: 300, ScaleOutGbps: 200, PowerW: 400, Collective: pool.FamilyNCCL},
}

// Catalog returns the pool's default catalog plus the planner-local kinds
// (H800, A100). The result is the caller's to modify.
func Catalog() *pool.Catalog {
	c := pool.DefaultCatalog()
	for _, k := range localKinds {
		if _, ok := c.Lookup(k.Name); !ok {
			_ = c.Add(k) // valid by construction; a test checks
		}
	}
	return c
}
