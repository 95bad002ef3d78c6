package planner

import (
	"fmt"
	"os"
	"time"

	"github.com/qunhq/qun/internal/strictyaml"
)

// Overlap is the fraction of each dimension's communication that a
// training stack hides behind compute (0 = fully exposed, 1 = fully hidden).
type Overlap struct {
	Tensor   float64 `json:"tensor" yaml:"tensor"`
	Pipeline float64 `json:"pipeline" yaml:"pipeline"`
	Data     float64 `json:"data" yaml:"data"`
	Expert   float64 `json:"expert" yaml:"expert"`
}

// Assumptions are every number the planner does not derive. Each is
// printed with its value and source, and each can be set by flag or by an
// assumptions file (LoadAssumptions). Zero values are not "unset": start
// from DefaultAssumptions.
type Assumptions struct {
	// Efficiency is the achieved fraction of BF16 peak for the matrix work of
	// training, per chip kind (--efficiency KIND=F); kinds not listed use
	// DefaultEfficiency (--efficiency F).
	Efficiency        map[string]float64 `json:"efficiency" yaml:"efficiency"`
	DefaultEfficiency float64            `json:"default_efficiency" yaml:"defaultEfficiency"`
	Overlap           Overlap            `json:"overlap" yaml:"overlap"`                                    // --overlap-tp, --overlap-pp, --overlap-dp, --overlap-ep
	PUE               float64            `json:"pue" yaml:"pue"`                                            // --pue
	PowerFraction     float64            `json:"power_fraction" yaml:"powerFraction"`                       // --power-fraction: average draw / rated power
	ChipMTBFHours     float64            `json:"chip_mtbf_hours" yaml:"chipMTBFHours"`                      // --chip-mtbf-hours
	RepairHours       float64            `json:"repair_hours" yaml:"repairHours"`                           // --repair-hours: mean time a broken host is out
	SparePercentile   float64            `json:"spare_percentile" yaml:"sparePercentile"`                   // --spare-percentile
	Restart           time.Duration      `json:"restart_ns" yaml:"-"`                                       // --restart (file: restart: 10m)
	CheckpointGBps    float64            `json:"checkpoint_gbps" yaml:"checkpointGBps"`                     // --checkpoint-gbps: aggregate write bandwidth
	CheckpointBytesPP float64            `json:"checkpoint_bytes_per_param" yaml:"checkpointBytesPerParam"` // --checkpoint-bytes-per-param
	HBMMargin         float64            `json:"hbm_margin" yaml:"hbmMargin"`                               // --hbm-margin: fraction of HBM kept free
	ZeRO              int                `json:"zero" yaml:"zero"`                                          // --zero: 0 or 1
	MaxInterleave     int                `json:"max_interleave" yaml:"maxInterleave"`                       // --max-interleave: virtual pipeline stages per chip
	DispatchBytes     float64            `json:"dispatch_bytes" yaml:"dispatchBytes"`                       // --dispatch-bytes: bytes per element of MoE dispatch (2 BF16, 1 FP8)
	ScaleUpDomain     map[string]int     `json:"scale_up_domain" yaml:"scaleUpDomain"`                      // --scale-up-domain KIND=N
	Oversubscription  float64            `json:"oversubscription" yaml:"oversubscription"`                  // --oversubscription
	ScaleUpLatencyUs  float64            `json:"scale_up_latency_us" yaml:"scaleUpLatencyUs"`               // --scale-up-latency-us
	ScaleOutLatencyUs float64            `json:"scale_out_latency_us" yaml:"scaleOutLatencyUs"`             // --scale-out-latency-us
}

// calibratedH100 is the achieved fraction of peak fitted to the Llama 3
// 405B run (see Validate; a test keeps this constant equal to the fit).
const calibratedH100 = 0.657

// OverlappedByDesign is the overlap fraction the planner uses for a
// dimension whose communication a published stack overlaps by design
// (data-parallel gradient reduction in every modern stack; tensor
// parallelism in MegaScale; expert all-to-all in DeepSeek's DualPipe).
const OverlappedByDesign = 0.9

