package pool

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/qunhq/qun/internal/strictyaml"
)

// Limits on pool files, so that absurd input fails fast with a clear message
// rather than exhausting memory.
const (
	MaxChips        = 4 << 20 // 4,194,304 chips
	MaxDomains      = 2 << 20
	MaxChipsPerLeaf = 1024
	MaxRepeat       = 1 << 20
	MaxLevels       = 16
)

// File is a pool file as written (see docs/pool-format.md).
type File struct {
	APIVersion  string                `yaml:"apiVersion"`
	Kind        string                `yaml:"kind"`
	Name        string                `yaml:"name"`
	Description string                `yaml:"description"`
	ChipKinds   []ChipKind            `yaml:"chipKinds"`
	Levels      []LevelSpec           `yaml:"levels"`
	Templates   map[string]DomainSpec `yaml:"templates"`
	Root        DomainSpec            `yaml:"root"`
}

// LevelSpec is one level as written in a pool file.
type LevelSpec struct {
	Name             string     `yaml:"name"`
	Host             bool       `yaml:"host"`
	BandwidthGBps    float64    `yaml:"bandwidthGBps"`
	LatencyUs        float64    `yaml:"latencyUs"`
	Oversubscription float64    `yaml:"oversubscription"`
	Shape            *ShapeRule `yaml:"shape"`
}

// DomainSpec is a domain (or a repeated group of domains) as written.
type DomainSpec struct {
	// Template names an entry of File.Templates to instantiate; with it,
	// only Name and Count may be set.
	Template string `yaml:"template"`
	// Name is the local name. In a repeated child, "{i}" is replaced by the
	// index (from 0); without it the index is appended.
	Name  string `yaml:"name"`
	Count int    `yaml:"count"` // repeat count for children; default 1
	Level string `yaml:"level"`

	CPUMilli     int64   `yaml:"cpuMilli"`
	MaxRanks     int     `yaml:"maxRanks"` // most ranks a host runs at once; 0: no limit
	MemoryMiB    int64   `yaml:"memoryMiB"`
	PowerBudgetW float64 `yaml:"powerBudgetW"`
	// Spares is how many hosts of this domain (its last ones, depth-first)
	// are held back for recovery: only a job replacing ranks it lost to a
	// fault may take them.
	Spares   int          `yaml:"spares"`
	Chips    *ChipsSpec   `yaml:"chips"`
	Children []DomainSpec `yaml:"children"`
}

// ChipsSpec places Count chips of one kind directly in a domain.
type ChipsSpec struct {
	Kind  string `yaml:"kind"`
	Count int    `yaml:"count"`
}

// LoadFile reads and builds a pool file with the default catalog plus the
// file's own chip kinds.
func LoadFile(path string) (*Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pool file: %w", err)
	}
	return Load(filepath.Base(path), data, DefaultCatalog())
}

// Load decodes, validates and builds a pool. file is used in messages. The
// catalog is not modified. On error it returns strictyaml.Problems naming
// every problem found, and no topology.
func Load(file string, data []byte, cat *Catalog) (*Topology, error) {
	var f File
	pos, err := strictyaml.Decode(file, data, &f)
	if err != nil {
		return nil, err
	}
	return Build(&f, cat, pos)
}

// Build validates a decoded pool file and builds its topology. pos may be
// nil (messages then carry field paths but no lines).
func Build(f *File, cat *Catalog, pos *strictyaml.Positions) (*Topology, error) {
	b := &builder{f: f, pos: pos, cat: cat.Clone(), levelIdx: map[string]int{}}
	b.header()
	if len(b.probs) > 0 {
		return nil, b.probs.Sorted()
	}
	b.t = &Topology{Name: f.Name, Description: f.Description, HostLevel: b.hostLevel, hostByName: map[string]DomainID{}}
	for _, l := range f.Levels {
		lv := Level{Name: l.Name, Host: l.Host, BandwidthGBps: l.BandwidthGBps, LatencyUs: l.LatencyUs, Oversubscription: l.Oversubscription}
		if lv.Oversubscription == 0 {
			lv.Oversubscription = 1
		}
		if l.Shape != nil {
			lv.Shape = *l.Shape
		}
		b.t.Levels = append(b.t.Levels, lv)
	}
	b.checked = map[string]bool{}
	b.domain(&f.Root, "root", NoDomain, -1, f.Root.Name, nil)
	if len(b.probs) > 0 {
		return nil, b.probs.Sorted()
	}
	b.finish()
	if len(b.probs) > 0 {
		return nil, b.probs.Sorted()
	}
	slices.Sort(b.t.spares)
	return b.t, nil
}

