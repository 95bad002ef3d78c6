package fault

import (
	"embed"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/qunhq/qun/internal/strictyaml"
)

//go:embed data/*.yaml
var builtin embed.FS

// ErrInvalid is wrapped by every error about a bad fault file or code.
var ErrInvalid = strictyaml.ErrInvalid

// Entry is what the table says about one fault code.
type Entry struct {
	Code  string // "SOURCE:CODE"
	Level Level
	Name  string // what the fault is, in a few words
	File  string // the file and line that defined it ("builtin:nvidia-xid.yaml:13")
	Known bool   // false for a code no table lists
}

// Escalation raises a chip's level when it faults often: Count faults
// within Window raise it to Level. Count 0 disables escalation.
type Escalation struct {
	Count  int
	Window time.Duration
	Level  Level
}

// Table maps fault codes to levels. A Table is read-only once built and
// safe for concurrent use.
type Table struct {
	entries    map[string]Entry
	escalation map[string]Escalation // per source
}

// DefaultEscalation applies to sources whose file names none.
var DefaultEscalation = Escalation{Count: 3, Window: 24 * time.Hour, Level: IsolateDevice}

var defaultTable = func() *Table {
	t, err := loadBuiltin()
	if err != nil {
		panic(fmt.Sprintf("fault: built-in tables: %v", err))
	}
	return t
}()

// Default returns the built-in table (the files of data/).
func Default() *Table { return defaultTable }

func loadBuiltin() (*Table, error) {
	names, err := builtin.ReadDir("data")
	if err != nil {
		return nil, err
	}
	t := &Table{entries: map[string]Entry{}, escalation: map[string]Escalation{}}
	for _, n := range names {
		data, err := builtin.ReadFile(path.Join("data", n.Name()))
		if err != nil {
			return nil, err
		}
		f, err := Parse("builtin:"+n.Name(), data)
		if err != nil {
			return nil, err
		}
		t = t.Merge(f)
	}
	return t, nil
}

// LoadFiles returns the built-in table with the entries of each file added,
// later files overriding earlier ones and the built-in entries.
func LoadFiles(paths ...string) (*Table, error) {
	t := Default()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("fault file: %w", err)
		}
		f, err := Parse(p, data)
		if err != nil {
			return nil, err
		}
		t = t.Merge(f)
	}
	return t, nil
}

// Merge returns a table with o's entries and escalation rules over t's.
func (t *Table) Merge(o *Table) *Table {
	out := &Table{entries: map[string]Entry{}, escalation: map[string]Escalation{}}
	for _, x := range []*Table{t, o} {
		for k, v := range x.entries {
			out.entries[k] = v
		}
		for k, v := range x.escalation {
			out.escalation[k] = v
		}
	}
	return out
}

// Lookup returns the entry of code ("xid:48"), if a table lists it.
func (t *Table) Lookup(code string) (Entry, bool) {
	e, ok := t.entries[code]
	return e, ok
}

// Classify returns the entry of code; a code no table lists is reset-device
// with Known false (see the package's caveats).
func (t *Table) Classify(code string) Entry {
	if e, ok := t.entries[code]; ok {
		return e
	}
	return Entry{Code: code, Level: ResetDevice, Name: "unknown fault code"}
}

// EscalationFor returns the escalation rule of code's source.
func (t *Table) EscalationFor(code string) Escalation {
	src, _, _ := strings.Cut(code, ":")
	if e, ok := t.escalation[src]; ok {
		return e
	}
	return DefaultEscalation
}

