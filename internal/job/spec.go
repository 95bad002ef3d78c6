package job

// APIVersion and Kind are the only values a spec's apiVersion and kind
// fields accept.
const (
	APIVersion = "qun/v1"
	Kind       = "Job"
)

// DefaultQueue is the queue of a spec that names none.
const DefaultQueue = "default"

// Limits on sizes. A spec beyond them is rejected as absurd rather than
// queued forever.
const (
	MaxPriority     = 1_000_000
	MinPriority     = -MaxPriority
	MaxRanks        = 1_000_000
	MaxTotalChips   = 1 << 20 // 1,048,576 chips
	MaxChipsPerRank = 64
	MaxCPUMilli     = 10_000_000 // 10,000 cores per rank
	MaxMemoryMiB    = 1 << 30    // 1 PiB per rank
	MaxStepBytes    = 1e15       // per rank and step, per dimension
)

// Spec is a job as a user writes it, in YAML or JSON. Zero values mean "not
// given" and are replaced by defaults in Normalize; the doc comment of each
// field names its default. Load returns a normalized, valid Spec.
type Spec struct {
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`                 // must be APIVersion
	Kind       string `yaml:"kind" json:"kind"`                             // must be Kind
	Name       string `yaml:"name" json:"name"`                             // DNS label, at most 63 characters
	Queue      string `yaml:"queue,omitempty" json:"queue,omitempty"`       // default DefaultQueue; "a/b/c" is a path of queues
	Priority   int    `yaml:"priority,omitempty" json:"priority,omitempty"` // higher runs first; default 0

	// Chips is the total number of chips, a shorthand that derives Ranks
	// (or ChipsPerRank when Ranks is given too). After Normalize it holds
	// the total when that is a whole number of chips (a Chips given in
	// the spec is never overwritten, so Validate can still see a mismatch).
	Chips        int   `yaml:"chips,omitempty" json:"chips,omitempty"`
	Ranks        int   `yaml:"ranks,omitempty" json:"ranks,omitempty"`               // default 1, or derived from Chips
	ChipsPerRank Milli `yaml:"chipsPerRank,omitempty" json:"chipsPerRank,omitempty"` // default 1 chip, or derived from Chips and Ranks

	Accept           Accept `yaml:"accept,omitempty" json:"accept,omitzero"`
	CPUMilliPerRank  int64  `yaml:"cpuMilliPerRank,omitempty" json:"cpuMilliPerRank,omitempty"`
	MemoryMiBPerRank int64  `yaml:"memoryMiBPerRank,omitempty" json:"memoryMiBPerRank,omitempty"`

	Parallelism   Parallelism   `yaml:"parallelism,omitempty" json:"parallelism,omitzero"`
	Communication Communication `yaml:"communication,omitempty" json:"communication,omitzero"`

	Duration   Duration   `yaml:"duration,omitempty" json:"duration,omitempty"` // expected run time, for backfill; 0 unknown
	Checkpoint Checkpoint `yaml:"checkpoint,omitempty" json:"checkpoint,omitzero"`
	// RestartPolicy says when the job is restarted after a fault (see
	// RestartPolicy for the defaults).
	RestartPolicy RestartPolicy `yaml:"restartPolicy,omitempty" json:"restartPolicy,omitzero"`

	Command []string          `yaml:"command" json:"command"` // required
	Args    []string          `yaml:"args,omitempty" json:"args,omitempty"`
	Env     map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	Workdir string            `yaml:"workdir,omitempty" json:"workdir,omitempty"`
}

// Accept says which chip kinds a job can run on. The zero value accepts any
// kind. Kinds and MinHBMGiB combine: a kind must be listed (when Kinds is
// given) and have at least MinHBMGiB of memory.
type Accept struct {
	Kinds       []string `yaml:"kinds,omitempty" json:"kinds,omitempty"`
	MinHBMGiB   float64  `yaml:"minHBMGiB,omitempty" json:"minHBMGiB,omitempty"`
	MixFamilies bool     `yaml:"mixFamilies,omitempty" json:"mixFamilies,omitempty"` // may one gang mix HCCL and NCCL kinds
}

// Parallelism is the shape of the job's model parallelism. Tensor ×
// Pipeline × Data equals the job's total chips (its ranks when ranks hold a
// fraction of a chip); Expert divides Data. Zero means "not given": Tensor,
// Pipeline and Expert default to 1 and Data is derived.
type Parallelism struct {
	Tensor   int `yaml:"tensor,omitempty" json:"tensor,omitempty"`
	Pipeline int `yaml:"pipeline,omitempty" json:"pipeline,omitempty"`
	Data     int `yaml:"data,omitempty" json:"data,omitempty"`
	Expert   int `yaml:"expert,omitempty" json:"expert,omitempty"`
}

// Communication is the bytes each rank sends per training step along each
// parallelism dimension, when known. Zero means unknown or none.
type Communication struct {
	TensorBytes   float64 `yaml:"tensorBytes,omitempty" json:"tensorBytes,omitempty"`
	PipelineBytes float64 `yaml:"pipelineBytes,omitempty" json:"pipelineBytes,omitempty"`
	DataBytes     float64 `yaml:"dataBytes,omitempty" json:"dataBytes,omitempty"`
	ExpertBytes   float64 `yaml:"expertBytes,omitempty" json:"expertBytes,omitempty"`
}

// Checkpoint is where and how often a job saves its state. A positive
// Interval (or auto) needs a Dir.
type Checkpoint struct {
	Interval CheckpointInterval `yaml:"interval,omitempty" json:"interval,omitempty"`
	Dir      string             `yaml:"dir,omitempty" json:"dir,omitempty"`
}

// Normalize replaces values that were not given with their defaults and
// derives Ranks, ChipsPerRank, Chips and Parallelism.Data. It is idempotent.
// It never fails: on a spec whose sizes do not fit together it leaves the
// underivable fields zero, and Validate says why.
func (s *Spec) Normalize() {
	if s.Queue == "" {
		s.Queue = DefaultQueue
	}
	s.Ranks, s.ChipsPerRank = s.shape()
	if t := s.TotalChipsMilli(); s.Chips == 0 && t > 0 && Milli(t).IsWhole() && t/int64(Whole) <= MaxTotalChips {
		s.Chips = int(t / int64(Whole))
	}
	s.Parallelism = s.Plan()
	if s.Checkpoint.Interval == AutoInterval && s.Chips > 0 {
		s.Checkpoint.Interval = CheckpointInterval(AutoCheckpointInterval(s.Chips))
	}
}

// shape returns the ranks and chips per rank after defaults and derivation
// from Chips; a value that cannot be derived is 0.
func (s *Spec) shape() (ranks int, per Milli) {
	ranks, per = s.Ranks, s.ChipsPerRank
	chips := int64(s.Chips)
	if chips <= 0 || chips > MaxTotalChips {
		// No usable shorthand: plain defaults.
		if ranks == 0 {
			ranks = 1
		}
		if per == 0 {
			per = Whole
		}
		return ranks, per
	}
	milli := chips * int64(Whole)
	switch {
	case ranks == 0 && per == 0:
		return int(chips), Whole
	case ranks == 0:
		if per > 0 && milli%int64(per) == 0 && milli/int64(per) <= MaxRanks {
			ranks = int(milli / int64(per))
		}
	case per == 0:
		if ranks > 0 && milli%int64(ranks) == 0 && validPerRank(Milli(milli/int64(ranks))) {
			per = Milli(milli / int64(ranks))
		}
	}
	return ranks, per
}

// RankMilli returns the thousandths of a chip each rank holds, after
// defaults; 0 if it cannot be derived.
func (s *Spec) RankMilli() int {
	_, per := s.shape()
	return int(per)
}

// RankCount returns the number of ranks after defaults; 0 if it cannot be
// derived.
func (s *Spec) RankCount() int {
	r, _ := s.shape()
	return r
}

// TotalChipsMilli returns ranks × chips per rank in thousandths of a chip,
// after defaults; 0 if either cannot be derived or is out of range.
func (s *Spec) TotalChipsMilli() int64 {
	r, per := s.shape()
	if r <= 0 || r > MaxRanks || per <= 0 || per > MaxChipsPerRank*Whole {
		return 0
	}
	return int64(r) * int64(per)
}

// planUnits is what Tensor × Pipeline × Data must equal: total chips for
// whole-chip ranks, ranks for fractional ones; 0 if unknown.
func (s *Spec) planUnits() int64 {
	r, per := s.shape()
	t := s.TotalChipsMilli()
	switch {
	case t == 0:
		return 0
	case per < Whole:
		return int64(r)
	case t%int64(Whole) == 0:
		return t / int64(Whole)
	}
	return 0
}

// Plan returns the parallelism plan after defaults: Tensor, Pipeline and
// Expert default to 1, and Data, when not given, is what is left of the
// job's chips (or ranks) after tensor and pipeline parallelism; it stays 0
// when that does not divide exactly.
func (s *Spec) Plan() Parallelism {
	p := s.Parallelism
	for _, v := range []*int{&p.Tensor, &p.Pipeline, &p.Expert} {
		if *v == 0 {
			*v = 1
		}
	}
	if p.Data == 0 && p.Tensor > 0 && p.Pipeline > 0 && p.Tensor <= MaxTotalChips && p.Pipeline <= MaxTotalChips {
		tp := int64(p.Tensor) * int64(p.Pipeline)
		if u := s.planUnits(); u > 0 && u%tp == 0 {
			p.Data = int(u / tp)
		}
	}
	return p
}
