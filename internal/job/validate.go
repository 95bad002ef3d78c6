package job

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/strictyaml"
)

const (
	nameRule       = "lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters"
	chipsPerRankOK = "allowed: a whole number of chips from 1 to 64, or a fraction between 0 and 1 in thousandths such as 0.25"
)

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validName reports whether s is a DNS-label-like name.
func validName(s string) bool { return len(s) <= 63 && nameRE.MatchString(s) }

// checker collects problems, locating them with pos when it is not nil.
type checker struct {
	pos   *strictyaml.Positions
	probs strictyaml.Problems
}

func (c *checker) add(field, format string, args ...any) {
	if c.pos == nil {
		c.probs = append(c.probs, strictyaml.Problem{Field: field, Msg: fmt.Sprintf(format, args...)})
		return
	}
	c.probs = append(c.probs, c.pos.At(field, format, args...))
}

// written reports whether the document wrote field; always false without
// positions, where a zero value cannot be told from an omitted one.
func (c *checker) written(field string) bool { return c.pos != nil && c.pos.Has(field) }

// Validate reports everything wrong with s, sorted by position, or nil. It
// accepts a spec as written or normalized. cat is the chip catalog kinds
// are checked against; nil means pool.DefaultCatalog(). pos, from
// strictyaml.Decode, locates each problem in the file; with a nil pos (a
// spec from JSON or Go) problems name only the field, and a zero value is
// taken as "not given" even where the document wrote 0.
func (s *Spec) Validate(cat *pool.Catalog, pos *strictyaml.Positions) strictyaml.Problems {
	c := &checker{pos: pos}
	c.header(s)
	if c.shape(s) {
		c.plan(s)
	}
	c.accept(s, cat)
	c.resources(s)
	c.run(s)
	c.restart(s)
	if len(c.probs) == 0 {
		return nil
	}
	return c.probs.Sorted()
}

func (c *checker) header(s *Spec) {
	switch s.APIVersion {
	case APIVersion:
	case "":
		c.add("apiVersion", "required (allowed: %s)", APIVersion)
	default:
		c.add("apiVersion", "%q is not supported (allowed: %s)", s.APIVersion, APIVersion)
	}
	switch s.Kind {
	case Kind:
	case "":
		c.add("kind", "required (allowed: %s)", Kind)
	default:
		c.add("kind", "%q is not supported (allowed: %s)", s.Kind, Kind)
	}
	switch {
	case s.Name == "":
		c.add("name", "required, such as llama-70b (%s)", nameRule)
	case !validName(s.Name):
		c.add("name", "%q is not a valid name (%s)", s.Name, nameRule)
	}
	if s.Queue != "" && !validQueue(s.Queue) {
		c.add("queue", "%q is not a valid queue path (queue names separated by '/', such as research/llm; each name: %s)", s.Queue, nameRule)
	}
	if s.Priority < MinPriority || s.Priority > MaxPriority {
		c.add("priority", "%d is out of range (%d to %d; higher is more important)", s.Priority, MinPriority, MaxPriority)
	}
}

func validQueue(q string) bool {
	if len(q) > 253 {
		return false
	}
	for _, part := range strings.Split(q, "/") {
		if !validName(part) {
			return false
		}
	}
	return true
}

func validPerRank(m Milli) bool {
	return m > 0 && m < Whole || m.IsWhole() && m >= Whole && m <= MaxChipsPerRank*Whole
}