// DefaultAssumptions returns the defaults documented in docs/planner.md.
func DefaultAssumptions() Assumptions {
	return Assumptions{
		Efficiency:        map[string]float64{"H100": calibratedH100},
		DefaultEfficiency: calibratedH100,
		Overlap:           Overlap{Tensor: 0, Pipeline: 0.5, Data: OverlappedByDesign, Expert: 0},
		PUE:               1.2,
		PowerFraction:     1.0,
		ChipMTBFHours:     50700,
		RepairHours:       48,
		SparePercentile:   0.99,
		Restart:           10 * time.Minute,
		CheckpointGBps:    1000,
		CheckpointBytesPP: weightBytes + optimizerBytes,
		HBMMargin:         0.10,
		ZeRO:              1,
		MaxInterleave:     4,
		DispatchBytes:     2,
		ScaleUpDomain: map[string]int{"H100": 8, "H200": 8, "H800": 8, "H20": 8, "A100": 8,
			"910": 8, "910B": 8, "910C": 384, "950DT": 8192},
		Oversubscription:  1,
		ScaleUpLatencyUs:  2,
		ScaleOutLatencyUs: 10,
	}
}

// Clone returns a copy that shares no maps with a.
func (a Assumptions) Clone() Assumptions {
	out := a
	out.Efficiency = make(map[string]float64, len(a.Efficiency))
	for k, v := range a.Efficiency {
		out.Efficiency[k] = v
	}
	out.ScaleUpDomain = make(map[string]int, len(a.ScaleUpDomain))
	for k, v := range a.ScaleUpDomain {
		out.ScaleUpDomain[k] = v
	}
	return out
}

// EfficiencyFor returns the achieved fraction of peak for a kind and where
// it comes from.
func (a Assumptions) EfficiencyFor(kind string) (float64, string) {
	if e, ok := a.Efficiency[kind]; ok {
		if kind == "H100" && e == calibratedH100 {
			return e, "calibrated on llama3-405b MFU"
		}
		return e, "set for this kind"
	}
	if a.DefaultEfficiency == calibratedH100 {
		return a.DefaultEfficiency, "not calibrated for this kind: H100 calibration carried over"
	}
	return a.DefaultEfficiency, "default"
}

// Validate reports the first assumption out of range, naming its flag.
func (a Assumptions) Validate() error {
	frac := func(flag string, v float64) error {
		if v < 0 || v > 1 {
			return inputErrorf("%s %g must be between 0 and 1", flag, v)
		}
		return nil
	}
	for k, e := range a.Efficiency {
		if !(e > 0) || e > 1 {
			return inputErrorf("--efficiency %s=%g must be in (0, 1]", k, e)
		}
	}
	checks := []error{
		frac("--overlap-tp", a.Overlap.Tensor), frac("--overlap-pp", a.Overlap.Pipeline),
		frac("--overlap-dp", a.Overlap.Data), frac("--overlap-ep", a.Overlap.Expert),
		frac("--hbm-margin", a.HBMMargin),
	}
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	switch {
	case !(a.DefaultEfficiency > 0) || a.DefaultEfficiency > 1:
		return inputErrorf("--efficiency %g must be in (0, 1]", a.DefaultEfficiency)
	case a.PUE < 1 || a.PUE > 5:
		return inputErrorf("--pue %g must be between 1 and 5", a.PUE)
	case !(a.PowerFraction > 0) || a.PowerFraction > 1.5:
		return inputErrorf("--power-fraction %g must be in (0, 1.5]", a.PowerFraction)
	case !(a.ChipMTBFHours > 0):
		return inputErrorf("--chip-mtbf-hours must be more than 0")
	case a.Restart < 0:
		return inputErrorf("--restart must not be negative")
	case !(a.RepairHours >= 0) || a.RepairHours > 8760:
		return inputErrorf("--repair-hours %g must be from 0 to 8760", a.RepairHours)
	case !(a.SparePercentile > 0 && a.SparePercentile < 1):
		return inputErrorf("--spare-percentile %g must be above 0 and below 1", a.SparePercentile)
	case !(a.CheckpointGBps > 0) || a.CheckpointBytesPP < 0:
		return inputErrorf("--checkpoint-gbps must be more than 0 and --checkpoint-bytes-per-param not negative")
	case a.ZeRO != 0 && a.ZeRO != 1:
		return inputErrorf("--zero %d is not supported (0: replicated optimizer state, 1: optimizer state sharded over data parallel)", a.ZeRO)
	case a.MaxInterleave < 1:
		return inputErrorf("--max-interleave must be at least 1")
	case !(a.DispatchBytes > 0):
		return inputErrorf("--dispatch-bytes must be more than 0")
	case a.Oversubscription < 1:
		return inputErrorf("--oversubscription %g must be at least 1", a.Oversubscription)
	case a.ScaleUpLatencyUs < 0 || a.ScaleOutLatencyUs < 0:
		return inputErrorf("latencies must not be negative")
	}
	for k, n := range a.ScaleUpDomain {
		if n < 1 {
			return inputErrorf("--scale-up-domain %s=%d must be at least 1", k, n)
		}
	}
	return nil
}

