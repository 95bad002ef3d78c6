package sched_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/sched/schedtest"
	"github.com/qunhq/qun/internal/state"
)

var registeredRE = regexp.MustCompile(`\(registered: [^)]*\)`)

// registered holds every reason sched and its plugins register.
var registered = func() map[string]bool {
	m := map[string]bool{}
	for _, r := range append(sched.Reasons(), plugins.Reasons()...) {
		m[r] = true
	}
	return m
}()

// topologyName is the default Place plugin's name.
var topologyName = plugins.DefaultProfile().Place.Name()

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of scenario files")

// TestScenarios runs testdata/scenarios/*.txt. Each file is a list of
// blocks separated by blank lines; a block is a command line, optional input
// lines, "----", and the expected output (no blank lines). Lines starting
// with '#' between blocks are comments. Commands:
//
//	pool file=PATH            | pool  + YAML input
//	profile                   + YAML input (a profile file; default profile otherwise)
//	queue name=a/b [guaranteed=K:N,...] [borrow=K:N,...] [lend=K:N,...] [weight=W]
//	submit id=X [queue=Q] [chips=N] [ranks=R] [milli=M] [prio=P] [duration=D] [runs=D] [kinds=K,...] [cpu=C] [mem=M] [ckpt=D]
//	advance D                 moves the clock; finishes evictions and jobs whose runs= elapsed
//	complete id=X | checkpoint id=X | usage NAME=CHIPSECONDS,...
//	schedule                  one cycle, applied to the store; prints the plan and why each pending job waits
//	running                   running jobs and queue usage
//
// Faults and recovery (recover_test.go): policy, exit, fault, back,
// cordon, uncordon, drain, state.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenario files")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScenario(t, f) })
	}
}

type block struct {
	line     int
	cmd      string
	input    []string
	expected []string
}

func parseScenario(t *testing.T, path string) ([]string, []block) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	var pre []string // comments and blank lines before each block, kept for rewrite
	var blocks []block
	var comments []string
	for i := 0; i < len(lines); {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			comments = append(comments, l)
			i++
			continue
		}
		b := block{line: i + 1, cmd: l}
		i++
		for ; i < len(lines) && lines[i] != "----"; i++ {
			b.input = append(b.input, lines[i])
		}
		if i == len(lines) {
			t.Fatalf("%s:%d: block without ----", path, b.line)
		}
		i++
		for ; i < len(lines) && strings.TrimSpace(lines[i]) != ""; i++ {
			b.expected = append(b.expected, lines[i])
		}
		pre = append(pre, strings.Join(comments, "\n"))
		comments = nil
		blocks = append(blocks, b)
	}
	if len(comments) > 0 {
		pre = append(pre, strings.Join(comments, "\n"))
	}
	return pre, blocks
}