type builder struct {
	f         *File
	pos       *strictyaml.Positions
	cat       *Catalog
	t         *Topology
	probs     strictyaml.Problems
	seen      map[string]bool // dedupes problems reported once per template use
	levelIdx  map[string]int
	hostLevel int
	checked   map[string]bool // template@parentLevel pairs already validated
	aborted   bool
}

func (b *builder) errf(field, format string, args ...any) {
	p := b.pos.At(field, format, args...)
	key := p.Field + "\x00" + p.Msg
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	if b.seen[key] {
		return
	}
	b.seen[key] = true
	b.probs = append(b.probs, p)
}

func (b *builder) header() {
	f := b.f
	if f.APIVersion != "qun/v1" {
		b.errf("apiVersion", "%q is not supported (allowed: qun/v1)", f.APIVersion)
	}
	if f.Kind != "Pool" {
		b.errf("kind", "%q is not a pool file kind (allowed: Pool)", f.Kind)
	}
	if !ValidName(f.Name) {
		b.errf("name", "%q is not a valid pool name (letters, digits, '-', '_', '.'; 1 to 63 characters)", f.Name)
	}
	for i, k := range f.ChipKinds {
		field := fmt.Sprintf("chipKinds[%d]", i)
		probs := k.Validate()
		for _, p := range probs {
			b.errf(field+"."+p[0], "%s", p[1])
		}
		if len(probs) == 0 {
			if err := b.cat.Add(k); err != nil {
				b.errf(field+".name", "chip kind %q is already defined (built-in or earlier in this file)", k.Name)
			}
		}
	}
	if len(f.Levels) == 0 {
		b.errf("levels", "at least one level is required")
	}
	if len(f.Levels) > MaxLevels {
		b.errf("levels", "%d levels given; at most %d allowed", len(f.Levels), MaxLevels)
	}
	hosts := 0
	for i, l := range f.Levels {
		field := fmt.Sprintf("levels[%d]", i)
		if !ValidName(l.Name) {
			b.errf(field+".name", "%q is not a valid level name (letters, digits, '-', '_', '.'; 1 to 63 characters)", l.Name)
		} else if _, dup := b.levelIdx[l.Name]; dup {
			b.errf(field+".name", "level %q is defined twice", l.Name)
		} else {
			b.levelIdx[l.Name] = i
		}
		if l.Host {
			hosts++
			b.hostLevel = i
		}
		if !(l.BandwidthGBps > 0) || l.BandwidthGBps > 1e6 {
			b.errf(field+".bandwidthGBps", "%g is out of range (more than 0, at most 1e6 GB/s per chip)", l.BandwidthGBps)
		}
		if l.LatencyUs < 0 || l.LatencyUs > 1e6 {
			b.errf(field+".latencyUs", "%g is out of range (0 to 1e6 microseconds)", l.LatencyUs)
		}
		if l.Oversubscription != 0 && (l.Oversubscription < 1 || l.Oversubscription > 1000) {
			b.errf(field+".oversubscription", "%g is out of range (1 to 1000; omit for 1)", l.Oversubscription)
		}
		if i > 0 && l.BandwidthGBps > 0 && l.BandwidthGBps < f.Levels[i-1].BandwidthGBps {
			b.errf(field+".bandwidthGBps", "%g GB/s is slower than the enclosing level %q (%g GB/s); inner levels must be at least as fast", l.BandwidthGBps, f.Levels[i-1].Name, f.Levels[i-1].BandwidthGBps)
		}
	}
	if hosts != 1 && len(f.Levels) > 0 {
		b.errf("levels", "exactly one level must have host: true (found %d)", hosts)
	}
	for i, l := range f.Levels {
		if l.Shape == nil || hosts != 1 {
			continue
		}
		field := fmt.Sprintf("levels[%d].shape", i)
		if i < b.hostLevel {
			b.errf(field, "shape rules apply to one rank's chips, which sit on one host; level %q is above the host level %q", l.Name, f.Levels[b.hostLevel].Name)
		}
		for j, c := range l.Shape.Counts {
			if c < 1 || c > MaxChipsPerLeaf*16 {
				b.errf(fmt.Sprintf("%s.counts[%d]", field, j), "%d is out of range (1 to %d)", c, MaxChipsPerLeaf*16)
			}
			if j > 0 && c <= l.Shape.Counts[j-1] {
				b.errf(fmt.Sprintf("%s.counts[%d]", field, j), "counts must be strictly increasing (%d after %d)", c, l.Shape.Counts[j-1])
			}
		}
		if l.Shape.MaxCount < 0 {
			b.errf(field+".maxCount", "%d is out of range (0 for no cap, or a positive count)", l.Shape.MaxCount)
		}
	}
	for name := range f.Templates {
		if !ValidName(name) {
			b.errf("templates."+name, "%q is not a valid template name (letters, digits, '-', '_', '.')", name)
		}
	}
}

