package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/testbin"
)

// chipFaultPool: one host of two fake H100.
const chipFaultPool = `apiVersion: qun/v1
kind: Pool
name: e2e-chip-fault
levels:
  - {name: cluster, bandwidthGBps: 25, latencyUs: 10}
  - {name: node, host: true, bandwidthGBps: 100, latencyUs: 1}
root:
  name: lab
  level: cluster
  children:
    - {level: node, name: n0, chips: {kind: H100, count: 2}}
`

// TestChipFaultThroughTheHook: a real server and agent; the fake device a
// running rank uses is broken through the agent's fault file
// (STATE-DIR/faults). The server takes it from the heartbeat's device
// health, stops the rank, and the job's next attempt runs on the other
// chip; a second job waits, since the broken chip gets no new work; once
// the fault line is removed the chip is healthy again and that job runs.
func TestChipFaultThroughTheHook(t *testing.T) {
	bin := binaries(t)
	qun := filepath.Join(bin, "qun")
	dir := t.TempDir()
	poolFile := filepath.Join(dir, "pool.yaml")
	if err := os.WriteFile(poolFile, []byte(chipFaultPool), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("127.0.0.1:%d", testbin.FreePort(t, "127.0.0.1"))
	base := "https://" + listen
	start(t, "server", nil, qun, "server", "--pool", poolFile, "--data-dir", filepath.Join(dir, "server"),
		"--listen", listen, "--node-timeout", "5s", "--heartbeat", "200ms")
	c := secureClient(t, base, filepath.Join(dir, "server"), "")
	useServerCreds(t, filepath.Join(dir, "server"))
	state := filepath.Join(dir, "agent")
	start(t, "agent", append(os.Environ(), "QUN_JOIN_TOKEN="+joinToken(t, c)), qun, "agent", "--server", base, "--name", "n0", "--address", "127.0.0.1",
		"--devices", "fake:H100:2", "--state-dir", state, "--health-interval", "100ms", "--run-as", ownUser())
	waitNodes(t, c, 1, 30*time.Second)

	sleeper := func(name string) string {
		f := filepath.Join(dir, name+".yaml")
		spec := "apiVersion: qun/v1\nkind: Job\nname: " + name + "\nrestartPolicy: {maxRestarts: 2, backoff: 1s}\ncommand: [sleep, \"600\"]\n"
		if err := os.WriteFile(f, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		return submit(t, qun, base, f)
	}
	id := sleeper("first")
	j := waitJob(t, c, id, 30*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning || j.State.Terminal() })
	if j.State != api.JobRunning {
		t.Fatalf("job %s: %s (%s)", id, j.State, j.Reason)
	}
	dev := j.Placement[0].Devices[0]
	if err := os.WriteFile(filepath.Join(state, "faults"), []byte(fmt.Sprintf("%d reset-device\n", dev)), 0o644); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, c, id, 30*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning && j.Attempt == 1 || j.State.Terminal() })
	if j.State != api.JobRunning || j.Attempt != 1 || len(j.History) != 1 || j.History[0].Cause != "device-unhealthy" {
		t.Fatalf("after breaking device %d: %s (%s) attempt %d history %+v; want running attempt 1 after device-unhealthy", dev, j.State, j.Reason, j.Attempt, j.History)
	}
	if slices.Contains(j.Placement[0].Devices, dev) {
		t.Fatalf("attempt 1 runs on the broken device %d", dev)
	}
	second := sleeper("second")
	time.Sleep(2 * time.Second) // several cycles and heartbeats
	if s, _ := c.GetJob(t.Context(), second); s.State != api.JobPending {
		t.Fatalf("a new job is %s on %+v while the only free chip is broken", s.State, s.Placement)
	}
	if err := os.Remove(filepath.Join(state, "faults")); err != nil {
		t.Fatal(err)
	}
	s := waitJob(t, c, second, 30*time.Second, func(j *api.Job) bool { return j.State == api.JobRunning || j.State.Terminal() })
	if s.State != api.JobRunning || !slices.Contains(s.Placement[0].Devices, dev) {
		t.Fatalf("after the fault cleared: %s on %+v; want running on device %d", s.State, s.Placement, dev)
	}
	for _, x := range []string{id, second} {
		if _, err := c.CancelJob(t.Context(), x); err != nil {
			t.Fatal(err)
		}
	}
}