func runScenario(t *testing.T, path string) {
	pre, blocks := parseScenario(t, path)
	h := &harness{t: t, dir: filepath.Dir(path), now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), prof: plugins.DefaultProfile(), runs: map[string]time.Duration{}}
	var out strings.Builder
	for i, b := range blocks {
		got := h.run(b)
		if *rewrite {
			if pre[i] != "" {
				out.WriteString(pre[i] + "\n")
			}
			out.WriteString(b.cmd + "\n")
			for _, l := range b.input {
				out.WriteString(l + "\n")
			}
			out.WriteString("----\n")
			for _, l := range got {
				out.WriteString(l + "\n")
			}
			out.WriteString("\n")
			continue
		}
		if want := strings.Join(b.expected, "\n"); want != strings.Join(got, "\n") {
			t.Errorf("%s:%d: %s\n--- want\n%s\n--- got\n%s", path, b.line, b.cmd, want, strings.Join(got, "\n"))
		}
	}
	if *rewrite {
		if len(pre) > len(blocks) && pre[len(blocks)] != "" {
			out.WriteString(pre[len(blocks)] + "\n")
		}
		if err := os.WriteFile(path, []byte(strings.TrimRight(out.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type harness struct {
	t      *testing.T
	dir    string
	now    time.Time
	topo   *pool.Topology
	store  *state.MemStore
	queues []sched.Queue
	prof   *sched.Profile
	runs   map[string]time.Duration // actual run time of jobs with runs=
	seq    int
	fatal  func(msg string) // instead of t.Fatal, for the harness's own test
}

func parseArgs(t *testing.T, line string) (string, map[string]string, []string) {
	f := strings.Fields(line)
	args := map[string]string{}
	var pos []string
	for _, a := range f[1:] {
		if k, v, ok := strings.Cut(a, "="); ok {
			args[k] = v
		} else {
			pos = append(pos, a)
		}
	}
	return f[0], args, pos
}

func (h *harness) fail(b block, format string, args ...any) {
	msg := fmt.Sprintf("line %d: %s: %s", b.line, b.cmd, fmt.Sprintf(format, args...))
	if h.fatal != nil {
		h.fatal(msg)
		return
	}
	h.t.Fatal(msg)
}

func (h *harness) run(b block) []string {
	cmd, args, pos := parseArgs(h.t, b.cmd)
	switch cmd {
	case "pool":
		var err error
		if f := args["file"]; f != "" {
			h.topo, err = pool.LoadFile(filepath.Join(h.dir, f))
		} else {
			h.topo, err = pool.Load("inline.yaml", []byte(strings.Join(b.input, "\n")), pool.DefaultCatalog())
		}
		if err != nil {
			h.fail(b, "%v", err)
		}
		h.store = state.NewMemStore(h.topo, h.queues, h.prof.FairShare.HalfLife)
		return []string{fmt.Sprintf("%d chips, %d hosts", h.topo.NumChips(), len(h.topo.Hosts()))}
	case "profile":
		p, err := sched.LoadProfile("profile.yaml", []byte(strings.Join(b.input, "\n")), plugins.Default())
		if err != nil {
			// The registry grows as plugins are added; keep the files stable.
			msg := registeredRE.ReplaceAllString(err.Error(), "(registered: ...)")
			return strings.Split(msg, "\n")
		}
		h.prof = p
		if h.topo != nil {
			h.store = state.NewMemStore(h.topo, h.queues, h.prof.FairShare.HalfLife)
		}
		return []string{"ok"}
	case "queue":
		q := sched.Queue{Name: args["name"], Weight: 1}
		if i := strings.LastIndexByte(q.Name, '/'); i > 0 {
			q.Parent = q.Name[:i]
		}
		if w, ok := args["weight"]; ok {
			f, err := strconv.ParseFloat(w, 64)
			if err != nil {
				h.fail(b, "weight=%q is not a number", w)
			}
			q.Weight = f
		}
		q.Guaranteed = h.quota(b, args["guaranteed"])
		q.Borrowing = h.quota(b, args["borrow"])
		q.Lending = h.quota(b, args["lend"])
		h.queues = append(h.queues, q)
		if h.store != nil {
			h.store.SetQueues(h.queues)
		}
		return []string{"ok"}
	case "submit":
		j := h.job(b, args)
		if err := h.store.Submit(j); err != nil {
			return []string{err.Error()}
		}
		return []string{"ok"}
	case "advance":
		d := h.dur(b, pos[0])
		h.now = h.now.Add(d)
		var out []string
		for _, id := range h.store.Tick(h.now) {
			out = append(out, "evicted "+id+" (grace over, requeued)")
		}
		snap, _ := h.store.Snapshot(h.now)
		var done []string
		for _, j := range snap.Running {
			if r, ok := h.runs[j.ID]; ok && !j.Started.Add(r).After(h.now) {
				done = append(done, j.ID)
			}
		}
		sort.Strings(done)
		for _, id := range done {
			if err := h.store.Complete(id, h.now); err != nil {
				h.fail(b, "%v", err)
			}
			out = append(out, "finished "+id)
		}
		if len(out) == 0 {
			out = []string{"ok"}
		}
		return out
	case "complete":
		if err := h.store.Complete(args["id"], h.now); err != nil {
			return []string{err.Error()}
		}
		return []string{"ok"}
	case "checkpoint":
		if err := h.store.Checkpoint(args["id"], h.now); err != nil {
			return []string{err.Error()}
		}
		return []string{"ok"}
	case "schedule":
		return h.schedule(b)
	case "running":
		return h.running()
	}
	if out, ok := h.recoveryCmd(b, cmd, args); ok {
		return out
	}
	h.fail(b, "unknown command %q", cmd)
	return nil
}

func (h *harness) quota(b block, s string) map[string]int64 {
	if s == "" {
		return nil
	}
	out := map[string]int64{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, ":")
		f, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			h.fail(b, "quota %q: want KIND:CHIPS", kv)
		}
		out[k] = int64(f * pool.Full)
	}
	return out
}

func (h *harness) dur(b block, s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		h.fail(b, "%v", err)
	}
	return d
}

func (h *harness) job(b block, args map[string]string) *sched.Job {
	h.seq++
	w := schedtest.Make(args["id"]).Submitted(h.now.Add(time.Duration(h.seq) * time.Nanosecond))
	num := func(k, v string) int {
		n, err := strconv.Atoi(v)
		if err != nil {
			h.fail(b, "%s=%q is not a whole number", k, v)
		}
		return n
	}
	// Sorted, so that an error names the same argument every run.
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cpu, mem int64
	for _, k := range keys {
		v := args[k]
		switch k {
		case "id":
		case "queue":
			w.Queue(v)
		case "ranks":
			w.Ranks(num(k, v))
		case "chips": // per rank; total chips = ranks × chips
			w.Chips(num(k, v))
		case "milli":
			w.Milli(num(k, v))
		case "prio":
			w.Priority(num(k, v))
		case "duration":
			w.Duration(h.dur(b, v))
		case "runs":
			h.runs[args["id"]] = h.dur(b, v)
		case "kinds":
			w.Kinds(strings.Split(v, ",")...)
		case "cpu":
			cpu = int64(num(k, v))
		case "mem":
			mem = int64(num(k, v))
		case "ckpt":
			w.Checkpoint(h.dur(b, v))
		default:
			h.fail(b, "unknown submit argument %q", k)
		}
	}
	return w.Resources(cpu, mem).Obj()
}

func (h *harness) schedule(b block) []string {
	snap, err := h.store.Snapshot(h.now)
	if err != nil {
		h.fail(b, "%v", err)
	}
	plan, ex := sched.Schedule(snap, h.now, nil, h.prof)
	for id, rs := range ex {
		for _, r := range rs {
			// The topology placer's own reasons are internal/place's, which
			// checks them itself.
			if !registered[r.Reason] && r.Plugin != topologyName {
				h.t.Errorf("line %d: %s: %s/%s is not a registered reason", b.line, id, r.Plugin, r.Reason)
			}
			if p := explanationFlaw(r.Detail); p != "" {
				h.t.Errorf("line %d: %s: %s/%s detail %q %s", b.line, id, r.Plugin, r.Reason, r.Detail, p)
			}
		}
	}
	var out []string
	defer func() {
		for _, l := range out {
			if p := explanationFlaw(l); p != "" {
				h.t.Errorf("line %d: %q %s", b.line, l, p)
			}
		}
	}()
	for _, a := range plan.Start {
		out = append(out, fmt.Sprintf("start %s: %s", a.JobID, records(ex[a.JobID], sched.ReasonPlaced)))
		for _, r := range ex[a.JobID] {
			if r.Plugin == sched.PluginRecovery {
				out = append(out, fmt.Sprintf("  %s/%s %s on %s", r.Plugin, r.Reason, r.Detail, hostsOf(h.topo, &a.Placement)))
			}
		}
	}
	for _, e := range plan.Evict {
		out = append(out, fmt.Sprintf("evict %s by %s (%s, grace %s)", e.JobID, e.Preemptor, e.Reason, e.Grace))
	}
	for _, r := range plan.Reservations {
		out = append(out, fmt.Sprintf("reserve %s at +%s", r.JobID, r.At.Sub(h.now)))
	}
	started := map[string]bool{}
	for _, a := range plan.Start {
		started[a.JobID] = true
	}
	for _, j := range snap.Pending {
		if !started[j.ID] {
			out = append(out, fmt.Sprintf("wait %s: %s", j.ID, records(ex[j.ID], "")))
		}
	}
	if err := h.store.Apply(plan, h.now); err != nil {
		out = append(out, "apply: "+err.Error())
	}
	if len(out) == 0 {
		out = []string{"nothing"}
	}
	return out
}

// explanationFlaw says what is wrong with an explanation's text, "" when
// nothing: an empty part between separators ("; ;", ";;", ", ,") or a
// dangling separator at either end, the marks of a part built empty.
func explanationFlaw(s string) string {
	for _, bad := range []string{"; ;", ";;", ", ,", ",,"} {
		if strings.Contains(s, bad) {
			return fmt.Sprintf("has an empty part (%q)", bad)
		}
	}
	if t := strings.TrimSpace(s); strings.HasSuffix(t, ";") || strings.HasPrefix(t, ";") || strings.HasSuffix(t, ",") {
		return "has a dangling separator"
	}
	return ""
}

// records formats explanation records; with only set, just that reason.
func records(rs []sched.Record, only string) string {
	var parts []string
	for _, r := range rs {
		if only != "" && r.Reason != only {
			continue
		}
		s := r.Plugin + "/" + r.Reason
		if r.Detail != "" {
			s += " " + r.Detail
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "(no record)"
	}
	return strings.Join(parts, "; ")
}

func (h *harness) running() []string {
	snap, _ := h.store.Snapshot(h.now)
	var out []string
	q := sched.NewQuotas(snap, h.prof.FairShare.HalfLife)
	for _, j := range snap.Running {
		s := fmt.Sprintf("%s queue=%s prio=%d chips=%s", j.ID, j.Queue, j.Priority, chipsOf(j))
		if j.Evicting {
			s += fmt.Sprintf(" evicting(+%s)", j.EvictAt.Sub(h.now))
		}
		out = append(out, s)
	}
	names := map[string]bool{}
	for _, qu := range snap.Queues {
		names[qu.Name] = true
	}
	for _, j := range append(snap.Running, snap.Pending...) {
		names[j.Queue] = true
	}
	var ns []string
	for n := range names {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	for _, n := range ns {
		out = append(out, fmt.Sprintf("queue %s share=%.4f", n, q.Share(n)))
	}
	if len(out) == 0 {
		out = []string{"nothing"}
	}
	return out
}

func chipsOf(j *sched.Job) string {
	m := j.TotalMilli()
	if m%pool.Full == 0 {
		return strconv.FormatInt(m/pool.Full, 10)
	}
	return strconv.FormatFloat(float64(m)/pool.Full, 'f', 3, 64)
}

// TestScenarioBadNumbers: the harness stops at a malformed number instead
// of reading it as 0.
func TestScenarioBadNumbers(t *testing.T) {
	for _, line := range []string{"submit id=a chips=8x", "submit id=a ranks=", "submit id=a cpu=1.5",
		"submit id=a prio=high", "queue name=q weight=heavy", "submit id=a duration=1 hour"} {
		h := &harness{t: t, now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), prof: plugins.DefaultProfile(), runs: map[string]time.Duration{}}
		h.topo = loadTopo(t, "testdata/pools/flat16.yaml")
		h.store = state.NewMemStore(h.topo, nil, 0)
		var got string
		h.fatal = func(msg string) { got = msg; panic(h) }
		func() {
			defer func() {
				if r := recover(); r != nil && r != h {
					panic(r)
				}
			}()
			h.run(block{line: 1, cmd: line})
		}()
		if got == "" {
			t.Errorf("%q: accepted", line)
		} else if !strings.Contains(got, "line 1: "+line) {
			t.Errorf("%q: error %q does not name the line", line, got)
		}
	}
}

func TestExplanationFlaw(t *testing.T) {
	for s, bad := range map[string]bool{
		"needs 8 chips; 4 are free":  false,
		"":                           false,
		"needs 8 chips; ; 4 free":    true,
		"a;;b":                       true,
		"kinds a, , b":               true,
		"waiting for evictions;":     true,
		"; the fullest host has 2":   true,
		"910B, H100 (3 hosts; 2 up)": false,
	} {
		if got := explanationFlaw(s) != ""; got != bad {
			t.Errorf("explanationFlaw(%q) flags %v, want %v", s, got, bad)
		}
	}
}