// domain expands spec (found at field) as a child of parent. It returns
// without adding anything once the build has failed.
func (b *builder) domain(spec *DomainSpec, field string, parent DomainID, parentLevel int, name string, stack []string) {
	if b.aborted {
		return
	}
	if spec.Template != "" {
		if spec.Level != "" || spec.Chips != nil || len(spec.Children) > 0 || spec.CPUMilli != 0 || spec.MemoryMiB != 0 || spec.PowerBudgetW != 0 || spec.Spares != 0 {
			b.errf(field+".template", "a domain that uses a template may set only name and count besides it")
			b.aborted = true
			return
		}
		tpl, ok := b.f.Templates[spec.Template]
		if !ok {
			b.errf(field+".template", "unknown template %q (defined: %s)", spec.Template, strings.Join(slices.Sorted(maps.Keys(b.f.Templates)), ", "))
			b.aborted = true
			return
		}
		for _, s := range stack {
			if s == spec.Template {
				b.errf(field+".template", "template %q includes itself (%s)", spec.Template, strings.Join(append(stack, spec.Template), " → "))
				b.aborted = true
				return
			}
		}
		b.domain(&tpl, "templates."+spec.Template, parent, parentLevel, name, append(stack, spec.Template))
		return
	}
	lvl, ok := b.levelIdx[spec.Level]
	key := fmt.Sprintf("%s@%d", field, parentLevel)
	check := !b.checked[key]
	b.checked[key] = true
	if !ok {
		b.errf(field+".level", "unknown level %q (levels: %s)", spec.Level, strings.Join(b.levelNames(), ", "))
		b.aborted = true
		return
	}
	if lvl <= parentLevel {
		b.errf(field+".level", "level %q cannot sit inside level %q (levels go from the root inward: %s)", spec.Level, b.f.Levels[parentLevel].Name, strings.Join(b.levelNames(), ", "))
		b.aborted = true
		return
	}
	if check {
		b.checkDomain(spec, field, lvl)
		if len(b.probs) > 0 {
			b.aborted = true
			return
		}
	}
	t := b.t
	if len(t.doms) >= MaxDomains {
		b.errf(field, "the pool has more than %d domains", MaxDomains)
		b.aborted = true
		return
	}
	id := DomainID(len(t.doms))
	di := domInfo{parent: parent, level: uint8(lvl), name: name, chipLo: ChipID(len(t.chips)), host: NoDomain}
	if parent != NoDomain {
		di.host = t.doms[parent].host
	}
	if lvl == b.hostLevel {
		di.host = id
		di.cpuMilli, di.memoryMiB, di.maxRanks = spec.CPUMilli, spec.MemoryMiB, int32(spec.MaxRanks)
	}
	di.powerBudgetMW = int64(spec.PowerBudgetW * 1000)
	t.doms = append(t.doms, di)
	if spec.Chips != nil {
		kind := b.kindID(spec.Chips.Kind)
		if len(t.chips)+spec.Chips.Count > MaxChips {
			b.errf(field+".chips.count", "the pool has more than %d chips", MaxChips)
			b.aborted = true
			return
		}
		host := t.doms[id].host
		base := 0
		if host != id {
			base = int(ChipID(len(t.chips)) - t.doms[host].chipLo)
		}
		for i := 0; i < spec.Chips.Count; i++ {
			t.chips = append(t.chips, chipInfo{leaf: id, host: host, kind: kind, index: uint16(base + i)})
		}
		t.doms[id].leaf = true
	}
	for ci := range spec.Children {
		c := &spec.Children[ci]
		cfield := fmt.Sprintf("%s.children[%d]", field, ci)
		n := c.Count
		if n == 0 {
			n = 1
		}
		for i := 0; i < n && !b.aborted; i++ {
			b.domain(c, cfield, id, lvl, childName(c, i, n), stack)
		}
	}
	t.doms[id].chipHi = ChipID(len(t.chips))
	b.spares(spec, field, id)
}