// shape checks chips, ranks and chipsPerRank, and reports whether they fit
// together well enough to check the parallelism plan.
func (c *checker) shape(s *Spec) bool {
	n := len(c.probs)
	if s.Chips < 0 || s.Chips > MaxTotalChips || s.Chips == 0 && c.written("chips") {
		c.add("chips", "%d is out of range (1 to %d; omit it to give ranks and chipsPerRank instead)", s.Chips, MaxTotalChips)
	}
	if s.Ranks < 0 || s.Ranks > MaxRanks || s.Ranks == 0 && c.written("ranks") {
		c.add("ranks", "%d is out of range (1 to %d)", s.Ranks, MaxRanks)
	}
	if s.ChipsPerRank < 0 || s.ChipsPerRank == 0 && c.written("chipsPerRank") ||
		s.ChipsPerRank != 0 && !validPerRank(s.ChipsPerRank) {
		c.add("chipsPerRank", "%s is not allowed (%s)", s.ChipsPerRank, chipsPerRankOK)
	}
	if len(c.probs) > n {
		return false
	}
	if s.Chips > 0 {
		milli := int64(s.Chips) * int64(Whole)
		switch r, per := s.Ranks, s.ChipsPerRank; {
		case r > 0 && per > 0:
			if milli != int64(r)*int64(per) {
				c.add("chips", "%d disagrees with ranks × chipsPerRank = %d × %s = %s chips (give chips with ranks or with chipsPerRank, or make them agree)",
					s.Chips, r, per, Milli(int64(r)*int64(per)))
			}
		case r > 0:
			if milli%int64(r) != 0 {
				c.add("chips", "%d chips cannot be shared evenly by %d ranks (%s)", s.Chips, r, chipsPerRankOK)
			} else if d := Milli(milli / int64(r)); !validPerRank(d) {
				c.add("chips", "%d chips over %d ranks is %s chips per rank (%s)", s.Chips, r, d, chipsPerRankOK)
			}
		case per > 0:
			if milli%int64(per) != 0 {
				c.add("chips", "%d chips do not divide into ranks of %s chips (chipsPerRank); chips must be a multiple of chipsPerRank", s.Chips, per)
			} else if d := milli / int64(per); d > MaxRanks {
				c.add("chips", "%d chips in ranks of %s chips is %d ranks (at most %d allowed)", s.Chips, per, d, MaxRanks)
			}
		}
		if len(c.probs) > n {
			return false
		}
	}
	r, per := s.shape()
	if t := int64(r) * int64(per); t > MaxTotalChips*int64(Whole) {
		field := "ranks"
		if s.Chips > 0 {
			field = "chips"
		}
		c.add(field, "%d ranks × %s chips per rank = %s chips (at most %d allowed)", r, per, Milli(t), MaxTotalChips)
		return false
	}
	return true
}

func (c *checker) plan(s *Spec) {
	given := s.Parallelism
	bad := false
	for _, d := range []struct {
		name string
		v    int
	}{{"tensor", given.Tensor}, {"pipeline", given.Pipeline}, {"data", given.Data}, {"expert", given.Expert}} {
		f := "parallelism." + d.name
		if d.v < 0 || d.v > MaxTotalChips || d.v == 0 && c.written(f) {
			c.add(f, "%d is out of range (1 to %d; omit it for the default)", d.v, MaxTotalChips)
			bad = true
		}
	}
	if bad {
		return
	}
	units, what := s.planUnits(), "chips"
	if s.RankMilli() < int(Whole) {
		what = "ranks (a rank holds a fraction of a chip)"
	}
	p := s.Plan()
	tp := int64(p.Tensor) * int64(p.Pipeline)
	if given.Data == 0 && p.Data == 0 {
		c.add("parallelism", "tensor × pipeline = %d × %d = %d does not divide the job's %d %s, so data parallelism cannot be derived", p.Tensor, p.Pipeline, tp, units, what)
		return
	}
	if prod := tp * int64(p.Data); prod != units {
		c.add("parallelism", "tensor × pipeline × data = %d × %d × %d = %d, but the job has %d %s; the product must equal it", p.Tensor, p.Pipeline, p.Data, prod, units, what)
		return
	}
	if p.Data%p.Expert != 0 {
		c.add("parallelism.expert", "%d does not divide data = %d (allowed: %s)", p.Expert, p.Data, divisors(p.Data))
	}
}

// divisors lists the divisors of n (n ≥ 1), eliding the middle of long lists.
func divisors(n int) string {
	var lo, hi []int
	for i := 1; i*i <= n; i++ {
		if n%i == 0 {
			lo = append(lo, i)
			if i != n/i {
				hi = append([]int{n / i}, hi...)
			}
		}
	}
	all := append(lo, hi...)
	strs := make([]string, 0, len(all))
	for i, d := range all {
		if len(all) > 12 && i == 6 {
			strs = append(strs, "...")
		}
		if len(all) <= 12 || i < 6 || i >= len(all)-6 {
			strs = append(strs, fmt.Sprint(d))
		}
	}
	return strings.Join(strs, ", ")
}

