package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/testbin"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/qunhq/qun/api"
)

// chromiumPath finds Chromium. scripts/test.sh installs Debian's chromium
// and sets QUN_REQUIRE_CHROMIUM, so CI fails when it is still missing;
// elsewhere the test skips.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("QUN_REQUIRE_CHROMIUM") != "" {
		t.Fatal("chromium is not installed, and QUN_REQUIRE_CHROMIUM is set (scripts/test.sh installs Debian's chromium with apt-get)")
	}
	t.Skip("chromium not found: install Debian's chromium (scripts/test.sh does) to drive the dashboard in a real browser")
	return ""
}

// shotDir is where the screenshots go: $QUN_SCREENSHOT_DIR, or a fixed
// directory under the system's temp dir so they outlive the test.
func shotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("QUN_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "qun-dashboard-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium tab and what it saw: console errors,
// uncaught exceptions, browser log errors and the bytes of every response.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	problems []string
	urls     map[network.RequestID]string
	bytes    map[string]float64 // by URL path and query
}

func newBrowser(t *testing.T, base string, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	exe := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 900), chromedp.Flag("disable-dev-shm-usage", true))
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t, base: base, urls: map[network.RequestID]string{}, bytes: map[string]float64{}}
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(b.event))
	t.Cleanup(func() { cancel(); cancelA() })
	b.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1400, 900)); err != nil {
		t.Fatalf("start chromium %s: %v", exe, err)
	}
	return b
}

func (b *browser) event(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeAssert || e.Type == runtime.ConsoleAPICalledTypeWarning {
			var parts []string
			for _, a := range e.Args {
				parts = append(parts, strings.Trim(string(a.Value), `"`)+a.Description)
			}
			b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", e.Type, strings.Join(parts, " ")))
		}
	case *runtime.EventExceptionThrown:
		d := e.ExceptionDetails
		msg := d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		b.problems = append(b.problems, fmt.Sprintf("exception at %s:%d: %s", d.URL, d.LineNumber, msg))
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
			b.problems = append(b.problems, fmt.Sprintf("browser log %s (%s): %s %s", e.Entry.Level, e.Entry.Source, e.Entry.Text, e.Entry.URL))
		}
	case *network.EventResponseReceived:
		b.urls[e.RequestID] = e.Response.URL
	case *network.EventLoadingFinished:
		if u, ok := b.urls[e.RequestID]; ok {
			b.bytes[strings.TrimPrefix(u, b.base)] += e.EncodedDataLength
		}
	}
}

// take returns and forgets the problems and response bytes seen so far.
func (b *browser) take() ([]string, map[string]float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, by := b.problems, b.bytes
	b.problems, b.bytes = nil, map[string]float64{}
	return p, by
}

// open loads the dashboard at view (a hash route such as "jobs/j-000001")
// in a fresh page and waits until the view has drawn after at least after
// earlier renders (0: the first).
func (b *browser) open(view string) time.Duration {
	b.t.Helper()
	start := time.Now()
	err := chromedp.Do(b.ctx, chromedp.Navigate(b.base+"/?t="+strconv.FormatInt(start.UnixNano(), 36)+"#/"+view))
	if err != nil {
		b.t.Fatalf("open %s: %v", view, err)
	}
	b.waitRendered(strings.SplitN(view, "/", 2)[0], 0)
	return time.Since(start)
}

