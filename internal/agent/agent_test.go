package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/api"
)

func TestRankRunsOnceAndItsExitIsReportedUntilAcknowledged(t *testing.T) {
	srv := newFakeServer()
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	srv.setAssignments(shell("j1", 0, "echo started >> "+starts+"; echo hello; echo oops >&2; exit 3"))
	runAgent(t, srv, dir)

	rep := srv.waitExit(t, "j1", 0, 0)
	if rep.ExitCode == nil || *rep.ExitCode != 3 || rep.Signal != "" {
		t.Fatalf("exit: code %v signal %q, want 3 and none", fmtCode(rep.ExitCode), rep.Signal)
	}
	// Logs are shipped before the exit is reported.
	if got := srv.log("j1/0/0/stdout"); got != "hello\n" {
		t.Errorf("stdout log %q, want %q", got, "hello\n")
	}
	if got := srv.log("j1/0/0/stderr"); got != "oops\n" {
		t.Errorf("stderr log %q, want %q", got, "oops\n")
	}
	// Still listed: reported again, never restarted.
	n := len(srv.beats)
	srv.waitFor(t, 5*time.Second, "three more heartbeats", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.beats) >= n+3
	})
	if rep, ok := srv.lastReport("j1", 0, 0); !ok || rep.State != api.RankExited {
		t.Fatalf("exited rank still assigned: last report %+v (present %v), want it exited", rep, ok)
	}
	// Unlisted: the next heartbeat after the answer that drops it no longer
	// carries it.
	srv.setAssignments()
	srv.waitFor(t, 5*time.Second, "the exit to be forgotten", func() bool {
		_, ok := srv.lastReport("j1", 0, 0)
		return !ok
	})
	data, err := os.ReadFile(starts)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(data), "started"); got != 1 {
		t.Errorf("rank started %d times, want 1", got)
	}
}

func TestUnassignedRankGetsSIGTERMThenSIGKILL(t *testing.T) {
	srv := newFakeServer()
	dir := t.TempDir()
	polite := shell("j1", 0, "exec sleep 60")
	stubborn := shell("j1", 1, `trap "echo got TERM" TERM; echo ready; while :; do sleep 0.05; done`)
	stubborn.Grace = api.Duration(300 * time.Millisecond)
	srv.setAssignments(polite, stubborn)
	runAgent(t, srv, dir)
	srv.waitFor(t, 10*time.Second, "both ranks running and rank 1 ready", func() bool {
		a, okA := srv.lastReport("j1", 0, 0)
		b, okB := srv.lastReport("j1", 0, 1)
		return okA && okB && a.State == api.RankRunning && b.State == api.RankRunning && srv.log("j1/0/1/stdout") == "ready\n"
	})
	begin := time.Now()
	srv.setAssignments()
	var reps [2]api.RankReport
	srv.waitFor(t, 10*time.Second, "both exits", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for _, b := range srv.beats {
			for _, r := range b.Ranks {
				if r.State == api.RankExited {
					reps[r.Rank] = r
				}
			}
		}
		return reps[0].State != "" && reps[1].State != ""
	})
	if reps[0].Signal != "SIGTERM" || reps[0].ExitCode != nil {
		t.Errorf("polite rank: signal %q code %v, want SIGTERM", reps[0].Signal, fmtCode(reps[0].ExitCode))
	}
	if reps[1].Signal != "SIGKILL" || reps[1].ExitCode != nil {
		t.Errorf("stubborn rank: signal %q code %v, want SIGKILL", reps[1].Signal, fmtCode(reps[1].ExitCode))
	}
	if el := time.Since(begin); el < 300*time.Millisecond {
		t.Errorf("stubborn rank killed after %v, before its 300ms grace", el)
	}
	if got := srv.log("j1/0/1/stdout"); !strings.Contains(got, "got TERM") {
		t.Errorf("stubborn rank's stdout %q: want it to have seen SIGTERM first", got)
	}
}

func TestRankEnvironmentDirectoryAndFiles(t *testing.T) {
	t.Setenv("RANK", "99")
	t.Setenv("QUN_SECRET", "agent-only")
	t.Setenv("KEEP_ME", "yes")
	srv := newFakeServer()
	dir := t.TempDir()
	asg := shell("j2", 1, `echo "RANK=$RANK KEEP=$KEEP_ME SECRET=$QUN_SECRET JOB=$QUN_JOB_ID DEV=$QUN_DEVICES"; pwd; cat table.json; echo "$QUN_CHECKPOINT_DIR"; test -z "$`+StatusFileEnv+`" && echo no-status-env`)
	asg.Attempt = 2
	asg.Devices = []int{4, 5}
	asg.Files = map[string]string{"table.json": `{"x":1}` + "\n"}
	srv.setAssignments(asg)
	a, _ := runAgent(t, srv, dir)
	rep := srv.waitExit(t, "j2", 2, 1)
	if rep.ExitCode == nil || *rep.ExitCode != 0 {
		t.Fatalf("exit %v, want 0; stderr %q", fmtCode(rep.ExitCode), srv.log("j2/2/1/stderr"))
	}
	rankDir := filepath.Join(dir, "work", "j2", "2", "1")
	want := strings.Join([]string{
		"RANK=1 KEEP=yes SECRET= JOB=j2 DEV=4,5",
		rankDir,
		`{"x":1}`,
		filepath.Join(dir, "work", "j2", "checkpoint"),
		"no-status-env",
		"",
	}, "\n")
	if diff := cmp.Diff(want, srv.log("j2/2/1/stdout")); diff != "" {
		t.Errorf("rank output (-want +got):\n%s", diff)
	}
	if a.BootID() == "" {
		t.Error("no boot ID")
	}
}

