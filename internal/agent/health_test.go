package agent

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/device"
)

// lastDevices returns the device health of the latest heartbeat.
func (f *fakeServer) lastDevices() []api.DeviceHealth {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.beats) == 0 {
		return nil
	}
	return f.beats[len(f.beats)-1].Devices
}

// writeFaults replaces the fake fault file at once (a new file renamed over
// it), as an operator's editor does: the health poll never reads it empty
// halfway through a write.
func writeFaults(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, perm); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func TestFaultFileDrivesDeviceHealthInHeartbeats(t *testing.T) {
	srv := newFakeServer()
	state := t.TempDir()
	faults := filepath.Join(state, device.FakeFaultsFile)
	// Broken before the agent starts: the registration already says so.
	if err := writeFaults(faults, []byte("1 isolate-device\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	discs, err := ParseDevices([]string{"fake:910B:4"}, device.WithFakeFaultFile(faults))
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	a, err := New(Config{
		Name: "n0", Address: "127.0.0.1", StateDir: state, Server: srv, Shim: []string{exe}, Devices: discs,
		Logger:          slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		DefaultInterval: 40 * time.Millisecond, HealthInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); a.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	healthy := func(i int) api.DeviceHealth { return api.DeviceHealth{Index: i, Healthy: true} }
	want := []api.DeviceHealth{healthy(0),
		{Index: 1, Healthy: false, Level: "isolate-device", Codes: []string{"fake:isolate-device"}, Reason: "fake:isolate-device: injected, the chip is isolated"},
		healthy(2), healthy(3)}
	srv.waitFor(t, 10*time.Second, "device 1 isolated in a heartbeat", func() bool { return cmp.Equal(want, srv.lastDevices()) })
	srv.mu.Lock()
	reg := srv.regs[0].Devices
	srv.mu.Unlock()
	if reg[1].Healthy || !reg[0].Healthy {
		t.Errorf("registration devices %+v: want device 1 unhealthy, the others healthy", reg)
	}

	// Heal 1, break 3 with an Xid: the next heartbeats say so.
	if err := writeFaults(faults, []byte("3 xid:13\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want = []api.DeviceHealth{healthy(0), healthy(1), healthy(2),
		{Index: 3, Healthy: true, Level: "restart-job", Codes: []string{"xid:13"}, Reason: "xid:13: graphics engine exception (usually the application)"}}
	srv.waitFor(t, 10*time.Second, "device 1 healed and device 3 at restart-job", func() bool { return cmp.Equal(want, srv.lastDevices()) })

	// A bad line is reported in the log and the last good answer kept.
	if err := writeFaults(faults, []byte("9 reset-device\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if diff := cmp.Diff(want, srv.lastDevices()); diff != "" {
		t.Errorf("after a bad fault file (-want +got):\n%s", diff)
	}
	os.Remove(faults)
	want[3] = healthy(3)
	srv.waitFor(t, 10*time.Second, "every device healthy", func() bool { return cmp.Equal(want, srv.lastDevices()) })
}

func TestRankEndReasons(t *testing.T) {
	srv := newFakeServer()
	_, stop := runAgent(t, srv, t.TempDir())
	defer stop()
	srv.setAssignments(
		shell("j-exit", 0, "exit 3"),
		shell("j-sig", 0, "kill -SEGV $$"),
		api.Assignment{JobID: "j-nocmd", Command: []string{"/no/such/command"}},
		api.Assignment{JobID: "j-badfile", Command: []string{"true"}, Files: map[string]string{"../x": ""}},
	)
	cases := map[string]api.RankReport{
		"j-exit":    {JobID: "j-exit", State: api.RankExited, ExitCode: ptr(3), Reason: api.RankEndExit},
		"j-sig":     {JobID: "j-sig", State: api.RankExited, Signal: "SIGSEGV", SignalNumber: 11, Reason: api.RankEndSignal},
		"j-nocmd":   {JobID: "j-nocmd", State: api.RankExited, ExitCode: ptr(127), Reason: api.RankEndExit},
		"j-badfile": {JobID: "j-badfile", State: api.RankExited, ExitCode: ptr(126), Reason: api.RankEndStartFailed},
	}
	for job, want := range cases {
		got := srv.waitExit(t, job, 0, 0)
		got.PID = 0
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", job, diff)
		}
	}
}

func ptr(i int) *int { return &i }

func TestEndReason(t *testing.T) {
	cases := []struct {
		code        *int
		sig         string
		startFailed bool
		want        string
	}{
		{ptr(0), "", false, api.RankEndExit},
		{nil, "SIGKILL", false, api.RankEndSignal},
		{ptr(126), "", true, api.RankEndStartFailed},
		{nil, "", false, api.RankEndGroupGone},
	}
	for _, c := range cases {
		if got := endReason(c.code, c.sig, c.startFailed); got != c.want {
			t.Errorf("endReason(%v, %q, %v) = %q, want %q", c.code, c.sig, c.startFailed, got, c.want)
		}
	}
	if signalNumber("SIGKILL") != 9 || signalNumber("SIG40") != 40 || signalNumber("") != 0 {
		t.Error("signalNumber")
	}
}

func TestKillRanksKillsWhatADeadAgentLeft(t *testing.T) {
	srv := newFakeServer()
	state := t.TempDir()
	a, stop := runAgent(t, srv, state)
	// A rank that forks a background child (same process group) and one
	// that leaves its group (setsid): both must die.
	srv.setAssignments(shell("j", 0, "sleep 300 & sleep 300"), shell("j", 1, "setsid sleep 300 & sleep 300"))
	srv.waitFor(t, 20*time.Second, "both ranks running", func() bool {
		r0, ok0 := srv.lastReport("j", 0, 0)
		r1, ok1 := srv.lastReport("j", 0, 1)
		return ok0 && ok1 && r0.State == api.RankRunning && r1.State == api.RankRunning
	})
	time.Sleep(200 * time.Millisecond) // let the background children start
	work := filepath.Join(state, "work")
	if got := processesWithRankDirUnder(work); len(got) < 4 {
		t.Fatalf("%d rank processes before the crash, want at least 4 (2 shims, 2 shells, their sleeps)", len(got))
	}
	a.abandon = true // Run returns leaving the ranks running, as a crash would
	stop()
	if got := processesWithRankDirUnder(work); len(got) == 0 {
		t.Fatal("the abandoned ranks are already gone; the test proves nothing")
	}
	n, err := KillRanks(state, "")
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("KillRanks signalled nothing")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(processesWithRankDirUnder(work)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if left := processesWithRankDirUnder(work); len(left) > 0 {
		t.Errorf("processes left after KillRanks: %v", left)
	}
}
