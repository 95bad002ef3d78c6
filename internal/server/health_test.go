package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
)

// TestHeartbeatDeviceHealth: a device a rank holds is reported unhealthy
// in heartbeats (reset-device): the job's rank moves off it, the chip gets
// no new work until a heartbeat says it is healthy again; a drain-device
// fault leaves the running rank alone; a node whose devices keep faulting
// is cordoned with the reason; a bad level is refused and changes nothing.
func TestHeartbeatDeviceHealth(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	nodes := []string{"n0", "n1", "n2", "n3"}
	for _, n := range nodes {
		if _, err := e.c.RegisterNode(ctx, api.RegisterRequest{Name: n, BootID: "b" + n[1:], Address: "10.0.0." + n[1:], Devices: devices()}); err != nil {
			t.Fatal(err)
		}
	}
	health := map[string][]api.DeviceHealth{}
	as := map[string][]api.Assignment{}
	beat := func() {
		for _, n := range nodes {
			r, err := e.c.Heartbeat(ctx, n, api.HeartbeatRequest{BootID: "b" + n[1:], Ranks: running(as[n]), Devices: health[n]})
			if err != nil {
				t.Fatal(err)
			}
			as[n] = r.Assignments
		}
	}
	j := e.submit(8)
	e.srv.Cycle()
	beat()
	beat()
	got := e.job(j.ID)
	if got.State != api.JobRunning {
		t.Fatalf("job %s", got.State)
	}
	node, dev := got.Placement[3].Node, got.Placement[3].Devices[0]
	short := strings.TrimPrefix(node, "lab/")

	// A bad level: 400 naming the field, nothing changed.
	_, err := e.c.Heartbeat(ctx, short, api.HeartbeatRequest{BootID: "b" + short[1:], Devices: []api.DeviceHealth{{Index: dev, Level: "on-fire"}}})
	var ae *api.Error
	if !asAPI(err, &ae) || ae.Code != api.CodeBadData || len(ae.Problems) != 1 || ae.Problems[0].Field != "devices[0].level" {
		t.Fatalf("bad level: %v", err)
	}
	// drain-device: the rank stays.
	health[short] = []api.DeviceHealth{{Index: dev, Healthy: false, Level: "drain-device", Codes: []string{"npu-smi:Warning"}}}
	beat()
	if got := e.job(j.ID); got.State != api.JobRunning {
		t.Fatalf("a drain-device fault stopped the job: %s (%s)", got.State, got.Reason)
	}
	health[short] = nil
	health[short] = []api.DeviceHealth{{Index: dev, Healthy: true}}
	beat()
	// reset-device: the rank moves.
	health[short] = []api.DeviceHealth{{Index: dev, Healthy: false, Level: "reset-device", Codes: []string{"fake:reset-device"}, Reason: "fake:reset-device"}}
	beat()
	if got := e.job(j.ID); got.State != api.JobRecovering || !strings.Contains(got.Reason, "device-unhealthy") {
		t.Fatalf("after device %d of %s turned unhealthy: %s (%s)", dev, node, got.State, got.Reason)
	}
	e.clock.Advance(10 * time.Second)
	beat()
	e.srv.Reconcile()
	e.srv.Cycle()
	beat()
	beat()
	got = e.job(j.ID)
	if got.State != api.JobRunning || got.Attempt != 1 {
		t.Fatalf("after the backoff: %s attempt %d (%s)", got.State, got.Attempt, got.Reason)
	}
	onBad := func() bool { return liveRankOn(ctx, e.c, node, dev) }
	if onBad() {
		t.Fatalf("a rank still runs on unhealthy device %d of %s", dev, node)
	}
	var more []string
	for range 3 {
		more = append(more, e.submit(8).ID)
	}
	e.srv.Cycle()
	if onBad() {
		t.Fatal("new work landed on the unhealthy chip")
	}
	health[short] = []api.DeviceHealth{{Index: dev, Healthy: true}}
	beat()
	e.srv.Cycle()
	for _, id := range more {
		if st := e.job(id).State; st == api.JobPending {
			t.Fatalf("job %s still pending after the chip was reported healthy", id)
		}
	}
	// The node faulted twice (drain, reset); a third fault cordons it.
	if n := nodeNamed(t, e, node); n.Cordoned {
		t.Fatalf("node cordoned after two faults: %s", n.CordonReason)
	}
	health[short] = []api.DeviceHealth{{Index: (dev + 1) % 8, Healthy: false, Level: "isolate-device"}}
	beat()
	if n := nodeNamed(t, e, node); !n.Cordoned || !strings.Contains(n.CordonReason, "keeps faulting: 3 device faults within 1h0m0s") {
		t.Fatalf("after a third fault: cordoned %v (%s)", n.Cordoned, n.CordonReason)
	}
}

func nodeNamed(t *testing.T, e *env, name string) api.Node {
	t.Helper()
	l, err := e.c.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range l.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return api.Node{}
}