// waitRendered waits until the body says view has drawn more than after
// times, or fails showing the page's error banner.
func (b *browser) waitRendered(view string, after int) int {
	b.t.Helper()
	expr := fmt.Sprintf(`document.body.dataset.view === %q && Number(document.body.dataset.rendered) > %d && Number(document.body.dataset.rendered)`, view, after)
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Poll[int](expr, chromedp.WithPollingInterval(5*time.Millisecond)))
	for try := 0; err != nil && strings.Contains(err.Error(), "Cannot find context") && try < 3; try++ {
		// The poll ran in the execution context of the page being left
		// (navigation race); poll again in the new one.
		n, err = chromedp.Run(ctx, chromedp.Poll[int](expr, chromedp.WithPollingInterval(5*time.Millisecond)))
	}
	if err != nil {
		banner, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById('error').textContent`))
		b.t.Fatalf("view %s did not draw: %v; error banner: %q", view, err, banner)
	}
	return n
}

// values returns every data-k number or text on the page: data-v when the
// element has one, else its text.
func (b *browser) values() map[string]string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[map[string]string](
		`Object.fromEntries([...document.querySelectorAll('[data-k]')].map(e => [e.dataset.k, e.dataset.v ?? e.textContent]))`))
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b *browser) screenshot(dir, name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// checkClean fails on any console error, exception or error banner.
func (b *browser) checkClean(view string) map[string]float64 {
	b.t.Helper()
	hidden, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.getElementById('error').hidden`))
	if err != nil || !hidden {
		banner, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById('error').textContent`))
		b.t.Errorf("view %s shows an error: %q (%v)", view, banner, err)
	}
	probs, bytes := b.take()
	for _, p := range probs {
		b.t.Errorf("view %s: %s", view, p)
	}
	return bytes
}

// expect compares page values with the API's, by key.
func expect(t *testing.T, view string, got map[string]string, want map[string]string) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: the page shows no %q (want %s)", view, k, w)
			continue
		}
		if g != w {
			t.Errorf("%s: %s = %q on the page, %q from the API", view, k, g, w)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func fnum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// upWithJobs starts `qun up` (4 nodes × 8 fake 910B) with a running, a
// pending and a failed job, one recovered from a failed rank (restarted in
// place, running as its attempt 1) and one restarted after a preemption.
func upWithJobs(t *testing.T) (base, data string, c *api.Client, running, pending, failed, recovered, restarted string) {
	bin := binaries(t)
	qun := filepath.Join(bin, "qun")
	data = t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t, "127.0.0.1"))
	base = "https://" + listen
	up := start(t, "qun-up", nil, qun, "up", "--data-dir", data, "--listen", listen)
	eventually(t, 60*time.Second, "qun up to say it is up", func() (bool, string) {
		select {
		case <-up.done:
			t.Fatalf("qun up exited early:\n%s", up.output())
		default:
		}
		return strings.Contains(up.output(), "Qun is up"), up.output()
	})
	c = upCreds(t, data, base)
	waitNodes(t, c, 4, 10*time.Second)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(p, []byte("apiVersion: qun/v1\nkind: Job\nname: "+name+"\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	running = submit(t, qun, base, write("train", "queue: research\npriority: 20\nranks: 4\ncommand: [qun-allreduce]\nargs: [--steps, \"100000000\", --log-every, \"100000\"]\n"))
	failed = submit(t, qun, base, write("broken", "queue: research\nranks: 2\nrestartPolicy: {maxRestarts: 0}\ncommand: [sh, -c, \"echo starting; echo boom >&2; exit 3\"]\n"))
	waitJob(t, c, running, 60*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning })
	waitJob(t, c, failed, 60*time.Second, nil)
	// Its rank exits 3 in attempt 0; the restart in place runs (4 chips, so
	// that the pool is full with the victim below).
	recovered = submit(t, qun, base, write("crashy", "queue: research\npriority: 5\nchips: 4\nrestartPolicy: {maxRestarts: 2, backoff: 1s}\n"+
		"command: [sh, -c, \"echo attempt $QUN_ATTEMPT; [ $QUN_ATTEMPT -ge 1 ] || exit 3; exec sleep 100000\"]\n"))
	waitJob(t, c, recovered, 90*time.Second, func(j *api.Job) bool {
		return j.State == api.JobRunning && j.Attempt == 1 && len(j.History) == 1 && j.History[0].RecoveredAt != nil
	})
	// The rest of the pool goes to a low-priority job; a short urgent one
	// preempts it, and it runs again as its attempt 1.
	restarted = submit(t, qun, base, write("victim", "queue: research\nranks: 6\nchipsPerRank: 4\ncommand: [sh, -c, \"echo attempt $QUN_ATTEMPT; exec sleep 100000\"]\n"))
	waitJob(t, c, restarted, 60*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning })
	urgent := submit(t, qun, base, write("urgent", "queue: prod\npriority: 10\nranks: 8\ncommand: [sleep, \"2\"]\n"))
	waitJob(t, c, urgent, 90*time.Second, nil)
	waitJob(t, c, restarted, 90*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning && j.Attempt == 1 })
	// 32 chips: never free while the training job runs.
	pending = submit(t, qun, base, write("big", "queue: prod\nchips: 32\ncommand: [qun-allreduce]\n"))
	waitJob(t, c, pending, 20*time.Second, func(j *api.Job) bool { return j.State == api.JobPending && j.Reason != "" })
	return base, data, c, running, pending, failed, recovered, restarted
}

// TestDashboardInChromium loads every view of the dashboard in headless
// Chromium against `qun up` with running, pending and failed jobs: each
// view draws without a console error, and its numbers equal the API's.
func TestDashboardInChromium(t *testing.T) {
	chromiumPath(t)
	base, data, c, running, pending, failed, recovered, restarted := upWithJobs(t)
	ctx := context.Background()
	b := secureBrowser(t, base, filepath.Join(data, "server"))
	b.loginUp(data) // secure_dashboard_test.go
	dir := shotDir(t)
	var shots []string

	// Overview.
	b.open("overview")
	got := b.values()
	jobs, err := c.ListJobs(ctx, api.ListJobsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m0, err := c.PoolMap(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	byState := map[api.JobState]int{}
	faults := 0
	for _, j := range jobs.Jobs {
		byState[j.State]++
		if j.State == api.JobFailed && time.Since(*j.FinishedAt) < time.Hour {
			faults++
		}
	}
	want := map[string]string{
		"running": itoa(byState[api.JobRunning] + byState[api.JobStarting]), "pending": itoa(byState[api.JobPending]),
		"faults": itoa(faults), "jobs-failed": itoa(byState[api.JobFailed]), "jobs-running": itoa(byState[api.JobRunning]),
	}
	for _, kd := range m0.Kinds {
		want["chips-"+kd.Kind+"-total"], want["chips-"+kd.Kind+"-free"] = itoa(kd.Chips), itoa(kd.Free)
		want["chips-"+kd.Kind+"-alloc"], want["chips-"+kd.Kind+"-down"] = itoa(kd.Alloc), itoa(kd.Down)
	}
	if want["running"] != "3" || want["pending"] != "1" || want["faults"] != "1" || want["chips-910B-alloc"] != "32" {
		t.Errorf("API state %v: want 3 running, 1 pending, 1 failed job and 32 chips allocated", want)
	}
	expect(t, "overview", got, want)
	b.checkClean("overview")
	shots = append(shots, b.screenshot(dir, "overview"))

	// Pool map, then a click on the first node drills down to it.
	b.open("map")
	got = b.values()
	m, err := c.PoolMap(ctx, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"map-chips": itoa(m.Domain.Chips), "map-free": itoa(m.Domain.Free), "map-alloc": itoa(m.Domain.Alloc),
		"map-down": itoa(m.Domain.Down), "map-largest": itoa(m.Domain.Largest)}
	for _, ls := range m.LevelStats {
		want["frag-"+ls.Level] = fnum(ls.Fragmentation)
		for kd, n := range ls.LargestGang {
			want["gang-"+ls.Level+"-"+kd] = itoa(n)
		}
	}
	expect(t, "map", got, want)
	if boxes, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.dataset.mapBoxes`)); boxes != itoa(1+4+32) {
		t.Errorf("the map drew %s boxes, want 37 (the root, 4 nodes, 32 chips)", boxes)
	}
	b.checkClean("map")
	shots = append(shots, b.screenshot(dir, "map"))
	first := m.Domain.Children[0]
	if err := chromedp.Do(b.ctx, chromedp.MouseClickXY(40, 300)); err != nil { // inside node0, the top-left box
		t.Fatal(err)
	}
	hash, err := chromedp.Run(b.ctx, chromedp.Poll[string](fmt.Sprintf(`location.hash === '#/map/%d' && document.body.dataset.view === 'map' && document.querySelector('.crumbs').textContent.includes(%q) && location.hash`, first.ID, first.Name),
		chromedp.WithPollingTimeout(10*time.Second)))
	if err != nil {
		t.Errorf("clicking node0 on the map did not drill down to domain %d: %v (hash %q)", first.ID, err, hash)
	}
	b.checkClean("map drill-down")
	// Every colouring draws without an error.
	b.open("map")
	for _, mode := range []string{"queue", "job", "health", "free"} {
		js := fmt.Sprintf(`(() => { const s = document.getElementById('mode'); s.value = %q; s.dispatchEvent(new Event('change')); return s.value; })()`, mode)
		if v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js)); err != nil || v != mode {
			t.Errorf("colour the map by %s: %q, %v", mode, v, err)
		}
		if mode == "queue" {
			shots = append(shots, b.screenshot(dir, "map-by-queue"))
		}
	}
	b.checkClean("map colourings")

	// Queues.
	b.open("queues")
	got = b.values()
	ql, err := c.ListQueues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]string{}
	for _, q := range ql.Queues {
		var use int64
		for _, v := range q.InUse {
			use += v
		}
		want["q-"+q.Name+"-running"], want["q-"+q.Name+"-pending"], want["q-"+q.Name+"-inuse"] = itoa(q.Running), itoa(q.Pending), strconv.FormatInt(use, 10)
	}
	if want["q-research-inuse"] != "32000" || want["q-prod-pending"] != "1" {
		t.Errorf("API queues %v: want research using 32 chips and prod with 1 pending", want)
	}
	expect(t, "queues", got, want)
	b.checkClean("queues")
	shots = append(shots, b.screenshot(dir, "queues"))

	// Jobs list.
	b.open("jobs")
	got = b.values()
	want = map[string]string{"jobs-total": itoa(len(jobs.Jobs))}
	for _, j := range jobs.Jobs {
		want["job-"+j.ID+"-state"] = string(j.State)
	}
	expect(t, "jobs", got, want)
	b.checkClean("jobs")
	shots = append(shots, b.screenshot(dir, "jobs"))

	// The job pages: placement, modelled communication, logs.
	for _, id := range []string{running, failed, pending, recovered, restarted} {
		b.open("jobs/" + id)
		got = b.values()
		j, err := c.GetJob(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		chips := 0
		for _, p := range j.Placement {
			chips += len(p.Devices) * p.ChipMilli
		}
		want = map[string]string{"job-state": string(j.State), "job-attempt": itoa(j.Attempt), "job-chips": itoa(chips)}
		pl, err := c.JobPlacement(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if pl.Comm != nil {
			want["comm-step"], want["comm-bound"], want["comm-ratio"] = fnum(pl.Comm.Seconds), fnum(pl.Comm.LowerBound), fnum(pl.Comm.Ratio)
		}
		if id == running && pl.Comm == nil {
			t.Errorf("running job %s: no modelled communication from the API", id)
		}
		last := len(j.Placement) - 1
		for _, rank := range []int{0, max(last, 0)} {
			for _, stream := range []string{"stdout", "stderr"} {
				tail, err := c.JobLogTail(ctx, id, api.LogOptions{Rank: rank, Attempt: -1, Stream: stream}, 4096)
				if err != nil {
					t.Fatal(err)
				}
				if len(tail) > 0 && id != running { // a running job's log grows between the two reads
					want["log-"+itoa(rank)+"-"+stream] = string(tail)
				}
			}
		}
		// The rank that fails first writes boom; its peer may be stopped
		// before it does.
		if id == failed && !strings.Contains(want["log-0-stderr"]+want["log-1-stderr"], "boom") {
			t.Errorf("failed job %s: no rank's stderr tail has boom: %q", id, want)
		}
		if len(pl.Chips) > 0 {
			outlined, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById('jmap').dataset.outlined`))
			if err != nil || outlined != itoa(len(pl.Chips)) {
				t.Errorf("job %s: the map outlines %q chips, want its %d (%v)", id, outlined, len(pl.Chips), err)
			}
		}
		// Attempts and recoveries: every ended attempt, its cause, how the
		// job came back and how long that took.
		for i, h := range j.History {
			p := "hist-" + itoa(i) + "-"
			want[p+"attempt"], want[p+"cause"], want[p+"path"] = itoa(h.Attempt), h.Cause, h.Path
			if h.RecoveredAt != nil {
				secs := h.RecoveredAt.Sub(h.DetectedAt).Seconds()
				if g, err := strconv.ParseFloat(got[p+"recovery"], 64); err != nil || g < secs-0.002 || g > secs+0.002 {
					t.Errorf("job %s attempt %d: the page says it recovered in %q s, the API %.3f s", id, h.Attempt, got[p+"recovery"], secs)
				}
			} else if _, shown := got[p+"recovery"]; shown {
				t.Errorf("job %s attempt %d: a recovery time shown for an attempt the API has not recovered", id, h.Attempt)
			}
		}
		switch id {
		case recovered:
			if len(j.History) != 1 || j.History[0].Cause != "rank-failed" || j.History[0].Path != "restart-in-place" || j.History[0].RecoveredAt == nil {
				t.Errorf("recovered job %s: history %+v, want one rank-failed attempt restarted in place and recovered", id, j.History)
			}
			if !strings.Contains(got["log-0-stdout"], "attempt 1") {
				t.Errorf("recovered job %s: rank 0's stdout %q, want attempt 1's", id, got["log-0-stdout"])
			}
		case restarted:
			if len(j.History) != 1 || j.History[0].Cause != "preempted" || j.History[0].Path != "requeue" {
				t.Errorf("preempted job %s: history %+v, want one preempted attempt requeued", id, j.History)
			}
		}
		expect(t, "job "+id, got, want)
		b.checkClean("job " + id)
		if id == restarted {
			n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.getElementById('attempt').options.length`))
			if err != nil || n != 2 || !strings.Contains(got["log-0-stdout"], "attempt 1") {
				t.Errorf("restarted job %s: %d attempts to choose (want 2), rank 0's stdout %q (want attempt 1), %v", id, n, got["log-0-stdout"], err)
			}
		}
		name := "job-" + string(j.State)
		switch id {
		case restarted:
			name = "job-restarted"
		case recovered:
			name = "job-recovered"
		}
		shots = append(shots, b.screenshot(dir, name))
		if id == recovered { // its attempts and recoveries, further down the page
			if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.querySelector('[data-k="hist-0-cause"]').scrollIntoView(), true`)); err != nil {
				t.Error(err)
			}
			shots = append(shots, b.screenshot(dir, name+"-attempts"))
		}
	}

	// Nodes.
	b.open("nodes")
	got = b.values()
	nl, err := c.ListNodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	want = map[string]string{"nodes-total": itoa(len(nl.Nodes))}
	for _, n := range nl.Nodes {
		healthy := 0
		for _, d := range n.Devices {
			if d.Healthy {
				healthy++
			}
		}
		if n.State == api.NodeReady {
			ready++
		}
		want["node-"+n.Name+"-state"], want["node-"+n.Name+"-healthy"] = n.State, itoa(healthy)
	}
	want["nodes-ready"] = itoa(ready)
	expect(t, "nodes", got, want)
	b.checkClean("nodes")
	shots = append(shots, b.screenshot(dir, "nodes"))

	// Usage: a running job's chip-hours grow, so the page's figure lies
	// between the API's before and after it.
	before, err := c.UsageHistory(ctx, time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b.open("usage")
	got = b.values()
	after, err := c.UsageHistory(ctx, time.Hour, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for q, kinds := range after.Totals {
		for kd, hi := range kinds {
			key := "usage-" + q + "-" + kd
			v, err := strconv.ParseFloat(got[key], 64)
			lo := before.Totals[q][kd]
			if err != nil || v < lo-1e-9 || v > hi+1e-9 {
				t.Errorf("usage: %s = %q on the page, want between %g and %g from the API", key, got[key], lo, hi)
			}
		}
	}
	if len(after.Totals) == 0 {
		t.Errorf("usage history has no totals although a job runs")
	}
	b.checkClean("usage")
	shots = append(shots, b.screenshot(dir, "usage"))

	// The page updates live: cancel the pending job while the jobs view
	// is open and see its state change without a reload.
	b.open("jobs")
	if _, err := c.CancelJob(ctx, pending); err != nil {
		t.Fatal(err)
	}
	live := fmt.Sprintf(`document.querySelector('[data-k="job-%s-state"]').textContent === 'cancelled'`, pending)
	lctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(lctx, chromedp.Poll[bool](live)); err != nil {
		t.Errorf("the jobs view did not show %s cancelled within 10 s of the cancel: %v", pending, err)
	}
	b.checkClean("live update")

	t.Logf("screenshots: %s", strings.Join(shots, " "))
	if os.Getenv("QUN_UPDATE_SCREENSHOT") != "" {
		data, err := os.ReadFile(filepath.Join(dir, "map-by-queue.png"))
		if err == nil {
			err = os.WriteFile(filepath.Join(repoRoot, "docs", "img", "dashboard.png"), data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestDashboardSuperClusterMap opens the pool map of the 524,288-chip
// Atlas 950 SuperCluster (a server, no agents) and its drill-down to one
// superpod, and reports how long each took to draw and how many bytes the
// view's API calls carried.
func TestDashboardSuperClusterMap(t *testing.T) {
	chromiumPath(t)
	bin := binaries(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t, "127.0.0.1"))
	base := "https://" + listen
	pool := filepath.Join(repoRoot, "examples", "pools", "atlas950-supercluster.yaml")
	data := t.TempDir()
	start(t, "qun-server", nil, filepath.Join(bin, "qun"), "server", "--pool", pool, "--data-dir", data, "--listen", listen)
	c := secureClient(t, base, data, "")
	eventually(t, 60*time.Second, "the server to answer", func() (bool, string) {
		_, err := c.ListNodes(context.Background())
		return err == nil, fmt.Sprint(err)
	})
	b := secureBrowser(t, base, data)
	b.loginToken(c)    // secure_dashboard_test.go
	b.open("overview") // warm the browser; the page and the pool summary are not the map's
	b.take()

	took := b.open("map")
	drawMs, _ := chromedp.Run(b.ctx, chromedp.Evaluate[float64](`window.qunMapDrawMs`))
	got := b.values()
	bytes := b.checkClean("SuperCluster map")
	total := 0.0
	for _, n := range bytes {
		total += n
	}
	mapBytes := 0.0
	for u, n := range bytes {
		if strings.Contains(u, "/v1/") {
			mapBytes += n
		}
	}
	t.Logf("SuperCluster pool map: drawn %v after navigation (canvas %.1f ms); API calls %.0f bytes %v; page total %.0f bytes",
		took.Round(time.Millisecond), drawMs, mapBytes, bytes, total)
	if got["map-chips"] != "524288" || got["map-down"] != "524288" {
		t.Errorf("map shows %s chips, %s down; want all 524,288 down (no agents)", got["map-chips"], got["map-down"])
	}
	if mapBytes > 1<<20 {
		t.Errorf("the map view's API calls carried %.0f bytes, want at most 1 MiB", mapBytes)
	}
	// A generous bound: the figure to report is the one logged above.
	if took > 20*time.Second {
		t.Errorf("the SuperCluster map took %v to draw", took)
	}
	b.screenshot(shotDir(t), "supercluster-map")

	// Drill down into pod0: its 128 racks of 8 boards.
	m, err := c.PoolMap(context.Background(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	pod := m.Domain.Children[0]
	took = b.open("map/" + itoa(pod.ID))
	got = b.values()
	bytes = b.checkClean("SuperCluster pod map")
	podBytes := 0.0
	for u, n := range bytes {
		if strings.Contains(u, "/v1/") {
			podBytes += n
		}
	}
	boxes, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body.dataset.mapBoxes`))
	t.Logf("SuperCluster superpod %s: drawn %v, %s boxes, API calls %.0f bytes %v", pod.Name, took.Round(time.Millisecond), boxes, podBytes, bytes)
	if got["map-chips"] != itoa(pod.Chips) || podBytes > 1<<20 {
		t.Errorf("pod map: %s chips (want %d), %.0f bytes (want at most 1 MiB)", got["map-chips"], pod.Chips, podBytes)
	}
	if n, _ := strconv.Atoi(boxes); n < 1+128+1024 {
		t.Errorf("pod map drew %s boxes, want the pod, its 128 racks and 1,024 boards", boxes)
	}
	b.screenshot(shotDir(t), "supercluster-pod")
}
