package sched

import (
	"fmt"
	"strings"
	"time"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/strictyaml"
)

// DefaultProfileYAML is the profile qun runs when given none.
const DefaultProfileYAML = `name: default
queueSort: {name: priority-fairshare}
admit: [{name: quota}]
filters: [{name: fits}]
place: {name: topology}
postPlace: [{name: quota}]
backfill: {mode: easy, reserveTop: 1, overrunGrace: 5m}
preemption: {enabled: true, grace: 5m}
fairShare: {halfLife: 168h}
`

// ProfileSpec is a profile as written in a profile file (docs/scheduler.md).
type ProfileSpec struct {
	Name      string      `yaml:"name"`
	QueueSort PluginRef   `yaml:"queueSort"`
	Admit     []PluginRef `yaml:"admit"`
	Filters   []PluginRef `yaml:"filters"`
	Scores    []PluginRef `yaml:"scores"`
	Place     PluginRef   `yaml:"place"`
	// PostPlace lists the post-placement checks. Omitted (nil), it is every
	// Admit plugin that also implements PostPlace, so that a profile
	// written before the stage had a name keeps its quota check; [] runs none.
	PostPlace  []PluginRef    `yaml:"postPlace"`
	Backfill   BackfillSpec   `yaml:"backfill"`
	Preemption PreemptionSpec `yaml:"preemption"`
	FairShare  FairShareSpec  `yaml:"fairShare"`
}

// PluginRef names a plugin with its arguments and, for host scores, weight.
type PluginRef struct {
	Name   string         `yaml:"name"`
	Weight float64        `yaml:"weight"`
	Args   map[string]any `yaml:"args"`
}

// BackfillSpec is BackfillConfig as written.
type BackfillSpec struct {
	Mode            string       `yaml:"mode"`
	ReserveTop      int          `yaml:"reserveTop"`
	DefaultDuration job.Duration `yaml:"defaultDuration"`
	OverrunGrace    job.Duration `yaml:"overrunGrace"`
}

// PreemptionSpec is PreemptionConfig as written.
type PreemptionSpec struct {
	Enabled     bool         `yaml:"enabled"`
	Grace       job.Duration `yaml:"grace"`
	MaxAttempts int          `yaml:"maxAttempts"`
}

// FairShareSpec is FairShareConfig as written.
type FairShareSpec struct {
	HalfLife job.Duration `yaml:"halfLife"`
}

// LoadProfile decodes a profile file and builds it with reg. Every problem
// (unknown fields, unknown plugin names, a plugin at the wrong stage, bad
// arguments or values) is reported with its line, as strictyaml.Problems.
func LoadProfile(file string, data []byte, reg Registry) (*Profile, error) {
	var spec ProfileSpec
	pos, err := strictyaml.Decode(file, data, &spec)
	if err != nil {
		return nil, err
	}
	return BuildProfile(&spec, reg, pos)
}

