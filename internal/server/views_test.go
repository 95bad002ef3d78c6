package server

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched/plugins"
)

// getError GETs path and returns the status and the decoded error body.
func getError(t *testing.T, e *env, path string) (int, api.Error) {
	t.Helper()
	resp, err := http.Get(e.hs.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ae api.Error
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &ae); err != nil {
		t.Fatalf("GET %s: %d %q is not an error body: %v", path, resp.StatusCode, data, err)
	}
	return resp.StatusCode, ae
}

// badField checks that GET path answers 400 naming field.
func badField(t *testing.T, e *env, path, field string) {
	t.Helper()
	status, ae := getError(t, e, path)
	if status != http.StatusBadRequest || ae.Code != api.CodeBadData || len(ae.Problems) != 1 || ae.Problems[0].Field != field {
		t.Errorf("GET %s: %d %+v, want 400 bad_data naming %q", path, status, ae, field)
	}
}

// placedEnv runs one 8-chip job (running) on a pool where n0 and n1 are
// ready, n2 is ready with device 3 unhealthy and n3 has no agent.
func placedEnv(t *testing.T) (*env, api.Job) {
	t.Helper()
	e := newEnv(t, "")
	ctx := context.Background()
	for _, n := range []string{"n0", "n1", "n2"} {
		var devs []api.Device
		for i := 0; i < 8; i++ {
			devs = append(devs, api.Device{Index: i, Kind: "H100", Healthy: !(n == "n2" && i == 3)})
		}
		if _, err := e.c.RegisterNode(ctx, api.RegisterRequest{Name: n, BootID: "b" + n, Address: "10.0.0." + n[1:], Devices: devs}); err != nil {
			t.Fatal(err)
		}
	}
	j := e.submitTo("research", 8)
	e.srv.Cycle()
	j = e.job(j.ID)
	if len(j.Placement) == 0 {
		t.Fatalf("job %s not placed: %s %s", j.ID, j.State, j.Reason)
	}
	node := j.Placement[0].Node
	as := e.heartbeat(node, "b"+node)
	e.heartbeat(node, "b"+node, running(as)...)
	return e, e.job(j.ID)
}