func TestRankThatCannotStartIsReportedFailed(t *testing.T) {
	srv := newFakeServer()
	asg := api.Assignment{JobID: "j3", Command: []string{"no-such-command-qun-test"}}
	bad := api.Assignment{JobID: "j3", Rank: 1, Command: []string{"true"}, Files: map[string]string{"../escape": "x"}}
	srv.setAssignments(asg, bad)
	runAgent(t, srv, t.TempDir())
	rep := srv.waitExit(t, "j3", 0, 0)
	if rep.ExitCode == nil || *rep.ExitCode != exitNotFound {
		t.Errorf("missing command: exit %v, want %d", fmtCode(rep.ExitCode), exitNotFound)
	}
	if got := srv.log("j3/0/0/stderr"); !strings.Contains(got, "no-such-command-qun-test") {
		t.Errorf("stderr %q does not name the missing command", got)
	}
	rep = srv.waitExit(t, "j3", 0, 1)
	if rep.ExitCode == nil || *rep.ExitCode != exitCannotExec {
		t.Errorf("bad file name: exit %v, want %d", fmtCode(rep.ExitCode), exitCannotExec)
	}
	if got := srv.log("j3/0/1/stderr"); !strings.Contains(got, `file name "../escape"`) {
		t.Errorf("stderr %q does not name the bad file", got)
	}
}

func TestReRegistersWhenServerForgetsNode(t *testing.T) {
	srv := newFakeServer()
	srv.failBeats = 2
	a, _ := runAgent(t, srv, t.TempDir())
	srv.waitFor(t, 10*time.Second, "a heartbeat after re-registering", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.beats) > 0
	})
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.regs) < 2 {
		t.Fatalf("registered %d times, want a second registration after not_found", len(srv.regs))
	}
	for _, r := range srv.regs {
		if r.BootID != a.BootID() || r.Name != "n0" || r.Address != "127.0.0.1" {
			t.Errorf("registration %+v: want node n0 at 127.0.0.1 with boot ID %s", r, a.BootID())
		}
	}
}

func TestShutdownStopsRanksAndReportsThem(t *testing.T) {
	srv := newFakeServer()
	srv.setAssignments(shell("j4", 0, "exec sleep 60"))
	_, stop := runAgent(t, srv, t.TempDir())
	var pid int
	srv.waitFor(t, 10*time.Second, "the rank to run", func() bool {
		r, ok := srv.lastReport("j4", 0, 0)
		pid = r.PID
		return ok && r.State == api.RankRunning && r.PID > 0
	})
	stop()
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("rank pid %d still alive after the agent stopped", pid)
	}
	rep, ok := srv.lastReport("j4", 0, 0)
	if !ok || rep.State != api.RankExited || rep.Signal != "SIGTERM" {
		t.Errorf("last heartbeat: %+v (present %v), want the rank exited by SIGTERM", rep, ok)
	}
}