// Codes returns every code of the table, sorted.
func (t *Table) Codes() []string {
	out := make([]string, 0, len(t.entries))
	for k := range t.entries {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// fileDoc is a fault file (docs/faults.md).
type fileDoc struct {
	APIVersion  string      `yaml:"apiVersion"`
	Kind        string      `yaml:"kind"`
	Source      string      `yaml:"source"`
	Description string      `yaml:"description"`
	Faults      []fileFault `yaml:"faults"`
	Escalation  *fileEsc    `yaml:"escalation"`
}

type fileFault struct {
	Code  string `yaml:"code"`
	Level string `yaml:"level"`
	Name  string `yaml:"name"`
}

type fileEsc struct {
	Count  int    `yaml:"count"`
	Window string `yaml:"window"`
	Level  string `yaml:"level"`
}

// MaxEscalationCount bounds escalation.count.
const MaxEscalationCount = 1000

// Parse reads one fault file. file names it in errors, which are
// strictyaml.Problems: each names the file, line, column, field and the bad
// value with what is allowed.
func Parse(file string, data []byte) (*Table, error) {
	var d fileDoc
	pos, err := strictyaml.Decode(file, data, &d)
	if err != nil {
		return nil, err
	}
	var probs strictyaml.Problems
	bad := func(field, format string, args ...any) { probs = append(probs, pos.At(field, format, args...)) }
	if d.APIVersion != "qun/v1" {
		bad("apiVersion", "apiVersion %q: want qun/v1", d.APIVersion)
	}
	if d.Kind != "FaultTable" {
		bad("kind", "kind %q: want FaultTable", d.Kind)
	}
	if err := checkName(d.Source, false); err != nil {
		bad("source", "source %v", err)
	}
	t := &Table{entries: map[string]Entry{}, escalation: map[string]Escalation{}}
	seen := map[string]int{}
	for i, f := range d.Faults {
		field := fmt.Sprintf("faults[%d]", i)
		if err := checkName(f.Code, true); err != nil {
			bad(field+".code", "code %v", err)
			continue
		}
		lv, err := ParseLevel(f.Level)
		if err != nil {
			bad(field+".level", "%v", err)
			continue
		}
		if prev, dup := seen[f.Code]; dup {
			bad(field+".code", "code %q already listed as faults[%d]", f.Code, prev)
			continue
		}
		seen[f.Code] = i
		where := pos.At(field, "")
		t.entries[d.Source+":"+f.Code] = Entry{
			Code: d.Source + ":" + f.Code, Level: lv, Name: strings.TrimSpace(f.Name), Known: true,
			File: fmt.Sprintf("%s:%d", file, where.Line),
		}
	}
	if e := d.Escalation; e != nil {
		var esc Escalation
		ok := true
		if e.Count < 0 || e.Count > MaxEscalationCount {
			bad("escalation.count", "count %d: want 0..%d (0 disables escalation)", e.Count, MaxEscalationCount)
			ok = false
		}
		w, err := time.ParseDuration(e.Window)
		if e.Count > 0 && (err != nil || w <= 0) {
			bad("escalation.window", "window %q: want a positive duration such as 10m or 24h", e.Window)
			ok = false
		}
		lv, err := ParseLevel(e.Level)
		if e.Count > 0 && err != nil {
			bad("escalation.level", "%v", err)
			ok = false
		}
		if ok {
			esc = Escalation{Count: e.Count, Window: w, Level: lv}
			t.escalation[d.Source] = esc
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return t, nil
}

// checkName checks a source name (lower-case letters, digits, '-') or a code
// (letters, digits, '.', '_', '-'); at most 64 characters.
func checkName(s string, code bool) error {
	allowed := "lower-case letters, digits and '-'"
	if code {
		allowed = "letters, digits, '.', '_' and '-'"
	}
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%q: want 1..64 characters of %s", s, allowed)
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-'
		if code {
			ok = ok || r >= 'A' && r <= 'Z' || r == '.' || r == '_'
		}
		if !ok {
			return fmt.Errorf("%q has %q: allowed are %s", s, r, allowed)
		}
	}
	return nil
}

// CheckCode checks a full fault code "SOURCE:CODE", as the fake fault hook
// and the agent's inputs give them.
func CheckCode(s string) error {
	src, code, ok := strings.Cut(s, ":")
	if !ok {
		return fmt.Errorf("fault code %q: want SOURCE:CODE such as xid:48 or fake:reset-device: %w", s, ErrInvalid)
	}
	if err := checkName(src, false); err != nil {
		return fmt.Errorf("fault code source %w: %w", err, ErrInvalid)
	}
	if err := checkName(code, true); err != nil {
		return fmt.Errorf("fault code %w: %w", err, ErrInvalid)
	}
	return nil
}
