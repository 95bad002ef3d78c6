package pool

import (
	"fmt"
	"sort"
	"strings"
)

// Totals are the capacity figures of a set of chips.
type Totals struct {
	Chips       int            `json:"chips"`
	ChipsByKind map[string]int `json:"chips_by_kind"`
	PFLOPSBF16  float64        `json:"peak_pflops_bf16"`
	PFLOPSFP8   float64        `json:"peak_pflops_fp8"`
	HBMTiB      float64        `json:"hbm_tib"`
	PowerKW     float64        `json:"power_kw"`
}

// LevelSummary describes the domains of one level.
type LevelSummary struct {
	Level          string  `json:"level"`
	Host           bool    `json:"host,omitempty"`
	Domains        int     `json:"domains"`
	ChipsPerDomain string  `json:"chips_per_domain"` // "8" or "4-16"
	BandwidthGBps  float64 `json:"bandwidth_gbps"`
	LatencyUs      float64 `json:"latency_us"`
	Totals
}

// KindSummary is the totals of one chip kind.
type KindSummary struct {
	Kind       ChipKind `json:"kind"`
	Chips      int      `json:"chips"`
	PFLOPSBF16 float64  `json:"peak_pflops_bf16"`
	PFLOPSFP8  float64  `json:"peak_pflops_fp8"`
	HBMTiB     float64  `json:"hbm_tib"`
	PowerKW    float64  `json:"power_kw"`
}

// Summary is what `qun pool show` prints.
type Summary struct {
	Name        string         `json:"name"`
	Description string         `json:"description,omitempty"`
	Hosts       int            `json:"hosts"`
	CPUMilli    int64          `json:"cpu_milli"`
	MemoryMiB   int64          `json:"memory_mib"`
	Levels      []LevelSummary `json:"levels"`
	Kinds       []KindSummary  `json:"kinds"`
	Tree        []TreeLine     `json:"tree"`
	Totals
}

// TreeLine is one line of the collapsed tree: Count identical siblings.
type TreeLine struct {
	Depth int    `json:"depth"`
	Level string `json:"level"`
	Name  string `json:"name"` // first name, or "first … last" when Count > 1
	Count int    `json:"count"`
	Chips int    `json:"chips"` // per domain
	Kinds string `json:"kinds"` // e.g. "8 x 910C"
}

func (t *Topology) totals(counts map[KindID]int) Totals {
	out := Totals{ChipsByKind: map[string]int{}}
	for k, n := range counts {
		ck := t.Kinds[k]
		out.Chips += n
		out.ChipsByKind[ck.Name] += n
		out.PFLOPSBF16 += float64(n) * ck.BF16TFLOPS / 1000
		out.PFLOPSFP8 += float64(n) * ck.FP8TFLOPS / 1000
		out.HBMTiB += float64(n) * ck.HBMGiB / 1024
		out.PowerKW += float64(n) * ck.PowerW / 1000
	}
	return out
}

// Summarize computes the pool's totals per level and per kind.
func (t *Topology) Summarize() Summary {
	s := Summary{Name: t.Name, Description: t.Description, Hosts: len(t.hosts), Totals: t.totals(t.DomainKinds(0))}
	for _, h := range t.hosts {
		s.CPUMilli += t.doms[h].cpuMilli
		s.MemoryMiB += t.doms[h].memoryMiB
	}
	for i, l := range t.Levels {
		ls := LevelSummary{Level: l.Name, Host: l.Host, BandwidthGBps: l.BandwidthGBps, LatencyUs: l.LatencyUs}
		counts := map[KindID]int{}
		lo, hi := -1, 0
		for d := range t.doms {
			if int(t.doms[d].level) != i {
				continue
			}
			ls.Domains++
			for k, n := range t.DomainKinds(DomainID(d)) {
				counts[k] += n
			}
			sz := t.Size(DomainID(d))
			if lo < 0 || sz < lo {
				lo = sz
			}
			hi = max(hi, sz)
		}
		ls.Totals = t.totals(counts)
		if lo == hi {
			ls.ChipsPerDomain = fmt.Sprint(lo)
		} else {
			ls.ChipsPerDomain = fmt.Sprintf("%d-%d", lo, hi)
		}
		s.Levels = append(s.Levels, ls)
	}
	for k, n := range t.DomainKinds(0) {
		ck := t.Kinds[k]
		s.Kinds = append(s.Kinds, KindSummary{Kind: ck, Chips: n,
			PFLOPSBF16: float64(n) * ck.BF16TFLOPS / 1000, PFLOPSFP8: float64(n) * ck.FP8TFLOPS / 1000,
			HBMTiB: float64(n) * ck.HBMGiB / 1024, PowerKW: float64(n) * ck.PowerW / 1000})
	}
	sort.Slice(s.Kinds, func(i, j int) bool { return s.Kinds[i].Kind.Name < s.Kinds[j].Kind.Name })
	s.Tree = t.collapsedTree()
	return s
}

// collapsedTree lists the tree with runs of identical consecutive siblings
// shown once, so a 524,288-chip pool prints in a handful of lines.
func (t *Topology) collapsedTree() []TreeLine {
	sig := make([]string, len(t.doms))
	for i := len(t.doms) - 1; i >= 0; i-- {
		var b strings.Builder
		fmt.Fprintf(&b, "%d:%s(", t.doms[i].level, t.kindString(DomainID(i)))
		for _, c := range t.Children(DomainID(i)) {
			b.WriteString(sig[c])
			b.WriteByte(',')
		}
		b.WriteByte(')')
		sig[i] = b.String()
		if len(sig[i]) > 64 { // keep memory bounded: intern long signatures
			sig[i] = fmt.Sprintf("#%x", hashString(sig[i]))
		}
	}
	var out []TreeLine
	var walk func(ds []DomainID, depth int)
	walk = func(ds []DomainID, depth int) {
		for i := 0; i < len(ds); {
			j := i + 1
			for j < len(ds) && sig[ds[j]] == sig[ds[i]] {
				j++
			}
			d := ds[i]
			name := t.doms[d].name
			if j-i > 1 {
				name += " … " + t.doms[ds[j-1]].name
			}
			out = append(out, TreeLine{Depth: depth, Level: t.Levels[t.doms[d].level].Name, Name: name, Count: j - i,
				Chips: t.Size(d), Kinds: t.kindString(d)})
			walk(t.Children(d), depth+1)
			i = j
		}
	}
	walk([]DomainID{0}, 0)
	return out
}

func (t *Topology) kindString(d DomainID) string {
	di := &t.doms[d]
	parts := make([]string, 0, di.kindHi-di.kindLo)
	for _, kt := range t.kinds[di.kindLo:di.kindHi] {
		parts = append(parts, fmt.Sprintf("%d x %s", kt.total, t.Kinds[kt.kind].Name))
	}
	return strings.Join(parts, " + ")
}

func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}