// spares marks the last spec.Spares hosts of domain id as spares.
func (b *builder) spares(spec *DomainSpec, field string, id DomainID) {
	if spec.Spares == 0 || b.aborted {
		return
	}
	t := b.t
	var hosts []DomainID
	for i := int(id); i < len(t.doms); i++ {
		if t.doms[i].host == DomainID(i) {
			hosts = append(hosts, DomainID(i))
		}
	}
	switch {
	case spec.Spares < 0:
		b.errf(field+".spares", "%d is negative; spares is a count of hosts from 0 to the %d of this domain", spec.Spares, len(hosts))
		b.aborted = true
	case spec.Spares > len(hosts):
		b.errf(field+".spares", "%d spare hosts is more than the %d hosts of domain %q; at most %d", spec.Spares, len(hosts), t.doms[id].name, len(hosts))
		b.aborted = true
	default:
		for _, h := range hosts[len(hosts)-spec.Spares:] {
			if !t.doms[h].spare {
				t.doms[h].spare = true
				t.spares = append(t.spares, h)
			}
		}
	}
}

func childName(c *DomainSpec, i, n int) string {
	base := c.Name
	if base == "" {
		base = c.Template
		if base == "" {
			base = c.Level
		}
	}
	if strings.Contains(base, "{i}") {
		return strings.ReplaceAll(base, "{i}", strconv.Itoa(i))
	}
	if n == 1 && c.Name != "" {
		return base
	}
	return base + strconv.Itoa(i)
}

func (b *builder) levelNames() []string {
	out := make([]string, len(b.f.Levels))
	for i, l := range b.f.Levels {
		out[i] = l.Name
	}
	return out
}

func (b *builder) kindID(name string) KindID {
	for i, k := range b.t.Kinds {
		if k.Name == name {
			return KindID(i)
		}
	}
	k, _ := b.cat.Lookup(name)
	b.t.Kinds = append(b.t.Kinds, k)
	return KindID(len(b.t.Kinds) - 1)
}

// checkDomain validates one domain spec in the context of its level.
func (b *builder) checkDomain(spec *DomainSpec, field string, lvl int) {
	lname := b.f.Levels[lvl].Name
	if spec.Count < 0 || spec.Count > MaxRepeat {
		b.errf(field+".count", "%d is out of range (1 to %d; omit for 1)", spec.Count, MaxRepeat)
	}
	if spec.Name != "" && !ValidName(strings.ReplaceAll(spec.Name, "{i}", "0")) {
		b.errf(field+".name", "%q is not a valid domain name (letters, digits, '-', '_', '.', and {i} for the index)", spec.Name)
	}
	if spec.Chips != nil && len(spec.Children) > 0 {
		b.errf(field+".chips", "a domain holds either chips or children, not both")
	}
	if spec.Chips == nil && len(spec.Children) == 0 && lvl != b.hostLevel {
		b.errf(field, "a %s domain needs chips or children", lname)
	}
	if spec.Chips != nil {
		if lvl < b.hostLevel {
			b.errf(field+".chips", "chips must sit at or below the host level %q, not in a %s", b.f.Levels[b.hostLevel].Name, lname)
		}
		if _, ok := b.cat.Lookup(spec.Chips.Kind); !ok {
			b.errf(field+".chips.kind", "unknown chip kind %q (known: %s; define others under chipKinds)", spec.Chips.Kind, strings.Join(b.cat.Names(), ", "))
		}
		if spec.Chips.Count < 1 || spec.Chips.Count > MaxChipsPerLeaf {
			b.errf(field+".chips.count", "%d is out of range (1 to %d)", spec.Chips.Count, MaxChipsPerLeaf)
		}
	}
	if lvl != b.hostLevel && (spec.CPUMilli != 0 || spec.MemoryMiB != 0 || spec.MaxRanks != 0) {
		b.errf(field, "cpuMilli, memoryMiB and maxRanks belong to hosts (level %q), not to a %s", b.f.Levels[b.hostLevel].Name, lname)
	}
	if spec.MaxRanks < 0 || spec.MaxRanks > 1<<20 {
		b.errf(field+".maxRanks", "%d is out of range (0 for no limit, up to %d)", spec.MaxRanks, 1<<20)
	}
	if spec.CPUMilli < 0 || spec.CPUMilli > 1<<40 {
		b.errf(field+".cpuMilli", "%d is out of range (0 to %d)", spec.CPUMilli, int64(1)<<40)
	}
	if spec.MemoryMiB < 0 || spec.MemoryMiB > 1<<40 {
		b.errf(field+".memoryMiB", "%d is out of range (0 to %d)", spec.MemoryMiB, int64(1)<<40)
	}
	if spec.PowerBudgetW < 0 || spec.PowerBudgetW > 1e9 {
		b.errf(field+".powerBudgetW", "%g is out of range (0 for none, up to 1e9 W)", spec.PowerBudgetW)
	}
}