// LoadAssumptions reads an assumptions file (YAML, the yaml field names of
// Assumptions; unknown fields are errors) over base: fields the file does
// not name keep base's values.
func LoadAssumptions(path string, base Assumptions) (Assumptions, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, inputErrorf("assumptions file: %v", err)
	}
	return ParseAssumptions(path, data, base)
}

// ParseAssumptions is LoadAssumptions on bytes; file names the source in messages.
func ParseAssumptions(file string, data []byte, base Assumptions) (Assumptions, error) {
	var f assumptionsFile
	if _, err := strictyaml.Decode(file, data, &f); err != nil {
		return base, fmt.Errorf("assumptions file: %w: %w", ErrInput, err)
	}
	out := base.Clone()
	for k, v := range f.Efficiency {
		out.Efficiency[k] = v
	}
	for k, v := range f.ScaleUpDomain {
		out.ScaleUpDomain[k] = v
	}
	setF := func(dst *float64, src *float64) {
		if src != nil {
			*dst = *src
		}
	}
	setF(&out.DefaultEfficiency, f.DefaultEfficiency)
	if f.Overlap != nil {
		setF(&out.Overlap.Tensor, f.Overlap.Tensor)
		setF(&out.Overlap.Pipeline, f.Overlap.Pipeline)
		setF(&out.Overlap.Data, f.Overlap.Data)
		setF(&out.Overlap.Expert, f.Overlap.Expert)
	}
	setF(&out.PUE, f.PUE)
	setF(&out.PowerFraction, f.PowerFraction)
	setF(&out.ChipMTBFHours, f.ChipMTBFHours)
	setF(&out.RepairHours, f.RepairHours)
	setF(&out.SparePercentile, f.SparePercentile)
	setF(&out.CheckpointGBps, f.CheckpointGBps)
	setF(&out.CheckpointBytesPP, f.CheckpointBytesPP)
	setF(&out.HBMMargin, f.HBMMargin)
	setF(&out.DispatchBytes, f.DispatchBytes)
	setF(&out.Oversubscription, f.Oversubscription)
	setF(&out.ScaleUpLatencyUs, f.ScaleUpLatencyUs)
	setF(&out.ScaleOutLatencyUs, f.ScaleOutLatencyUs)
	if f.ZeRO != nil {
		out.ZeRO = *f.ZeRO
	}
	if f.MaxInterleave != nil {
		out.MaxInterleave = *f.MaxInterleave
	}
	if f.Restart != nil {
		d, err := time.ParseDuration(*f.Restart)
		if err != nil {
			return base, inputErrorf("%s: restart: %v (use a duration such as 10m)", file, err)
		}
		out.Restart = d
	}
	if err := out.Validate(); err != nil {
		return base, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

// assumptionsFile is the on-disk form: every field optional.
type assumptionsFile struct {
	Efficiency        map[string]float64 `yaml:"efficiency"`
	DefaultEfficiency *float64           `yaml:"defaultEfficiency"`
	Overlap           *struct {
		Tensor   *float64 `yaml:"tensor"`
		Pipeline *float64 `yaml:"pipeline"`
		Data     *float64 `yaml:"data"`
		Expert   *float64 `yaml:"expert"`
	} `yaml:"overlap"`
	PUE               *float64       `yaml:"pue"`
	PowerFraction     *float64       `yaml:"powerFraction"`
	ChipMTBFHours     *float64       `yaml:"chipMTBFHours"`
	RepairHours       *float64       `yaml:"repairHours"`
	SparePercentile   *float64       `yaml:"sparePercentile"`
	Restart           *string        `yaml:"restart"`
	CheckpointGBps    *float64       `yaml:"checkpointGBps"`
	CheckpointBytesPP *float64       `yaml:"checkpointBytesPerParam"`
	HBMMargin         *float64       `yaml:"hbmMargin"`
	ZeRO              *int           `yaml:"zero"`
	MaxInterleave     *int           `yaml:"maxInterleave"`
	DispatchBytes     *float64       `yaml:"dispatchBytes"`
	ScaleUpDomain     map[string]int `yaml:"scaleUpDomain"`
	Oversubscription  *float64       `yaml:"oversubscription"`
	ScaleUpLatencyUs  *float64       `yaml:"scaleUpLatencyUs"`
	ScaleOutLatencyUs *float64       `yaml:"scaleOutLatencyUs"`
}

// Rows lists every assumption with its value and source, for printing.
func (a Assumptions) Rows(kinds []string) []AssumptionRow {
	var rows []AssumptionRow
	add := func(name, flag, value, source string) {
		rows = append(rows, AssumptionRow{Name: name, Flag: flag, Value: value, Source: source})
	}
	for _, k := range kinds {
		e, src := a.EfficiencyFor(k)
		add("achieved fraction of peak ("+k+")", "--efficiency "+k+"=F", fmt.Sprintf("%.3f", e), src)
	}
	for _, k := range kinds {
		if n, ok := a.ScaleUpDomain[k]; ok {
			add("scale-up domain ("+k+")", "--scale-up-domain "+k+"=N", fmt.Sprint(n), "HARDWARE.md")
		}
	}
	add("overlap: tensor parallel", "--overlap-tp", fmt.Sprintf("%.2f", a.Overlap.Tensor), "Megatron default: TP collectives on the critical path")
	add("overlap: pipeline p2p", "--overlap-pp", fmt.Sprintf("%.2f", a.Overlap.Pipeline), "half hidden by the interleaved schedule")
	add("overlap: data-parallel gradients", "--overlap-dp", fmt.Sprintf("%.2f", a.Overlap.Data), "bucketed reduce during backward")
	add("overlap: expert all-to-all", "--overlap-ep", fmt.Sprintf("%.2f", a.Overlap.Expert), "no overlap unless the stack does it (DualPipe)")
	add("PUE", "--pue", fmt.Sprintf("%.2f", a.PUE), "typical modern AI facility")
	add("average power / rated power", "--power-fraction", fmt.Sprintf("%.2f", a.PowerFraction), "rated power: an upper bound")
	add("chip-hours between job-killing faults", "--chip-mtbf-hours", fmt.Sprintf("%.0f", a.ChipMTBFHours), "Llama 3 405B: 419 faults, 16,384 GPUs, 54 days")
	add("restart time after a fault", "--restart", a.Restart.String(), "assumed")
	add("mean repair time of a broken host (h)", "--repair-hours", fmt.Sprintf("%g", a.RepairHours), "assumed: a part swapped within two days (docs/faults-sim.md)")
	add("share of time spares cover every host in repair", "--spare-percentile", fmt.Sprintf("%g", a.SparePercentile), "the 99th percentile (RELIABILITY-ANCHORS §7)")
	add("checkpoint write bandwidth (GB/s, aggregate)", "--checkpoint-gbps", fmt.Sprintf("%.0f", a.CheckpointGBps), "assumed")
	add("checkpoint bytes per parameter", "--checkpoint-bytes-per-param", fmt.Sprintf("%.0f", a.CheckpointBytesPP), "BF16 weights + FP32 Adam state")
	add("HBM safety margin", "--hbm-margin", fmt.Sprintf("%.2f", a.HBMMargin), "allocator fragmentation, workspace, runtime")
	add("ZeRO stage", "--zero", fmt.Sprint(a.ZeRO), "distributed optimizer (Megatron, Llama 3, DeepSeek-V3)")
	add("max virtual pipeline stages", "--max-interleave", fmt.Sprint(a.MaxInterleave), "assumed")
	add("MoE dispatch bytes per element", "--dispatch-bytes", fmt.Sprintf("%g", a.DispatchBytes), "BF16")
	add("scale-out oversubscription", "--oversubscription", fmt.Sprintf("%g", a.Oversubscription), "non-blocking")
	add("latency: scale-up (µs)", "--scale-up-latency-us", fmt.Sprintf("%g", a.ScaleUpLatencyUs), "assumed")
	add("latency: scale-out (µs)", "--scale-out-latency-us", fmt.Sprintf("%g", a.ScaleOutLatencyUs), "assumed")
	return rows
}

// AssumptionRow is one printed assumption.
type AssumptionRow struct {
	Name   string `json:"name"`
	Flag   string `json:"flag"`
	Value  string `json:"value"`
	Source string `json:"source"`
}
