package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/agent"
	"github.com/qunhq/qun/internal/auth"
)

// benchAuth is the security of a benchmark server run with authentication
// (the default, as for qun server): TLS 1.3 with the server's own CA, a
// submitter token of queue default for the clients (so every submission
// goes through the token check, the queue scope and the audit log), and
// node certificates obtained through the real enrolment for the agents.
type benchAuth struct {
	a     *auth.Authority
	dir   string
	roots *tls.Config // trusts the CA only
}

// openBenchAuth creates the CA, server certificate, token store and audit
// log in dir.
func openBenchAuth(dir string) (*benchAuth, error) {
	a, err := auth.Open(auth.Options{DataDir: dir, Names: []string{"127.0.0.1", "localhost"}})
	if err != nil {
		return nil, err
	}
	return &benchAuth{a: a, dir: dir, roots: &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: a.CA.Pool()}}, nil
}

// clients returns the submitters' token (role submitter of queue default)
// and one client per agent, each with its node's certificate.
func (s *benchAuth) clients(ctx context.Context, base string, agents []string) (string, map[string]*api.Client, error) {
	admin, err := api.NewClient(base, api.WithToken(s.a.AdminToken), api.WithTLS(s.roots))
	if err != nil {
		return "", nil, err
	}
	var sub *api.NewToken
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if sub, err = admin.CreateToken(ctx, api.TokenRequest{Name: "bench submitter", Role: auth.RoleSubmitter, Queues: []string{"default"}}); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return "", nil, fmt.Errorf("create the submitter token: %w", err)
		}
	}
	out := map[string]*api.Client{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, name := range agents {
		join, err := admin.CreateToken(ctx, api.TokenRequest{Name: "bench " + name, Join: true, TTL: api.Duration(15 * time.Minute)})
		if err != nil {
			return "", nil, fmt.Errorf("create a join token: %w", err)
		}
		id, err := agent.Enrol(ctx, base, name, filepath.Join(s.dir, "agents", name), join.Token, quiet)
		if err != nil {
			return "", nil, err
		}
		// HTTP/1.1, as the agents without authentication: the comparison
		// measures authentication, not the HTTP version.
		tc := id.TLSConfig()
		tc.NextProtos = []string{"http/1.1"}
		hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: tc}}
		if out[name], err = api.NewClient(base, api.WithHTTPClient(hc)); err != nil {
			return "", nil, err
		}
	}
	return sub.Token, out, nil
}

func (s *benchAuth) close() {
	if s != nil {
		s.a.Close()
	}
}

// APIAuthComparison is `qun bench api --compare-auth`: the benchmark with
// authentication off (plain HTTP on loopback) and on, interleaved in one
// run so both see the same machine load, and the ratios on/off.
type APIAuthComparison struct {
	Rounds int          `json:"rounds"`
	Off    []*APIResult `json:"auth_off"`
	On     []*APIResult `json:"auth_on"`
	// Medians over the rounds.
	OffSubmissionsPerSec float64 `json:"auth_off_submissions_per_sec"`
	OnSubmissionsPerSec  float64 `json:"auth_on_submissions_per_sec"`
	OffGang32Ms          float64 `json:"auth_off_gang32_submit_to_running_ms"`
	OnGang32Ms           float64 `json:"auth_on_gang32_submit_to_running_ms"`
	// On ÷ off of each round (its two runs are back to back), and their
	// medians: the ratio a drifting load disturbs least.
	SubmissionsRatios []float64 `json:"submissions_per_sec_ratios"`
	SubmissionsRatio  float64   `json:"submissions_per_sec_ratio"`
	// The ratio of the medians (on ÷ off), and of the median CPU time per
	// submission (off ÷ on: below 1 when authentication costs CPU); with
	// noise independent from run to run these vary less than the median
	// of the per-round ratios.
	SubmissionsRatioOfMedians float64 `json:"submissions_per_sec_ratio_of_medians"`
	CPUPerSubmissionRatio     float64 `json:"cpu_per_submission_ratio"`
	// Pooled over every phase of a mode: all its submissions over all its
	// phases' time, and CPU time per submission; the pooled ratio (on ÷
	// off) is the one the machine's drift disturbs least when the phases
	// are short and many.
	OffPooledSubmissionsPerSec float64   `json:"auth_off_pooled_submissions_per_sec"`
	OnPooledSubmissionsPerSec  float64   `json:"auth_on_pooled_submissions_per_sec"`
	OffPooledCPUPerSubmission  float64   `json:"auth_off_pooled_cpu_per_submission_us"`
	OnPooledCPUPerSubmission   float64   `json:"auth_on_pooled_cpu_per_submission_us"`
	PooledSubmissionsRatio     float64   `json:"pooled_submissions_per_sec_ratio"`
	Gang32Ratios               []float64 `json:"gang32_ratios"`
	Gang32Ratio                float64   `json:"gang32_ratio"`
}