func (c *checker) accept(s *Spec, cat *pool.Catalog) {
	if cat == nil {
		cat = pool.DefaultCatalog()
	}
	a := s.Accept
	n := len(c.probs)
	seen := map[string]bool{}
	for i, k := range a.Kinds {
		f := fmt.Sprintf("accept.kinds[%d]", i)
		if _, ok := cat.Lookup(k); !ok {
			c.add(f, "unknown chip kind %q (known: %s)", k, strings.Join(cat.Names(), ", "))
		} else if seen[k] {
			c.add(f, "chip kind %q is listed twice", k)
		}
		seen[k] = true
	}
	if math.IsNaN(a.MinHBMGiB) || a.MinHBMGiB < 0 || a.MinHBMGiB > 1e5 {
		c.add("accept.minHBMGiB", "%g is out of range (0 to 100000 GiB)", a.MinHBMGiB)
	}
	if len(c.probs) > n || a.MinHBMGiB == 0 {
		return
	}
	names := a.Kinds
	if len(names) == 0 {
		names = cat.Names()
	}
	var best pool.ChipKind
	for _, name := range names {
		k, _ := cat.Lookup(name)
		if k.HBMGiB >= a.MinHBMGiB {
			return
		}
		if k.HBMGiB > best.HBMGiB {
			best = k
		}
	}
	if best.Name == "" {
		c.add("accept.minHBMGiB", "no chip kinds are known to accept")
		return
	}
	c.add("accept.minHBMGiB", "no accepted chip kind has %g GiB of HBM (the most is %g GiB, on %s)", a.MinHBMGiB, best.HBMGiB, best.Name)
}

func (c *checker) resources(s *Spec) {
	if s.CPUMilliPerRank < 0 || s.CPUMilliPerRank > MaxCPUMilli {
		c.add("cpuMilliPerRank", "%d is out of range (0 to %d thousandths of a core)", s.CPUMilliPerRank, MaxCPUMilli)
	}
	if s.MemoryMiBPerRank < 0 || s.MemoryMiBPerRank > MaxMemoryMiB {
		c.add("memoryMiBPerRank", "%d is out of range (0 to %d MiB)", s.MemoryMiBPerRank, MaxMemoryMiB)
	}
	for _, b := range []struct {
		name string
		v    float64
	}{{"tensorBytes", s.Communication.TensorBytes}, {"pipelineBytes", s.Communication.PipelineBytes},
		{"dataBytes", s.Communication.DataBytes}, {"expertBytes", s.Communication.ExpertBytes}} {
		if math.IsNaN(b.v) || b.v < 0 || b.v > MaxStepBytes {
			c.add("communication."+b.name, "%g is out of range (0 to %g bytes per rank and step)", b.v, MaxStepBytes)
		}
	}
}

func (c *checker) run(s *Spec) {
	if s.Duration < 0 {
		c.add("duration", "%s is negative (allowed: omitted or 0 for unknown, or a positive Go duration such as 90m or 2h)", s.Duration)
	}
	ck := s.Checkpoint
	switch {
	case ck.Interval == AutoInterval && !(s.TotalChipsMilli() > 0 && Milli(s.TotalChipsMilli()).IsWhole()):
		c.add("checkpoint.interval", "auto needs the job's chip count (give chips, or ranks and chipsPerRank in whole chips)")
	case ck.Interval < 0 && ck.Interval != AutoInterval:
		c.add("checkpoint.interval", "%s is negative (allowed: auto or a positive Go duration such as 30m)", ck.Interval)
	}
	switch {
	case (ck.Interval > 0 || ck.Interval == AutoInterval) && ck.Dir == "":
		c.add("checkpoint.dir", "required when checkpoint.interval is given (an absolute path such as /ckpt/llama)")
	case ck.Dir != "" && !path.IsAbs(ck.Dir):
		c.add("checkpoint.dir", "%q is not an absolute path (such as /ckpt/llama)", ck.Dir)
	}
	switch {
	case len(s.Command) == 0:
		c.add("command", "required: the program each rank runs and its arguments, such as [python, train.py]")
	case s.Command[0] == "":
		c.add("command[0]", "the program name is empty")
	}
	c.noNUL("command", s.Command)
	c.noNUL("args", s.Args)
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !envRE.MatchString(k) {
			c.add("env."+k, "%q is not a valid environment variable name (letters, digits and '_', not starting with a digit)", k)
		} else if strings.ContainsRune(s.Env[k], 0) {
			c.add("env."+k, "the value contains a NUL byte")
		}
	}
	if s.Workdir != "" && (!path.IsAbs(s.Workdir) || strings.ContainsRune(s.Workdir, 0)) {
		c.add("workdir", "%q is not an absolute path (such as /work/llama)", s.Workdir)
	}
}

func (c *checker) noNUL(field string, list []string) {
	for i, v := range list {
		if strings.ContainsRune(v, 0) {
			c.add(fmt.Sprintf("%s[%d]", field, i), "contains a NUL byte")
		}
	}
}
