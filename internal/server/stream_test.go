package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/sched/plugins"
)

// liveEnv is a server on the wall clock with its loops running.
func liveEnv(t *testing.T, timeout time.Duration) (*Server, *api.Client, string) {
	t.Helper()
	srv, err := New(Config{Pool: testPool(t), Profile: plugins.DefaultProfile(), DataDir: t.TempDir(),
		NodeTimeout: timeout, Heartbeat: timeout / 8, MinCycleGap: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c, err := api.NewClient(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, hs.URL
}

// next reads frames until one of type typ, skipping pongs.
func next(t *testing.T, st *api.Stream, typ byte) []byte {
	t.Helper()
	for {
		got, p, err := st.ReadFrame(5 * time.Second)
		if err != nil {
			t.Fatalf("reading a %q frame: %v", typ, err)
		}
		if got == typ {
			return append([]byte(nil), p...)
		}
		if got != api.FramePong {
			t.Fatalf("frame %q %s, want %q", got, p, typ)
		}
	}
}

func nextAssign(t *testing.T, st *api.Stream) api.StreamAssignments {
	t.Helper()
	var m api.StreamAssignments
	if err := json.Unmarshal(next(t, st, api.FrameAssign), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func refs(as []api.Assignment) []api.RankRef {
	var out []api.RankRef
	for _, a := range as {
		out = append(out, api.RefOf(a))
	}
	return out
}

func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out after %v waiting for %s", d, what)
}

func nodeState(t *testing.T, c *api.Client, name string) string {
	l, err := c.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		if n.Name == name || n.Name == "lab/"+name {
			return n.State
		}
	}
	return ""
}

func TestStreamPushesDeltasAndAcknowledgesExits(t *testing.T) {
	_, c, url := liveEnv(t, 2*time.Second)
	ctx := context.Background()
	if _, err := c.RegisterNode(ctx, api.RegisterRequest{Name: "n0", BootID: "b0", Address: "10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	st, err := api.DialStream(ctx, api.StreamOptions{Server: url, Node: "n0", BootID: "b0"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.PingInterval != 250*time.Millisecond || st.PingTimeout != 2*time.Second {
		t.Errorf("ping interval %v timeout %v, want 250ms and 2s", st.PingInterval, st.PingTimeout)
	}
	if err := st.Report(1, api.HeartbeatRequest{BootID: "b0", Ranks: []api.RankReport{}}, time.Second); err != nil {
		t.Fatal(err)
	}
	if m := nextAssign(t, st); !m.Full || m.Answer != 1 || len(m.Set) != 0 {
		t.Fatalf("first answer %+v, want a full empty list answering report 1", m)
	}
	// A placement is pushed without a report.
	j, err := c.SubmitJob(ctx, quick(2).JSON(t))
	if err != nil {
		t.Fatal(err)
	}
	m := nextAssign(t, st)
	want := []api.RankRef{{JobID: j.ID, Rank: 0}, {JobID: j.ID, Rank: 1}}
	if m.Full || m.Answer != 0 || !cmp.Equal(refs(m.Set), want) || len(m.Remove) != 0 {
		t.Fatalf("push %+v, want Set %v", m, want)
	}
	if err := st.Ping(7, time.Second); err != nil {
		t.Fatal(err)
	}
	if p := next(t, st, api.FramePong); len(p) != 8 || p[7] != 7 {
		t.Fatalf("pong %v, want the token 7", p)
	}
	if err := st.Report(2, api.HeartbeatRequest{BootID: "b0", Ranks: running(m.Set)}, time.Second); err != nil {
		t.Fatal(err)
	}
	if m := nextAssign(t, st); m.Answer != 2 || len(m.Set)+len(m.Remove) != 0 {
		t.Fatalf("answer %+v, want an empty delta answering 2", m)
	}
	waitUntil(t, 2*time.Second, "the job to run", func() bool {
		j, err := c.GetJob(ctx, j.ID)
		return err == nil && j.State == api.JobRunning
	})
	// The rank's exit: the answer removes it (acknowledged).
	if err := st.Report(3, api.HeartbeatRequest{BootID: "b0", Ranks: exited(m.Set, 0)}, time.Second); err != nil {
		t.Fatal(err)
	}
	// The change may be pushed before the answer (the job changed while
	// the report ran); the answer comes no later than the push after it.
	var removed []api.RankRef
	for {
		m3 := nextAssign(t, st)
		removed = append(removed, m3.Remove...)
		if len(m3.Set) != 0 {
			t.Fatalf("after the exits: %+v, want nothing set", m3)
		}
		if m3.Answer == 3 {
			break
		}
	}
	if !cmp.Equal(removed, want) {
		t.Fatalf("removed %v, want %v", removed, want)
	}
	// A report that is bad data is refused; the stream goes on.
	if err := st.Report(4, api.HeartbeatRequest{BootID: "b0", Ranks: []api.RankReport{{State: "dancing"}}}, time.Second); err != nil {
		t.Fatal(err)
	}
	var e api.Error
	if err := json.Unmarshal(next(t, st, api.FrameError), &e); err != nil || e.Code != api.CodeBadData {
		t.Fatalf("error frame %+v (%v), want bad_data", e, err)
	}
	if err := st.Ping(9, time.Second); err != nil {
		t.Fatal(err)
	}
	next(t, st, api.FramePong)
}

func TestStreamSilenceLosesTheNodeAtItsTimeout(t *testing.T) {
	timeout := 800 * time.Millisecond
	_, c, url := liveEnv(t, timeout)
	ctx := context.Background()
	if _, err := c.RegisterNode(ctx, api.RegisterRequest{Name: "n1", BootID: "b1", Address: "10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	st, err := api.DialStream(ctx, api.StreamOptions{Server: url, Node: "n1", BootID: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Report(1, api.HeartbeatRequest{BootID: "b1", Ranks: []api.RankReport{}}, time.Second); err != nil {
		t.Fatal(err)
	}
	nextAssign(t, st)
	// Pings for three timeouts keep it ready.
	for end := time.Now().Add(3 * timeout); time.Now().Before(end); time.Sleep(timeout / 8) {
		if err := st.Ping(0, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if s := nodeState(t, c, "n1"); s != api.NodeReady {
		t.Fatalf("pinging node is %s, want ready", s)
	}
	silent := time.Now()
	waitUntil(t, 3*timeout, "the silent node to be lost", func() bool { return nodeState(t, c, "n1") == api.NodeLost })
	took := time.Since(silent)
	if took < timeout-timeout/4 || took > timeout+timeout/2 { // the last ping was up to timeout/8 before
		t.Errorf("lost %v after going silent, want about the node timeout %v", took, timeout)
	}
	if _, _, err := st.ReadFrame(time.Second); err == nil {
		t.Error("the silent stream is still open")
	}
	// It comes back: reconnect and report.
	st2, err := api.DialStream(ctx, api.StreamOptions{Server: url, Node: "n1", BootID: "b1"})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	if err := st2.Report(1, api.HeartbeatRequest{BootID: "b1", Ranks: []api.RankReport{}}, time.Second); err != nil {
		t.Fatal(err)
	}
	nextAssign(t, st2)
	if s := nodeState(t, c, "n1"); s != api.NodeReady {
		t.Fatalf("reconnected node is %s, want ready", s)
	}
}

func TestStreamRefusals(t *testing.T) {
	_, c, url := liveEnv(t, 2*time.Second)
	ctx := context.Background()
	if _, err := c.RegisterNode(ctx, api.RegisterRequest{Name: "n2", BootID: "b2", Address: "10.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		node, boot, code string
	}{
		{"n3", "b3", api.CodeNotFound},    // not registered
		{"n2", "other", api.CodeConflict}, // another boot ID
		{"nope", "b", api.CodeNotFound},   // not a host
		{"n2", "", api.CodeBadData},       // no boot ID
	} {
		_, err := api.DialStream(ctx, api.StreamOptions{Server: url, Node: tc.node, BootID: tc.boot})
		if code(err) != tc.code {
			t.Errorf("stream of %s boot %q: %v, want %s", tc.node, tc.boot, err, tc.code)
		}
	}
	// Without the upgrade headers: 400 naming the header.
	resp, err := http.Get(url + "/v1/nodes/n2/stream?boot_id=b2")
	if err != nil {
		t.Fatal(err)
	}
	var e api.Error
	json.NewDecoder(bufio.NewReader(resp.Body)).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || len(e.Problems) != 1 || e.Problems[0].Field != "Upgrade" {
		t.Errorf("plain GET: %d %+v, want 400 naming Upgrade", resp.StatusCode, e)
	}
	// A removed node's stream is closed with gone.
	st, err := api.DialStream(ctx, api.StreamOptions{Server: url, Node: "n2", BootID: "b2"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Report(1, api.HeartbeatRequest{BootID: "b2", Ranks: []api.RankReport{}}, time.Second); err != nil {
		t.Fatal(err)
	}
	nextAssign(t, st)
	if err := c.RemoveNode(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	if err := st.Report(2, api.HeartbeatRequest{BootID: "b2", Ranks: []api.RankReport{}}, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(next(t, st, api.FrameError), &e); err != nil || e.Code != api.CodeGone {
		t.Fatalf("after removal: %+v (%v), want gone", e, err)
	}
}
