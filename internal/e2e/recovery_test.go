package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/testbin"
)

// agentPIDs returns the pids of `qun agent --name NODE` processes whose
// command line names dir (other tests may run agents of the same name).
func agentPIDs(node, dir string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !strings.Contains(string(b), dir) {
			continue
		}
		if len(args) > 1 && args[1] == "agent" && slices.Contains(args, "--name") && args[slices.Index(args, "--name")+1] == node {
			if st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); !bytes.Contains(st, []byte(") Z ")) {
				out = append(out, pid)
			}
		}
	}
	return out
}

// rankProcesses returns the live processes whose environment names a rank
// directory below dir (QUN_RANK_DIR).
func rankProcesses(dir string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte("QUN_RANK_DIR="+dir+"/")) {
			continue
		}
		if st, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); !bytes.Contains(st, []byte(") Z ")) {
			out = append(out, pid)
		}
	}
	return out
}

// TestUpSurvivesAnAgentKill kills one agent of `qun up` with SIGKILL while
// a job runs on it: qun up keeps running, the agent's ranks die with it,
// the agent comes back and registers again (with the chip the fault hook
// broke reported unhealthy), and Ctrl-C still leaves nothing running.
func TestUpSurvivesAnAgentKill(t *testing.T) {
	bin := binaries(t)
	qun := filepath.Join(bin, "qun")
	data := t.TempDir()
	listen := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t, "127.0.0.1"))
	base := "https://" + listen
	up := start(t, "qun-up", nil, qun, "up", "--data-dir", data, "--listen", listen,
		"--nodes", "2", "--chips", "1", "--spares", "1", "--restart-delay", "1s", "--node-timeout", "30s")
	eventually(t, 60*time.Second, "qun up to say it is up", func() (bool, string) {
		select {
		case <-up.done:
			t.Fatalf("qun up exited early:\n%s", up.output())
		default:
		}
		return strings.Contains(up.output(), "Qun is up"), up.output()
	})
	if !strings.Contains(up.output(), "2 nodes + 1 spare × 1 910B") {
		t.Errorf("qun up output does not count the spare:\n%s", up.output())
	}
	c := upCreds(t, data, base)
	nodes := waitNodes(t, c, 3, 10*time.Second)
	if len(nodes) != 3 || nodes[2].Name != "spare0" {
		t.Fatalf("nodes %+v: want node0, node1, spare0", nodes)
	}

	// Two ranks with a checkpoint: they run on node0 and node1, never on
	// the spare, until a fault moves one there.
	long := filepath.Join(t.TempDir(), "long.yaml")
	spec := fmt.Sprintf("apiVersion: qun/v1\nkind: Job\nname: long\nranks: 2\ncheckpoint: {dir: %q}\n"+
		"restartPolicy: {maxRestarts: 3, backoff: 1s}\ncommand: [qun-allreduce]\nargs: [--steps, \"30000\", --log-every, \"0\", --checkpoint-every, \"500\"]\n",
		filepath.Join(data, "checkpoints"))
	if err := os.WriteFile(long, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	id := submit(t, qun, base, long)
	j := waitJob(t, c, id, 60*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning || j.State.Terminal() })
	if j.State != api.JobRunning {
		t.Fatalf("job %s: %s (%s), want running", id, j.State, j.Reason)
	}
	for _, p := range j.Placement {
		if p.Node == "spare0" {
			t.Fatalf("an ordinary job's rank runs on the spare: %+v", j.Placement)
		}
	}
	work := filepath.Join(data, "agents", "node1", "work")
	if len(rankProcesses(work)) == 0 {
		t.Fatal("no rank processes on node1 before the kill; the test would prove nothing")
	}
	// Break node1's only chip through the fault hook, then crash node1.
	if err := os.WriteFile(filepath.Join(data, "agents", "node1", "faults"), []byte("0 isolate-device\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pids := agentPIDs("node1", data)
	if len(pids) != 1 {
		t.Fatalf("agent pids of node1: %v, want one", pids)
	}
	killed := time.Now()
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "node1's ranks to die with its agent", func() (bool, string) {
		left := rankProcesses(work)
		return len(left) == 0, fmt.Sprint(left)
	})
	eventually(t, 20*time.Second, "node1's agent to come back and register again", func() (bool, string) {
		select {
		case <-up.done:
			t.Fatalf("qun up exited after an agent was killed:\n%s", up.output())
		default:
		}
		if p := agentPIDs("node1", data); len(p) != 1 || p[0] == pids[0] {
			return false, fmt.Sprintf("agent pids %v", p)
		}
		logs, _ := os.ReadFile(filepath.Join(data, "logs", "node1.log"))
		if n := strings.Count(string(logs), "msg=registered"); n < 2 {
			return false, fmt.Sprintf("%d registrations in node1.log", n)
		}
		l, err := c.ListNodes(t.Context())
		if err != nil {
			return false, err.Error()
		}
		for _, n := range l.Nodes {
			if n.Name == "node1" {
				return n.State == api.NodeReady && n.LastHeartbeat.After(killed) && len(n.Devices) == 1 && !n.Devices[0].Healthy,
					fmt.Sprintf("node1 %+v", n)
			}
		}
		return false, "no node1"
	})
	t.Logf("node1 back, registered with its broken chip, %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	if !strings.Contains(up.output(), "node1's agent exited") {
		t.Errorf("qun up did not say the agent died:\n%s", up.output())
	}

	// The job recovers off the broken chip (onto the spare) and, resumed
	// from its checkpoint, succeeds.
	j = waitJob(t, c, id, 120*time.Second, nil)
	if j.State != api.JobSucceeded || j.Attempt < 1 {
		t.Fatalf("job %s: %s (%s) attempt %d history %+v, want succeeded at attempt ≥ 1", id, j.State, j.Reason, j.Attempt, j.History)
	}
	for _, p := range j.Placement {
		if p.Node == "node1" {
			t.Errorf("the last attempt ran on node1, whose only chip is broken: %+v", j.Placement)
		}
	}
	t.Logf("job %s succeeded at attempt %d: %s", id, j.Attempt, historyLine(j))

	if err := up.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := up.waitExit(t, 60*time.Second); code != 0 {
		t.Errorf("qun up exited %d after Ctrl-C, want 0; output:\n%s", code, up.output())
	}
	if left := processesUnder(data); len(left) > 0 {
		t.Errorf("processes left running after qun up stopped:\n%s", strings.Join(left, "\n"))
	}
}