// BuildProfile builds a profile from its spec; pos may be nil.
func BuildProfile(spec *ProfileSpec, reg Registry, pos *strictyaml.Positions) (*Profile, error) {
	var probs strictyaml.Problems
	bad := func(field, format string, args ...any) { probs = append(probs, pos.At(field, format, args...)) }
	build := func(field string, ref PluginRef) Plugin {
		if ref.Name == "" {
			bad(field+".name", "a plugin name is required (registered: %s)", strings.Join(reg.Names(), ", "))
			return nil
		}
		p, err := reg.Build(ref.Name, ref.Args)
		if err != nil {
			bad(field+".name", "%v", err)
			return nil
		}
		return p
	}
	stage := func(field, name, want string) {
		article := "a"
		if strings.ContainsRune("aeiou", rune(want[0])) {
			article = "an"
		}
		bad(field+".name", "plugin %q is not %s %s plugin", name, article, want)
	}
	p := &Profile{Name: spec.Name}
	if p.Name == "" {
		p.Name = "default"
	}
	if spec.QueueSort.Name == "" && spec.QueueSort.Args == nil {
		// No queue sort: priority, then submission time.
	} else if pl := build("queueSort", spec.QueueSort); pl != nil {
		if qs, ok := pl.(QueueSort); ok {
			p.QueueSort = qs
		} else {
			stage("queueSort", spec.QueueSort.Name, "queue sort")
		}
	}
	for i, ref := range spec.Admit {
		f := fmt.Sprintf("admit[%d]", i)
		if pl := build(f, ref); pl != nil {
			if a, ok := pl.(Admit); ok {
				p.Admit = append(p.Admit, a)
			} else {
				stage(f, ref.Name, "admission")
			}
		}
	}
	for i, ref := range spec.Filters {
		f := fmt.Sprintf("filters[%d]", i)
		if pl := build(f, ref); pl != nil {
			if h, ok := pl.(HostFilter); ok {
				p.Filters = append(p.Filters, h)
			} else {
				stage(f, ref.Name, "host filter")
			}
		}
	}
	for i, ref := range spec.Scores {
		f := fmt.Sprintf("scores[%d]", i)
		w := ref.Weight
		if w == 0 {
			w = 1
		}
		if w < 0 {
			bad(f+".weight", "%g is negative (weights are at least 0; omit for 1)", w)
		}
		if pl := build(f, ref); pl != nil {
			if h, ok := pl.(HostScore); ok {
				p.Scores = append(p.Scores, WeightedScore{Plugin: h, Weight: w})
			} else {
				stage(f, ref.Name, "host score")
			}
		}
	}
	if pl := build("place", spec.Place); pl != nil {
		if pc, ok := pl.(Place); ok {
			p.Place = pc
		} else {
			stage("place", spec.Place.Name, "placement")
		}
	}
	if spec.PostPlace == nil {
		for _, a := range p.Admit {
			if pp, ok := a.(PostPlace); ok {
				p.PostPlace = append(p.PostPlace, pp)
			}
		}
	}
	for i, ref := range spec.PostPlace {
		f := fmt.Sprintf("postPlace[%d]", i)
		if pl := build(f, ref); pl != nil {
			if pp, ok := pl.(PostPlace); ok {
				p.PostPlace = append(p.PostPlace, pp)
			} else {
				stage(f, ref.Name, "post-placement")
			}
		}
	}
	b := spec.Backfill
	switch b.Mode {
	case "", "easy", "conservative", "off":
	default:
		bad("backfill.mode", "%q is not a backfill mode (allowed: easy, conservative, off)", b.Mode)
	}
	if b.ReserveTop < 0 {
		bad("backfill.reserveTop", "%d is negative", b.ReserveTop)
	}
	p.Backfill = BackfillConfig{Mode: b.Mode, ReserveTop: b.ReserveTop,
		DefaultDuration: time.Duration(b.DefaultDuration), OverrunGrace: time.Duration(b.OverrunGrace)}
	if p.Backfill.Mode == "" {
		p.Backfill.Mode = "easy"
	}
	if spec.Preemption.MaxAttempts < 0 {
		bad("preemption.maxAttempts", "%d is negative", spec.Preemption.MaxAttempts)
	}
	p.Preemption = PreemptionConfig{Enabled: spec.Preemption.Enabled, Grace: time.Duration(spec.Preemption.Grace),
		MaxAttempts: spec.Preemption.MaxAttempts}
	p.FairShare = FairShareConfig{HalfLife: time.Duration(spec.FairShare.HalfLife)}
	for f, d := range map[string]job.Duration{"backfill.defaultDuration": b.DefaultDuration, "backfill.overrunGrace": b.OverrunGrace,
		"preemption.grace": spec.Preemption.Grace, "fairShare.halfLife": spec.FairShare.HalfLife} {
		if d < 0 {
			bad(f, "%s is negative", d)
		}
	}
	if len(probs) > 0 {
		return nil, probs.Sorted()
	}
	return p, nil
}