// APICompareAuth runs the API benchmark with authentication off and on
// side by side: both servers run at once in this process, and rounds
// times each, alternating (off, on, on, off, ...), their clients send n
// submissions while the other server's are idle, so that the machine's
// drift, which on a shared machine is as large as the difference measured,
// falls on both alike; round i is the i-th phase of each. Then each mode
// times runs 32-rank gangs on a fresh server, once per round.
func APICompareAuth(ctx context.Context, n, clients, runs int, beat time.Duration, rounds int) (*APIAuthComparison, error) {
	if rounds < 1 || n < 1 || clients < 1 || runs < 1 || beat <= 0 {
		return nil, fmt.Errorf("rounds, submissions, clients, runs and heartbeat must be positive")
	}
	c := &APIAuthComparison{Rounds: rounds}
	servers, subs, stop, err := startPair(ctx, beat, clients)
	defer stop()
	if err != nil {
		return nil, err
	}
	for i := range 2 * rounds {
		on := i%4 == 1 || i%4 == 2
		k := 0
		if on {
			k = 1
		}
		before := servers[k].srv.CommitStats()
		ph, err := submitPhase(subs[k], n, nil)
		if err != nil {
			return nil, fmt.Errorf("auth %t: %w", on, err)
		}
		r := newAPIResult(APIOptions{Submissions: n, Clients: clients, Runs: runs, Heartbeat: beat, Secure: on})
		ph.fill(r)
		r.commits(before, servers[k].srv.CommitStats())
		if on {
			c.On = append(c.On, r)
		} else {
			c.Off = append(c.Off, r)
		}
	}
	for j := range rounds { // round j is Off[j] and On[j], in the order they ran
		for _, on := range [][]bool{{false, true}, {true, false}}[j%2] {
			r := c.Off[j]
			if on {
				r = c.On[j]
			}
			var err error
			if r.Gang32AllMs, err = gangRuns(ctx, beat, on, runs, nil); err != nil {
				return nil, fmt.Errorf("auth %t: %w", on, err)
			}
			r.Gang32SubmitToRun = median(r.Gang32AllMs)
		}
	}
	med := func(rs []*APIResult, f func(*APIResult) float64) float64 { return median(figures(rs, f)) }
	rate, gang := (*APIResult).rate, (*APIResult).gang
	c.OffSubmissionsPerSec, c.OnSubmissionsPerSec = med(c.Off, rate), med(c.On, rate)
	c.OffGang32Ms, c.OnGang32Ms = med(c.Off, gang), med(c.On, gang)
	for i := range rounds {
		c.SubmissionsRatios = append(c.SubmissionsRatios, rate(c.On[i])/rate(c.Off[i]))
		c.Gang32Ratios = append(c.Gang32Ratios, gang(c.On[i])/gang(c.Off[i]))
	}
	c.SubmissionsRatio, c.Gang32Ratio = median(c.SubmissionsRatios), median(c.Gang32Ratios)
	c.SubmissionsRatioOfMedians = c.OnSubmissionsPerSec / c.OffSubmissionsPerSec
	pool := func(rs []*APIResult) (rate, cpu float64) {
		var n, secs, us float64
		for _, r := range rs {
			n += float64(r.Submissions)
			secs += float64(r.Submissions) / r.SubmissionsPerSec
			us += r.CPUPerSubmissionUs * float64(r.Submissions)
		}
		return n / secs, us / n
	}
	c.OffPooledSubmissionsPerSec, c.OffPooledCPUPerSubmission = pool(c.Off)
	c.OnPooledSubmissionsPerSec, c.OnPooledCPUPerSubmission = pool(c.On)
	c.PooledSubmissionsRatio = c.OnPooledSubmissionsPerSec / c.OffPooledSubmissionsPerSec
	c.CPUPerSubmissionRatio = med(c.Off, (*APIResult).cpu) / med(c.On, (*APIResult).cpu)
	return c, nil
}

