package agent

import (
	"errors"
	"io"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/device"
	"github.com/qunhq/qun/internal/golden"
	"github.com/qunhq/qun/internal/metrics"
)

// readDCGMJobMapping reads a directory the way DCGM's documentation
// describes its HPC job-mapping files: each file is named by a GPU ID (or
// GPU.MIG ID) and holds the job IDs running on that GPU, one per line.
func readDCGMJobMapping(t *testing.T, dir string) map[string][]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, e := range entries {
		if !isDeviceIndex(e.Name()) {
			t.Errorf("job-mapping directory holds %q, which is not a GPU ID", e.Name())
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed by the agent between the listing and the read; the caller polls again
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(data), "\n") {
			t.Errorf("file %s = %q: want job IDs each ending with a newline", e.Name(), data)
		}
		for line := range strings.SplitSeq(strings.TrimSuffix(string(data), "\n"), "\n") {
			if line == "" || strings.ContainsAny(line, " \t,") {
				t.Errorf("file %s line %q: want one job ID per line", e.Name(), line)
			}
			out[e.Name()] = append(out[e.Name()], line)
		}
		sort.Strings(out[e.Name()])
	}
	return out
}

func TestHPCJobMappingFilesFollowRanks(t *testing.T) {
	srv := newFakeServer()
	dir := t.TempDir()
	mapDir := filepath.Join(dir, "hpc-jobs")
	release := filepath.Join(dir, "release-b")
	a := shell("j-000001", 0, "sleep 30")
	a.Devices = []int{0, 1}
	b := shell("j-000002", 0, "while [ ! -e "+release+" ]; do sleep 0.02; done")
	b.Devices = []int{1, 3}
	srv.setAssignments(a, b)
	fake, err := device.NewFake("910B:4")
	if err != nil {
		t.Fatal(err)
	}
	_, stop := runAgentWith(t, srv, Config{StateDir: dir, Devices: []device.Discoverer{fake}, HPCJobMappingDir: mapDir})

	wait := func(what string, want map[string][]string) {
		t.Helper()
		var got map[string][]string
		srv.waitFor(t, 10*time.Second, what, func() bool {
			if _, err := os.Stat(mapDir); err != nil {
				return false
			}
			got = readDCGMJobMapping(t, mapDir)
			return cmp.Equal(want, got)
		})
	}
	wait("both jobs in the mapping", map[string][]string{"0": {"j-000001"}, "1": {"j-000001", "j-000002"}, "3": {"j-000002"}})
	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	srv.waitExit(t, "j-000002", 0, 0)
	wait("the exited job gone from the mapping", map[string][]string{"0": {"j-000001"}, "1": {"j-000001"}})
	stop()
	if got := readDCGMJobMapping(t, mapDir); len(got) != 0 {
		t.Errorf("after the agent stopped its ranks the mapping is %v, want no files", got)
	}
}

func TestAgentMetricsReportDevicesWithTheirJobs(t *testing.T) {
	srv := newFakeServer()
	dir := t.TempDir()
	a := shell("j-000007", 0, "sleep 30")
	a.Devices = []int{1}
	srv.setAssignments(a)
	fake, err := device.NewFake("910B:2")
	if err != nil {
		t.Fatal(err)
	}
	ag, _ := runAgentWith(t, srv, Config{StateDir: dir, Devices: []device.Discoverer{fake}})
	srv.waitFor(t, 10*time.Second, "the rank to run", func() bool {
		r, ok := srv.lastReport("j-000007", 0, 0)
		return ok && r.State == api.RankRunning
	})
	var body string
	srv.waitFor(t, 10*time.Second, "device 1 labelled with its job", func() bool {
		rec := httptest.NewRecorder()
		ag.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		data, _ := io.ReadAll(rec.Body)
		body = string(data)
		return strings.Contains(body, `job_id="j-000007"`)
	})
	for _, want := range []string{
		`qun_device_power_watts{device="0",job_id="",kind="910B",node="n0",uuid="fake-910B-0"} 100`,
		`qun_device_power_watts{device="1",job_id="j-000007",kind="910B",node="n0",uuid="fake-910B-1"} 110`,
		`qun_device_temperature_celsius{device="1",job_id="j-000007",kind="910B",node="n0",uuid="fake-910B-1"} 41`,
		`qun_device_utilization_ratio{device="1",job_id="j-000007",kind="910B",node="n0",uuid="fake-910B-1"} 0.25`,
		`qun_device_memory_used_bytes{device="1",job_id="j-000007",kind="910B",node="n0",uuid="fake-910B-1"} 1.7179869184e+10`,
		`qun_device_healthy{device="1",job_id="j-000007",kind="910B",node="n0",uuid="fake-910B-1"} 1`,
		`qun_agent_ranks{node="n0",state="running"} 1`,
		`qun_build_info{`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
	// The names, types, labels and help of every qun_ family the agent
	// serves (a rename or a type change shows here, and in docs/metrics.md).
	fams, err := metrics.ParseText(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "testdata/metrics.golden", []byte(metrics.Describe(fams, "qun_")))
}
