package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/testbin"
)

// prometheusBinary finds Debian's prometheus (scripts/deps.sh installs
// it). Without it the test skips, except in CI, where it fails.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("prometheus")
	if err == nil {
		return p
	}
	msg := "prometheus is not installed (scripts/deps.sh installs Debian's package: apt-get install -y prometheus)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// promQuery runs an instant PromQL query through Prometheus's HTTP API and
// returns the single value of its answer (ok false when it has none).
func promQuery(t *testing.T, base, q string) (float64, bool, string) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return 0, false, err.Error()
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, false, err.Error()
	}
	if r.Status != "success" {
		t.Fatalf("query %s: %s", q, r.Error)
	}
	if len(r.Data.Result) != 1 {
		return 0, false, fmt.Sprintf("%d series", len(r.Data.Result))
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, err.Error()
	}
	return v, true, s
}

// TestPrometheusScrapesQunUp runs a real Prometheus against `qun up` with
// running and pending jobs, and checks PromQL answers against the API's.
func TestPrometheusScrapesQunUp(t *testing.T) {
	prom := prometheusBinary(t)
	bin := binaries(t)
	qun := filepath.Join(bin, "qun")
	data := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t, "127.0.0.1"))
	base := "https://" + listen
	up := start(t, "qun-up", nil, qun, "up", "--data-dir", data, "--listen", listen, "--nodes", "2", "--chips", "4", "--build-workloads=false")
	eventually(t, 60*time.Second, "qun up to say it is up", func() (bool, string) {
		select {
		case <-up.done:
			t.Fatalf("qun up exited early:\n%s", up.output())
		default:
		}
		return strings.Contains(up.output(), "Qun is up"), up.output()
	})
	// qun up's scrape config: the server over TLS with a reader token of
	// its own, the agents from the file_sd targets.
	scrape := filepath.Join(data, "prometheus.yml")
	if !strings.Contains(up.output(), scrape) {
		t.Errorf("qun up does not print its Prometheus config %s:\n%s", scrape, up.output())
	}
	scrapeCfg, err := os.ReadFile(scrape)
	if err != nil {
		t.Fatal(err)
	}
	c := upCreds(t, data, base)
	metricsNeedToken(t, base, data) // secure_helpers_test.go
	dir := t.TempDir()
	var ids []string
	for i, chips := range []int{4, 2, 4} {
		f := filepath.Join(dir, fmt.Sprintf("j%d.yaml", i))
		spec := fmt.Sprintf("apiVersion: qun/v1\nkind: Job\nname: sleeper%d\nchips: %d\ncommand: [sleep, \"600\"]\n", i, chips)
		if err := os.WriteFile(f, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, submit(t, qun, base, f))
	}
	// Two run (6 of the 8 chips), the third waits for 4 chips.
	for _, id := range ids[:2] {
		waitJob(t, c, id, 30*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning })
	}
	waitJob(t, c, ids[2], 30*time.Second, func(j *api.Job) bool { return j.State == api.JobPending && j.ReasonCode != "" })

	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, append([]byte(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
`), scrapeCfg...), 0o644); err != nil {
		t.Fatal(err)
	}
	promAddr := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t, "127.0.0.1"))
	p := start(t, "prometheus", nil, prom, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	pbase := "http://" + promAddr

	// What the API says.
	l, err := c.ListJobs(context.Background(), api.ListJobsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	alloc, running, pending := 0, 0, 0
	for _, j := range l.Jobs {
		switch j.State {
		case api.JobRunning, api.JobStarting, api.JobStopping:
			running++
			for _, rp := range j.Placement {
				alloc += len(rp.Devices)
			}
		case api.JobPending:
			pending++
		}
	}
	if alloc != 6 || running != 2 || pending != 1 {
		t.Fatalf("API: %d chips allocated, %d running, %d pending; want 6, 2, 1", alloc, running, pending)
	}
	for _, tc := range []struct {
		q    string
		want float64
	}{
		{`count(up{job="qun-server"} == 1)`, 1},
		{`count(up{job="qun-agent"} == 1)`, 2},
		{`sum(qun_chips{state="alloc"})`, float64(alloc)},
		{`sum(qun_chips{state="idle"})`, float64(8 - alloc)},
		{`sum(qun_running_jobs)`, float64(running)},
		{`sum(qun_pending_jobs)`, float64(pending)},
		{`sum(qun_queue_usage_chips{queue="default"})`, float64(alloc)},
		{`sum(qun_nodes)`, 2},
		{`qun_largest_placeable_gang_chips{level="node"}`, 2},
		{`count(qun_device_healthy == 1)`, 8},
		{`count(qun_device_power_watts{job_id=~"j-.+"})`, float64(alloc)},
		{fmt.Sprintf(`count(qun_device_utilization_ratio{job_id=%q})`, ids[0]), 4},
		{`sum(qun_scheduling_cycle_duration_seconds_count) > 0`, -1},
	} {
		eventually(t, 60*time.Second, "PromQL "+tc.q, func() (bool, string) {
			select {
			case <-p.done:
				t.Fatalf("prometheus exited:\n%s", p.output())
			default:
			}
			v, ok, s := promQuery(t, pbase, tc.q)
			done := ok && (tc.want < 0 || v == tc.want)
			if done {
				t.Logf("PromQL %s = %g (the API's figure: %g)", tc.q, v, tc.want)
			}
			return done, fmt.Sprintf("%s (want %g)", s, tc.want)
		})
	}
}