// startPair starts the two servers of a comparison, authentication off
// (index 0) and on (1), with clients submitters each; stop stops whatever
// was started, also after an error.
func startPair(ctx context.Context, beat time.Duration, clients int) (servers [2]*benchServer, subs [2][]*submitConn, stop func(), err error) {
	stop = func() {
		for i, b := range servers {
			if b != nil {
				closeAll(subs[i])
				b.stop()
			}
		}
	}
	for i, secure := range []bool{false, true} {
		b, err := startBenchServer(ctx, beat, secure)
		if err != nil {
			return servers, subs, stop, fmt.Errorf("auth %t: %w", secure, err)
		}
		servers[i] = b
		if subs[i], err = b.submitters(ctx, clients); err != nil {
			return servers, subs, stop, fmt.Errorf("auth %t: %w", secure, err)
		}
	}
	return servers, subs, stop, nil
}

// APISideBySide is `qun bench api --side-by-side W`: the servers with
// authentication off and on run at once in this process, as in
// APICompareAuth, but their clients submit at the same time, for windows
// of W, rounds times. Both modes then share every moment of the machine,
// its drift included, and the CPU; the one that needs more CPU per
// submission acknowledges fewer. Only answers acknowledged within a window
// count.
type APISideBySide struct {
	Cores   int     `json:"cores"`
	Clients int     `json:"clients"` // per mode
	Rounds  int     `json:"rounds"`
	WindowS float64 `json:"window_s"`
	// Acknowledged submissions of each round's window, per mode.
	Off []int `json:"auth_off_counts"`
	On  []int `json:"auth_on_counts"`
	// All rounds: submissions per second of each mode while both ran.
	OffPerSec float64 `json:"auth_off_submissions_per_sec"`
	OnPerSec  float64 `json:"auth_on_submissions_per_sec"`
	// On ÷ off of each round, their median, and of the totals.
	Ratios      []float64 `json:"submissions_ratios"`
	Ratio       float64   `json:"submissions_ratio"`
	PooledRatio float64   `json:"pooled_submissions_ratio"`
}

// APISideBySideRun runs APISideBySide.
func APISideBySideRun(ctx context.Context, clients, rounds int, window, beat time.Duration) (*APISideBySide, error) {
	if rounds < 1 || clients < 1 || window <= 0 || beat <= 0 {
		return nil, fmt.Errorf("rounds, clients, window and heartbeat must be positive")
	}
	_, subs, stop, err := startPair(ctx, beat, clients)
	defer stop()
	if err != nil {
		return nil, err
	}
	c := &APISideBySide{Cores: runtime.NumCPU(), Clients: clients, Rounds: rounds, WindowS: window.Seconds()}
	var offAll, onAll int
	for range rounds {
		var counts [2]atomic.Int64
		var wg sync.WaitGroup
		errc := make(chan error, 2*clients)
		start := make(chan struct{})
		var end time.Time
		for k := range 2 {
			for _, sc := range subs[k] {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					for time.Now().Before(end) {
						if _, err := sc.submit(benchSpec); err != nil {
							errc <- err
							return
						}
						if time.Now().Before(end) {
							counts[k].Add(1)
						}
					}
				}()
			}
		}
		end = time.Now().Add(window)
		close(start)
		wg.Wait()
		select {
		case err := <-errc:
			return nil, fmt.Errorf("submission: %w", err)
		default:
		}
		off, on := int(counts[0].Load()), int(counts[1].Load())
		if off == 0 || on == 0 {
			return nil, fmt.Errorf("a window of %v acknowledged %d submissions without authentication and %d with it; make it longer", window, off, on)
		}
		c.Off, c.On = append(c.Off, off), append(c.On, on)
		c.Ratios = append(c.Ratios, float64(on)/float64(off))
		offAll, onAll = offAll+off, onAll+on
	}
	secs := window.Seconds() * float64(rounds)
	c.OffPerSec, c.OnPerSec = float64(offAll)/secs, float64(onAll)/secs
	c.Ratio, c.PooledRatio = median(c.Ratios), float64(onAll)/float64(offAll)
	return c, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
