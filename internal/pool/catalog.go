package pool

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Collective library families. A gang never mixes families unless the job
// says it can.
const (
	FamilyHCCL = "HCCL"
	FamilyNCCL = "NCCL"
)

// ChipKind describes one accelerator model. Bandwidths are per chip and per
// direction. Values a vendor does not publish are marked in Estimated by
// their YAML field name, so users know which to correct.
type ChipKind struct {
	Name         string   `yaml:"name" json:"name"`
	Vendor       string   `yaml:"vendor" json:"vendor"`
	BF16TFLOPS   float64  `yaml:"bf16TFLOPS" json:"bf16_tflops"`
	FP8TFLOPS    float64  `yaml:"fp8TFLOPS,omitempty" json:"fp8_tflops,omitempty"` // 0: no FP8 support
	HBMGiB       float64  `yaml:"hbmGiB" json:"hbm_gib"`
	HBMTBps      float64  `yaml:"hbmTBps" json:"hbm_tbps"`
	ScaleUpGBps  float64  `yaml:"scaleUpGBps" json:"scale_up_gbps"`   // per chip, one direction
	ScaleOutGbps float64  `yaml:"scaleOutGbps" json:"scale_out_gbps"` // per chip NIC, one direction
	PowerW       float64  `yaml:"powerW" json:"power_w"`
	Collective   string   `yaml:"collective" json:"collective"` // FamilyHCCL or FamilyNCCL
	Estimated    []string `yaml:"estimated,omitempty" json:"estimated,omitempty"`
}

// IsEstimated reports whether the named field (its YAML name) is an estimate.
func (k ChipKind) IsEstimated(field string) bool {
	for _, f := range k.Estimated {
		if f == field {
			return true
		}
	}
	return false
}

// Validate reports what is wrong with a kind, as (field, message) pairs with
// the field's YAML name.
func (k ChipKind) Validate() [][2]string {
	var out [][2]string
	if !ValidName(k.Name) {
		out = append(out, [2]string{"name", fmt.Sprintf("%q is not a valid kind name (letters, digits, '-', '_', '.'; 1 to 63 characters)", k.Name)})
	}
	pos := func(field string, v float64, max float64) {
		if !(v > 0) || v > max {
			out = append(out, [2]string{field, fmt.Sprintf("%g is out of range (more than 0, at most %g)", v, max)})
		}
	}
	pos("bf16TFLOPS", k.BF16TFLOPS, 1e6)
	if k.FP8TFLOPS < 0 || k.FP8TFLOPS > 1e6 {
		out = append(out, [2]string{"fp8TFLOPS", fmt.Sprintf("%g is out of range (0 for none, at most 1e6)", k.FP8TFLOPS)})
	}
	pos("hbmGiB", k.HBMGiB, 1e5)
	pos("hbmTBps", k.HBMTBps, 1e4)
	pos("scaleUpGBps", k.ScaleUpGBps, 1e6)
	pos("scaleOutGbps", k.ScaleOutGbps, 1e6)
	pos("powerW", k.PowerW, 1e5)
	if k.Collective != FamilyHCCL && k.Collective != FamilyNCCL {
		out = append(out, [2]string{"collective", fmt.Sprintf("%q is not a collective family (allowed: %s, %s)", k.Collective, FamilyHCCL, FamilyNCCL)})
	}
	for _, e := range k.Estimated {
		if !kindFields[e] {
			out = append(out, [2]string{"estimated", fmt.Sprintf("%q is not a field of a chip kind (allowed: %s)", e, strings.Join(slices.Sorted(maps.Keys(kindFields)), ", "))})
		}
	}
	return out
}

var kindFields = map[string]bool{"bf16TFLOPS": true, "fp8TFLOPS": true, "hbmGiB": true, "hbmTBps": true,
	"scaleUpGBps": true, "scaleOutGbps": true, "powerW": true}

// ValidName reports whether s can name a chip kind, level, pool or template:
// letters, digits, '-', '_' and '.', 1 to 63 characters.
func ValidName(s string) bool {
	if len(s) == 0 || len(s) > 63 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		default:
			return false
		}
	}
	return true
}

// Catalog is a set of chip kinds by name. The zero value is empty; use
// DefaultCatalog for the built-in kinds. A Catalog is not safe for concurrent
// mutation; lookups on a catalog nobody mutates are safe.
type Catalog struct {
	kinds map[string]ChipKind
}