// finish builds child lists, per-domain kind totals and the host index, and
// checks the rules that need the whole tree.
func (b *builder) finish() {
	t := b.t
	n := len(t.doms)
	if len(t.chips) == 0 {
		b.errf("root", "the pool has no chips")
		return
	}
	counts := make([]int32, n+1)
	for i := 1; i < n; i++ {
		counts[t.doms[i].parent+1]++
	}
	for i := 1; i <= n; i++ {
		counts[i] += counts[i-1]
	}
	t.children = make([]DomainID, n-1)
	next := append([]int32(nil), counts[:n]...)
	for i := 1; i < n; i++ {
		p := t.doms[i].parent
		t.children[next[p]] = DomainID(i)
		next[p]++
	}
	for i := 0; i < n; i++ {
		t.doms[i].childLo, t.doms[i].childHi = counts[i], counts[i+1]
	}
	// Kind totals, bottom-up (children have larger IDs than parents).
	per := make([]map[KindID]int32, n)
	for i := n - 1; i >= 0; i-- {
		d := &t.doms[i]
		m := per[i]
		if m == nil {
			m = map[KindID]int32{}
		}
		if d.leaf {
			for c := d.chipLo; c < d.chipHi; c++ {
				m[t.chips[c].kind]++
			}
		}
		per[i] = m
		if d.parent != NoDomain {
			pm := per[d.parent]
			if pm == nil {
				pm = map[KindID]int32{}
				per[d.parent] = pm
			}
			for k, v := range m {
				pm[k] += v
			}
		}
	}
	for i := 0; i < n; i++ {
		keys := make([]int, 0, len(per[i]))
		for k := range per[i] {
			keys = append(keys, int(k))
		}
		sort.Ints(keys)
		t.doms[i].kindLo = int32(len(t.kinds))
		for _, k := range keys {
			t.kinds = append(t.kinds, kindTotal{kind: KindID(k), total: per[i][KindID(k)]})
		}
		t.doms[i].kindHi = int32(len(t.kinds))
		if t.doms[i].powerBudgetMW > 0 {
			t.hasBudgets = true
		}
	}
	for i := 0; i < n; i++ {
		if int(t.doms[i].level) != b.hostLevel {
			continue
		}
		id := DomainID(i)
		t.hosts = append(t.hosts, id)
		path := t.Path(id)
		if _, dup := t.hostByName[path]; dup {
			b.errf("root", "two hosts are both named %q; host paths must be unique", path)
			return
		}
		t.hostByName[path] = id
	}
	// A local host name is an alias when it is unique in the pool.
	local := map[string]int{}
	for _, h := range t.hosts {
		local[t.doms[h].name]++
	}
	for _, h := range t.hosts {
		if name := t.doms[h].name; local[name] == 1 {
			if _, taken := t.hostByName[name]; !taken {
				t.hostByName[name] = h
			}
		}
	}
	for i := range t.chips {
		if t.chips[i].host == NoDomain {
			b.errf("root", "chip %d is not below any host", i)
			return
		}
	}
	t.powerMW = make([]int64, len(t.Kinds))
	for i, k := range t.Kinds {
		t.powerMW[i] = int64(k.PowerW + 0.5)
	}
	b.checkShapes()
}

// checkShapes fills Level.DomainSize and rejects shape rules no rank could
// ever satisfy.
func (b *builder) checkShapes() {
	t := b.t
	sizes := make([]int, len(t.Levels))
	for i := range sizes {
		sizes[i] = -1
	}
	maxSize := make([]int, len(t.Levels))
	for i := range t.doms {
		l := t.doms[i].level
		s := int(t.doms[i].chipHi - t.doms[i].chipLo)
		switch {
		case sizes[l] == -1:
			sizes[l] = s
		case sizes[l] != s:
			sizes[l] = 0
		}
		if s > maxSize[l] {
			maxSize[l] = s
		}
	}
	for i := range t.Levels {
		if sizes[i] > 0 {
			t.Levels[i].DomainSize = sizes[i]
		}
		r := t.Levels[i].Shape
		field := fmt.Sprintf("levels[%d].shape", i)
		if r.Align && sizes[i] <= 0 {
			b.errf(field+".align", "align needs every %s domain to hold the same number of chips", t.Levels[i].Name)
		}
		if len(r.Counts) > 0 && r.Counts[0] > maxSize[i] {
			b.errf(field+".counts", "no %s holds %d chips (the largest holds %d), so no rank could ever satisfy counts %v", t.Levels[i].Name, r.Counts[0], maxSize[i], r.Counts)
		}
	}
}