func TestPoolMap(t *testing.T) {
	e, j := placedEnv(t)
	node := j.Placement[0].Node
	m, err := e.c.PoolMap(context.Background(), 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	// n0..n2 are ready, n3 is down; the job holds one whole node; n2's
	// device 3 is unhealthy.
	root := m.Domain
	root.Children = nil
	want := api.MapDomain{ID: 0, Name: "lab", Level: 0, Chips: 32, Free: 15, Alloc: 8, Down: 9, Largest: 8,
		Frag: round3(1 - 8.0/15), Queues: map[string]int{"research": 8}, Jobs: map[string]int{j.ID: 8}}
	if diff := cmp.Diff(want, root); diff != "" {
		t.Errorf("root (-want +got):\n%s", diff)
	}
	if len(m.Domain.Children) != 4 {
		t.Fatalf("%d children, want 4", len(m.Domain.Children))
	}
	byName := map[string]api.MapDomain{}
	for _, c := range m.Domain.Children {
		if len(c.ChipList) != 8 {
			t.Errorf("%s lists %d chips, want 8", c.Name, len(c.ChipList))
		}
		byName[c.Name] = c
	}
	if c := byName[node]; c.Alloc != 8 || c.ChipList[0].Job != j.ID || c.ChipList[0].Queue != "research" || c.ChipList[0].State != "alloc" {
		t.Errorf("the job's node %s: %+v", node, c)
	}
	if c := byName["n3"]; c.Down != 8 || c.Free != 0 || c.Largest != 0 {
		t.Errorf("n3 (no agent): %+v, want 8 down", c)
	}
	if c := byName["n2"]; c.Down != 1 || c.Free != 7 || c.Largest != 1 || c.ChipList[3].Healthy || c.ChipList[3].State != "down" {
		t.Errorf("n2 (device 3 unhealthy): %+v", c)
	}
	wantKinds := []api.MapKind{{Kind: "H100", Chips: 32, Free: 15, Alloc: 8, Down: 9}}
	if diff := cmp.Diff(wantKinds, m.Kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	wantLevels := []api.MapLevel{
		{Level: "cluster", Domains: 1, Fragmentation: 1, LargestGang: map[string]int{"H100": 15}},
		{Level: "node", Domains: 4, WhollyFree: 1, Fragmentation: round3(1 - 8.0/15), LargestGang: map[string]int{"H100": 8}},
	}
	if diff := cmp.Diff(wantLevels, m.LevelStats); diff != "" {
		t.Errorf("level stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]api.MapCrumb{{ID: 0, Name: "lab"}}, m.Path); diff != "" {
		t.Errorf("path (-want +got):\n%s", diff)
	}

	// A window at depth 1 of a host lists its chips; depth 0 lists nothing.
	host, _ := e.srv.cfg.Pool.HostByName("n2")
	m, err = e.c.PoolMap(context.Background(), int(host), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Domain.ChipList) != 8 || m.Domain.More || len(m.Path) != 2 || m.Path[1].Name != "n2" {
		t.Errorf("n2 at depth 1: %+v", m)
	}
	m, err = e.c.PoolMap(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Domain.Children) != 0 || !m.Domain.More || m.Domain.Free != 15 {
		t.Errorf("root at depth 0: %+v, want no children, more, 15 free", m.Domain)
	}
}

func TestPoolMapBadInput(t *testing.T) {
	e := newEnv(t, "")
	for _, tc := range []struct{ query, field string }{
		{"domain=5", "domain"}, // the pool has domains 0..4
		{"domain=-1", "domain"},
		{"domain=lab", "domain"},
		{"depth=5", "depth"},
		{"depth=-1", "depth"},
		{"depth=two", "depth"},
	} {
		badField(t, e, "/v1/pool/map?"+tc.query, tc.field)
	}
}

var (
	scOnce sync.Once
	scPool *pool.Topology
	scErr  error
)

// superCluster loads the 524,288-chip example pool once.
func superCluster(t *testing.T) *pool.Topology {
	t.Helper()
	scOnce.Do(func() { scPool, scErr = pool.LoadFile("../../examples/pools/atlas950-supercluster.yaml") })
	if scErr != nil {
		t.Fatal(scErr)
	}
	return scPool
}

// TestPoolMapSuperCluster checks that the SuperCluster's windows stay
// small: the top view is its 64 superpods, a window too deep is refused
// naming depth.
func TestPoolMapSuperCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a 524,288-chip pool")
	}
	topo := superCluster(t)
	srv, err := New(Config{Pool: topo, Profile: plugins.DefaultProfile(), DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	get := func(v url.Values) func(string) string { return v.Get }
	q, err := ParseMapQuery(get(url.Values{"depth": {"1"}}), topo)
	if err != nil {
		t.Fatal(err)
	}
	m := srv.PoolMap(q)
	data, _ := json.Marshal(m)
	if len(m.Domain.Children) != 64 || m.Domain.Chips != 524288 || m.Domain.Down != 524288 || len(data) > 64<<10 {
		t.Errorf("top view: %d children, %d chips, %d down, %d bytes; want 64 superpods, all 524,288 chips down (no agents), under 64 KiB",
			len(m.Domain.Children), m.Domain.Chips, m.Domain.Down, len(data))
	}
	if len(m.LevelStats) != 4 || m.LevelStats[3].Domains != 65536 {
		t.Errorf("level stats %+v, want 4 levels down to 65,536 boards", m.LevelStats)
	}
	_, err = ParseMapQuery(get(url.Values{"depth": {"3"}}), topo)
	var ae *api.Error
	if !asAPI(err, &ae) || ae.Code != api.CodeBadData || ae.Problems[0].Field != "depth" || !strings.Contains(ae.Problems[0].Message, "at most") {
		t.Errorf("depth 3 of the whole SuperCluster: %v, want bad_data naming depth", err)
	}
}

func TestJobPlacement(t *testing.T) {
	e, j := placedEnv(t)
	ctx := context.Background()
	p, err := e.c.JobPlacement(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := e.srv.cfg.Pool.HostByName(j.Placement[0].Node)
	if diff := cmp.Diff([]int{0, int(host)}, p.Domains); diff != "" {
		t.Errorf("domains (-want +got):\n%s", diff)
	}
	if p.Enclosing != int(host) || len(p.Hosts) != 1 || p.Hosts[0] != int(host) || len(p.Chips) != 8 {
		t.Errorf("placement %+v, want the 8 chips of host %d", p, host)
	}
	for _, pc := range p.Chips {
		if pc.Host != int(host) || pc.Leaf != int(host) || pc.Node != j.Placement[0].Node {
			t.Errorf("chip %+v, want on host (and leaf) %d", pc, host)
		}
	}
	c := p.Comm
	if c == nil || len(c.Items) == 0 {
		t.Fatalf("comm model %+v, want items for an 8-rank job", c)
	}
	// The gang fills one node, as its lower bound does: ratio 1, traffic
	// inside the node.
	if c.Seconds <= 0 || c.LowerBound <= 0 || math.Abs(c.Ratio-1) > 1e-9 || c.Items[0].Level != "node" || c.Items[0].BoundLevel != "node" {
		t.Errorf("comm model %+v, want the node-level lower bound met", c)
	}

	// A 16-chip job spans two nodes: it crosses the cluster level.
	e.register("n3", "bn3")
	big := e.submitTo("research", 16)
	e.srv.Cycle()
	p, err = e.c.JobPlacement(ctx, big.ID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Enclosing != 0 || len(p.Hosts) != 2 || p.Comm == nil || p.Comm.Items[0].Level != "cluster" {
		t.Errorf("16-chip placement %+v (comm %+v), want two hosts under the root crossing the cluster level", p, p.Comm)
	}

	// A pending job has no chips; an unknown job is not found.
	pend := e.submitTo("research", 32)
	p, err = e.c.JobPlacement(ctx, pend.ID)
	if err != nil || len(p.Domains) != 0 || p.Enclosing != -1 || p.Comm != nil {
		t.Errorf("pending job: %+v, %v; want no placement", p, err)
	}
	if _, err := e.c.JobPlacement(ctx, "j-999999"); code(err) != api.CodeNotFound {
		t.Errorf("unknown job: %v, want not_found", err)
	}
}

func TestUsageHistory(t *testing.T) {
	e := newEnv(t, "")
	e.register("n0", "b0")
	j := e.submitTo("research", 8)
	e.srv.Cycle()
	as := e.heartbeat("n0", "b0")
	e.heartbeat("n0", "b0", running(as)...) // started at T0
	e.clock.Advance(30 * time.Minute)
	e.heartbeat("n0", "b0", exited(as, 0)...) // finished at T0+30m
	if got := e.job(j.ID); got.State != api.JobSucceeded {
		t.Fatalf("job %s, want succeeded", got.State)
	}
	e.clock.Advance(10 * time.Minute) // now T0+40m
	u, err := e.c.UsageHistory(context.Background(), time.Hour, 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// Buckets from T0-20m: [T0-20,T0-5) none; [T0-5,T0+10) 10 min of 8
	// chips; [T0+10,T0+25) 15 min; [T0+25,T0+40) 5 min.
	var got []float64
	var util []float64
	for _, b := range u.Buckets {
		got = append(got, b.ChipHours["research"]["H100"])
		util = append(util, b.Utilisation)
	}
	approx := cmpopts.EquateApprox(0, 1e-9)
	if diff := cmp.Diff([]float64{0, 8 * 10.0 / 60, 8 * 15.0 / 60, 8 * 5.0 / 60}, got, approx); diff != "" {
		t.Errorf("chip-hours per bucket (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]float64{0, round3(8 * 10.0 / 60 / 8), 0.25, round3(8 * 5.0 / 60 / 8)}, util, approx); diff != "" {
		t.Errorf("utilisation per bucket (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]map[string]float64{"research": {"H100": 4}}, u.Totals, approx); diff != "" {
		t.Errorf("totals (-want +got):\n%s", diff)
	}
	if u.Chips != 32 || time.Duration(u.Step) != 15*time.Minute || u.To.Sub(u.From) != time.Hour {
		t.Errorf("header %+v", u)
	}

	for _, tc := range []struct{ query, field string }{
		{"window=soon", "window"},
		{"window=-1h", "window"},
		{"window=10000h", "window"},
		{"step=0s", "step"},
		{"window=1h&step=2h", "step"},
		{"window=1000h&step=1m", "step"},
	} {
		badField(t, e, "/v1/usage/history?"+tc.query, tc.field)
	}
}

func TestLogTail(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	j := e.submit(1)
	o := api.LogOptions{Rank: 0, Attempt: 0, Stream: "stdout"}
	if err := e.c.AppendLogs(ctx, j.ID, o, []byte("first line\nsecond line\nthird\n")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "first line\nsecond line\nthird\n"},
		{14, "third\n"}, // starts mid "second line": cut to the next line
		{3, "rd\n"},     // no line break in range: the bytes as they are
	} {
		got, err := e.c.JobLogTail(ctx, j.ID, api.LogOptions{Rank: 0, Attempt: -1}, tc.n)
		if err != nil || string(got) != tc.want {
			t.Errorf("tail %d = %q, %v; want %q", tc.n, got, err, tc.want)
		}
	}
	if got, err := e.c.JobLogTail(ctx, j.ID, api.LogOptions{Rank: 0, Attempt: -1, Stream: "stderr"}, 0); err != nil || len(got) != 0 {
		t.Errorf("unwritten tail = %q, %v; want empty", got, err)
	}
	badField(t, e, "/v1/jobs/"+j.ID+"/logs/tail?bytes=0", "bytes")
	badField(t, e, "/v1/jobs/"+j.ID+"/logs/tail?bytes=lots", "bytes")
	badField(t, e, "/v1/jobs/"+j.ID+"/logs/tail?rank=7", "rank")
	if status, ae := getError(t, e, "/v1/jobs/j-404/logs/tail"); status != http.StatusNotFound || ae.Code != api.CodeNotFound {
		t.Errorf("tail of an unknown job: %d %+v, want 404", status, ae)
	}
}

// TestDashboardServed checks the dashboard's files are served from the
// binary at / and /ui/, with a policy that allows the server's origin only.
func TestDashboardServed(t *testing.T) {
	e := newEnv(t, "")
	for _, tc := range []struct{ path, ctype, body string }{
		{"/", "text/html", `<script src="ui/app.js">`},
		{"/ui/app.js", "javascript", "/v1/pool/map"},
		{"/ui/app.css", "text/css", "canvas.map"},
	} {
		resp, err := http.Get(e.hs.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(data), tc.body) {
			t.Errorf("GET %s: %d %s, body lacks %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
	}
	resp, err := http.Get(e.hs.URL + "/ui/missing.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /ui/missing.js: %d, want 404", resp.StatusCode)
	}
	if status, ae := getError(t, e, "/v1/nope"); status != http.StatusNotFound || ae.Code != api.CodeNotFound {
		t.Errorf("GET /v1/nope: %d %+v, want the API's 404", status, ae)
	}
}

// FuzzParseMapQuery checks the map query parser never panics and either
// accepts a window within the limits or names the field at fault.
func FuzzParseMapQuery(f *testing.F) {
	for _, s := range []string{"", "depth=2", "domain=3&depth=1", "domain=x", "depth=99", "domain=-1&depth=-1", "depth=%ff"} {
		f.Add(s)
	}
	topo := testPool(f)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseMapQuery(v.Get, topo)
		if err != nil {
			badData(t, err)
			return
		}
		if q.Domain < 0 || int(q.Domain) >= topo.NumDomains() || q.Depth < 0 || q.Depth > maxMapDepth {
			t.Fatalf("accepted %+v from %q", q, raw)
		}
	})
}

// FuzzParseUsageQuery checks the usage query parser never panics and
// either accepts a window of at most maxUsageBuckets buckets or names the
// field at fault.
func FuzzParseUsageQuery(f *testing.F) {
	for _, s := range []string{"", "window=1h", "window=24h&step=30m", "step=0", "window=1ns&step=1ns", "window=8784h&step=1s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseUsageQuery(v.Get)
		if err != nil {
			badData(t, err)
			return
		}
		if q.Step <= 0 || q.Step > q.Window || (q.Window+q.Step-1)/q.Step > maxUsageBuckets {
			t.Fatalf("accepted %+v from %q", q, raw)
		}
	})
}

// BenchmarkPoolMapSuperCluster measures the server's side of the
// dashboard's SuperCluster views: the top window (64 superpods) and one
// superpod's window (128 racks of 8 boards), each a pass over all 524,288
// chips.
func BenchmarkPoolMapSuperCluster(b *testing.B) {
	topo, err := pool.LoadFile("../../examples/pools/atlas950-supercluster.yaml")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{Pool: topo, Profile: plugins.DefaultProfile(), DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	pod := topo.Children(0)[0]
	for _, bc := range []struct {
		name string
		q    MapQuery
	}{{"cluster-depth1", MapQuery{Domain: 0, Depth: 1}}, {"superpod-depth2", MapQuery{Domain: pod, Depth: 2}}} {
		b.Run(bc.name, func(b *testing.B) {
			var size int
			for b.Loop() {
				data, err := json.Marshal(srv.PoolMap(bc.q))
				if err != nil {
					b.Fatal(err)
				}
				size = len(data)
			}
			b.ReportMetric(float64(size), "bytes/answer")
		})
	}
}