// builtin lists the kinds Qun knows out of the box, from public figures
// (see shared HARDWARE.md and docs/pool-format.md for sources). HBM sizes
// are the vendors' marketed figures, which for HBM are binary gigabytes.
var builtin = []ChipKind{
	{Name: "H100", Vendor: "NVIDIA", BF16TFLOPS: 989, FP8TFLOPS: 1979, HBMGiB: 80, HBMTBps: 3.35,
		ScaleUpGBps: 450, ScaleOutGbps: 400, PowerW: 700, Collective: FamilyNCCL},
	{Name: "H200", Vendor: "NVIDIA", BF16TFLOPS: 989, FP8TFLOPS: 1979, HBMGiB: 141, HBMTBps: 4.8,
		ScaleUpGBps: 450, ScaleOutGbps: 400, PowerW: 700, Collective: FamilyNCCL},
	{Name: "H20", Vendor: "NVIDIA", BF16TFLOPS: 148, FP8TFLOPS: 296, HBMGiB: 96, HBMTBps: 4.0,
		ScaleUpGBps: 450, ScaleOutGbps: 400, PowerW: 400, Collective: FamilyNCCL,
		Estimated: []string{"bf16TFLOPS", "fp8TFLOPS", "scaleOutGbps", "powerW"}},
	{Name: "910", Vendor: "Huawei", BF16TFLOPS: 256, HBMGiB: 32, HBMTBps: 1.2,
		ScaleUpGBps: 30, ScaleOutGbps: 100, PowerW: 310, Collective: FamilyHCCL,
		Estimated: []string{"bf16TFLOPS", "hbmTBps", "scaleUpGBps", "powerW"}},
	{Name: "910B", Vendor: "Huawei", BF16TFLOPS: 313, HBMGiB: 64, HBMTBps: 1.6,
		ScaleUpGBps: 196, ScaleOutGbps: 200, PowerW: 400, Collective: FamilyHCCL,
		Estimated: []string{"bf16TFLOPS", "hbmTBps", "scaleUpGBps", "scaleOutGbps", "powerW"}},
	{Name: "910C", Vendor: "Huawei", BF16TFLOPS: 752, HBMGiB: 128, HBMTBps: 3.2,
		ScaleUpGBps: 392, ScaleOutGbps: 400, PowerW: 850, Collective: FamilyHCCL,
		Estimated: []string{"powerW"}},
	{Name: "950DT", Vendor: "Huawei", BF16TFLOPS: 500, FP8TFLOPS: 1000, HBMGiB: 144, HBMTBps: 4.0,
		ScaleUpGBps: 1000, ScaleOutGbps: 400, PowerW: 1000, Collective: FamilyHCCL,
		Estimated: []string{"bf16TFLOPS", "scaleUpGBps", "scaleOutGbps", "powerW"}},
}

// DefaultCatalog returns a new catalog holding the built-in kinds.
func DefaultCatalog() *Catalog {
	c := &Catalog{kinds: make(map[string]ChipKind, len(builtin))}
	for _, k := range builtin {
		k.Estimated = append([]string(nil), k.Estimated...)
		c.kinds[k.Name] = k
	}
	return c
}

// Lookup returns the kind with the given name. Names are case-sensitive.
func (c *Catalog) Lookup(name string) (ChipKind, bool) {
	k, ok := c.kinds[name]
	return k, ok
}

// Add adds a user-defined kind. It fails if the kind is invalid or its name
// is taken.
func (c *Catalog) Add(k ChipKind) error {
	if probs := k.Validate(); len(probs) > 0 {
		return fmt.Errorf("chip kind %q: %s: %s", k.Name, probs[0][0], probs[0][1])
	}
	if _, ok := c.kinds[k.Name]; ok {
		return fmt.Errorf("chip kind %q is already defined", k.Name)
	}
	if c.kinds == nil {
		c.kinds = map[string]ChipKind{}
	}
	c.kinds[k.Name] = k
	return nil
}

// Names returns the kind names in sorted order.
func (c *Catalog) Names() []string {
	out := make([]string, 0, len(c.kinds))
	for n := range c.kinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Clone returns an independent copy.
func (c *Catalog) Clone() *Catalog {
	out := &Catalog{kinds: make(map[string]ChipKind, len(c.kinds))}
	for n, k := range c.kinds {
		k.Estimated = append([]string(nil), k.Estimated...)
		out.kinds[n] = k
	}
	return out
}