// historyLine summarises a job's history for a test log.
func historyLine(j *api.Job) string {
	var parts []string
	for _, h := range j.History {
		p := fmt.Sprintf("attempt %d %s→%s", h.Attempt, h.Cause, h.Path)
		for _, m := range h.Replaced {
			p += fmt.Sprintf(" rank %d %s→%s", m.Rank, m.From, m.To)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// TestFaultHookDrivesDeviceUnhealthyInHeartbeats runs a real `qun agent`
// process against a test server that records heartbeats: a line in
// STATE-DIR/faults makes the chip unhealthy, removing it heals the chip.
func TestFaultHookDrivesDeviceUnhealthyInHeartbeats(t *testing.T) {
	bin := binaries(t)
	var mu sync.Mutex
	var beats []api.HeartbeatRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && r.URL.Path == "/v1/nodes":
			var req api.RegisterRequest
			json.NewDecoder(r.Body).Decode(&req)
			json.NewEncoder(w).Encode(api.Node{Name: req.Name, BootID: req.BootID, State: api.NodeReady, Devices: req.Devices})
		case r.Method == "POST" && strings.HasSuffix(r.URL.Path, "/heartbeat"):
			var req api.HeartbeatRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			mu.Lock()
			beats = append(beats, req)
			mu.Unlock()
			json.NewEncoder(w).Encode(api.HeartbeatResponse{Assignments: []api.Assignment{}, HeartbeatInterval: api.Duration(100 * time.Millisecond)})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	state := t.TempDir()
	start(t, "agent", nil, filepath.Join(bin, "qun"), "agent", "--server", srv.URL, "--name", "n0", "--address", "127.0.0.1",
		"--devices", "fake:H100:2", "--state-dir", state, "--health-interval", "100ms")
	last := func() []api.DeviceHealth {
		mu.Lock()
		defer mu.Unlock()
		if len(beats) == 0 {
			return nil
		}
		return beats[len(beats)-1].Devices
	}
	wantHealthy := []api.DeviceHealth{{Index: 0, Healthy: true}, {Index: 1, Healthy: true}}
	eventually(t, 20*time.Second, "heartbeats with two healthy devices", func() (bool, string) {
		return fmt.Sprint(last()) == fmt.Sprint(wantHealthy), fmt.Sprint(last())
	})
	if err := os.WriteFile(filepath.Join(state, "faults"), []byte("1 xid:48\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "device 1 unhealthy at reset-device", func() (bool, string) {
		d := last()
		return len(d) == 2 && d[0].Healthy && !d[1].Healthy && d[1].Level == api.FaultResetDevice && slices.Equal(d[1].Codes, []string{"xid:48"}), fmt.Sprint(d)
	})
	os.Remove(filepath.Join(state, "faults"))
	eventually(t, 10*time.Second, "device 1 healthy again", func() (bool, string) {
		return fmt.Sprint(last()) == fmt.Sprint(wantHealthy), fmt.Sprint(last())
	})
}