func TestRestartAdoptsAssignedRanksAndStopsTheRest(t *testing.T) {
	srv := newFakeServer()
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	keep := shell("j5", 0, "echo before; while [ ! -e "+gate+" ]; do sleep 0.05; done; echo after; exit 5")
	drop := shell("j5", 1, "exec sleep 60")
	srv.setAssignments(keep, drop)
	a1, stop1 := runAgent(t, srv, dir)
	var pids [2]int
	srv.waitFor(t, 10*time.Second, "both ranks running", func() bool {
		r0, ok0 := srv.lastReport("j5", 0, 0)
		r1, ok1 := srv.lastReport("j5", 0, 1)
		pids = [2]int{r0.PID, r1.PID}
		return ok0 && ok1 && r0.PID > 0 && r1.PID > 0 && srv.log("j5/0/0/stdout") == "before\n"
	})
	a1.abandon = true // as if killed -9: ranks keep running
	stop1()
	for _, p := range pids {
		if err := syscall.Kill(p, 0); err != nil {
			t.Fatalf("rank pid %d died with the abandoned agent: %v", p, err)
		}
	}
	srv.setAssignments(keep)
	a2, _ := runAgent(t, srv, dir)
	if a2.BootID() != a1.BootID() {
		t.Errorf("boot ID changed across restart: %s then %s", a1.BootID(), a2.BootID())
	}
	rep := srv.waitExit(t, "j5", 0, 1)
	if rep.Signal != "SIGTERM" {
		t.Errorf("unassigned rank of the old agent: signal %q code %v, want SIGTERM", rep.Signal, fmtCode(rep.ExitCode))
	}
	if r, _ := srv.lastReport("j5", 0, 0); r.State != api.RankRunning || r.PID != pids[0] {
		t.Fatalf("assigned rank: %+v, want it adopted (running, pid %d)", r, pids[0])
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rep = srv.waitExit(t, "j5", 0, 0)
	if rep.ExitCode == nil || *rep.ExitCode != 5 {
		t.Errorf("adopted rank: exit %v signal %q, want code 5 from its status file", fmtCode(rep.ExitCode), rep.Signal)
	}
	if got := srv.log("j5/0/0/stdout"); got != "before\nafter\n" {
		t.Errorf("adopted rank's stdout %q, want each line once", got)
	}
}

func TestParseDevices(t *testing.T) {
	tests := map[string]struct {
		specs   []string
		want    []string // plugin names
		devices int      // fake devices
		wantErr string
	}{
		"fake":              {specs: []string{"fake:910B:8"}, want: []string{"fake"}, devices: 8},
		"fake of two kinds": {specs: []string{"fake:H100:8,H20:2"}, want: []string{"fake"}, devices: 10},
		"several":           {specs: []string{"fake:910B:2,nvidia", "ascend"}, want: []string{"fake", "nvidia", "ascend"}, devices: 2},
		"none":              {specs: []string{"none"}},
		"unknown":           {specs: []string{"amd"}, wantErr: `device plugin "amd"`},
		"twice":             {specs: []string{"nvidia,nvidia"}, wantErr: "given twice"},
		"bad fake":          {specs: []string{"fake:910B:0"}, wantErr: "count"},
		"nvidia with arg":   {specs: []string{"nvidia:0"}, wantErr: "takes no argument"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ds, err := ParseDevices(tc.specs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			n := 0
			for _, d := range ds {
				names = append(names, d.Name())
				if d.Name() == "fake" {
					devs, _ := d.Discover(context.Background())
					n = len(devs)
				}
			}
			if diff := cmp.Diff(tc.want, names); diff != "" {
				t.Errorf("plugins (-want +got):\n%s", diff)
			}
			if n != tc.devices {
				t.Errorf("fake devices %d, want %d", n, tc.devices)
			}
		})
	}
}

func TestNewAttemptWaitsForTheOldOne(t *testing.T) {
	srv := newFakeServer()
	dir := t.TempDir()
	order := filepath.Join(dir, "order")
	old := shell("j6", 0, `trap 'sleep 0.3; echo old-end >> `+order+`; exit 143' TERM; echo ready; while :; do sleep 0.05; done`)
	srv.setAssignments(old)
	runAgent(t, srv, dir)
	srv.waitFor(t, 10*time.Second, "the old attempt to run", func() bool { return srv.log("j6/0/0/stdout") == "ready\n" })
	next := shell("j6", 0, "echo new-start >> "+order)
	next.Attempt = 1
	srv.setAssignments(next)
	if rep := srv.waitExit(t, "j6", 1, 0); rep.ExitCode == nil || *rep.ExitCode != 0 {
		t.Fatalf("new attempt: exit %v signal %q, want 0", fmtCode(rep.ExitCode), rep.Signal)
	}
	data, err := os.ReadFile(order)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff("old-end\nnew-start\n", string(data)); diff != "" {
		t.Errorf("order of events (-want +got):\n%s", diff)
	}
}

func TestHurryKillsRanksAtOnce(t *testing.T) {
	srv := newFakeServer()
	asg := shell("j7", 0, `trap "" TERM; echo ready; while :; do sleep 0.05; done`)
	asg.Grace = api.Duration(time.Minute)
	srv.setAssignments(asg)
	a, stop := runAgent(t, srv, t.TempDir())
	srv.waitFor(t, 10*time.Second, "the rank to run", func() bool { return srv.log("j7/0/0/stdout") == "ready\n" })
	begin := time.Now()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	time.Sleep(200 * time.Millisecond) // the agent is waiting out the grace period
	a.Hurry()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("agent still stopping 10s after Hurry")
	}
	if el := time.Since(begin); el > 10*time.Second {
		t.Errorf("stopping took %v", el)
	}
	if rep, _ := srv.lastReport("j7", 0, 0); rep.Signal != "SIGKILL" {
		t.Errorf("last report %+v, want the rank killed by SIGKILL", rep)
	}
}
