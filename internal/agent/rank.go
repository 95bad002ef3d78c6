package agent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/qunhq/qun/api"
)

// rank is one rank process the agent runs or ran. Fields after the first
// group are guarded by Agent.mu.
type rank struct {
	key   rankKey
	grace time.Duration
	dir   string
	pid   int // the shim: leader of the rank's process group; 0 if never started
	ticks uint64
	ship  *shipper
	// exited is closed when the process group leader is gone.
	exited chan struct{}

	state       string // api.RankRunning or api.RankExited
	exitCode    *int
	signal      string
	stopping    bool
	startFailed bool  // the agent could not start it (exitCode 126 or 127)
	devices     []int // device indexes, from the assignment (job mapping, metrics)
}

func (r *rank) report() api.RankReport {
	rep := api.RankReport{JobID: r.key.JobID, Attempt: r.key.Attempt, Rank: r.key.Rank, State: r.state, PID: r.pid}
	if r.state == api.RankExited {
		rep.ExitCode, rep.Signal = r.exitCode, r.signal
		rep.SignalNumber = signalNumber(r.signal)
		rep.Reason = endReason(r.exitCode, r.signal, r.startFailed)
	}
	return rep
}

// endReason says how a rank ended (api.RankEnd*).
func endReason(code *int, sig string, startFailed bool) string {
	switch {
	case startFailed:
		return api.RankEndStartFailed
	case sig != "":
		return api.RankEndSignal
	case code != nil:
		return api.RankEndExit
	}
	return api.RankEndGroupGone
}

func (r *rank) record() rankRecord {
	rec := rankRecord{
		JobID: r.key.JobID, Attempt: r.key.Attempt, Rank: r.key.Rank,
		PID: r.pid, StartTicks: r.ticks, Dir: r.dir, Grace: api.Duration(r.grace),
		Exited: r.state == api.RankExited, ExitCode: r.exitCode, Signal: r.signal, StartFailed: r.startFailed,
	}
	if r.ship != nil {
		rec.Offsets = r.ship.offsets()
	}
	return rec
}

// Environment variables of the agent that never reach a rank: they name
// another rank's identity or devices. The assignment sets its own.
var droppedEnv = []string{
	"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
	"MASTER_ADDR", "MASTER_PORT", "RANK_ID", "RANK_SIZE", "RANK_TABLE_FILE",
	"CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES", "ASCEND_VISIBLE_DEVICES",
}

// rankEnv builds a rank's environment: the agent's own minus droppedEnv and
// QUN_*, then the agent's QUN_* variables for the rank, then the
// assignment's Env, which wins.
func rankEnv(base []string, own, assigned map[string]string) []string {
	m := map[string]string{}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.HasPrefix(k, "QUN_") || slices.Contains(droppedEnv, k) {
			continue
		}
		m[k] = v
	}
	for k, v := range own {
		m[k] = v
	}
	for k, v := range assigned {
		m[k] = v
	}
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// validPathName reports whether s can be one path component made by the
// agent (a job ID, a file name of Assignment.Files).
func validPathName(s string) bool {
	if s == "" || s == "." || s == ".." || len(s) > 255 {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// prepare creates the rank directory and its files and returns the command
// to start. Errors are the assignment's fault or the node's and are
// reported as the rank's failure to start.
func (a *Agent) prepare(asg api.Assignment, dir string) (*exec.Cmd, error) {
	if len(asg.Command) == 0 {
		return nil, errors.New("assignment has no command")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create rank directory: %w", err)
	}
	os.Remove(filepath.Join(dir, statusFile))
	for name, content := range asg.Files {
		if !validPathName(name) || name == stdoutFile || name == stderrFile || name == statusFile {
			return nil, fmt.Errorf("file name %q: want one path component of letters, digits, '.', '_' and '-', not %s, %s or %s",
				name, stdoutFile, stderrFile, statusFile)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, fmt.Errorf("write %s: %w", name, err)
		}
	}
	ckpt := asg.CheckpointDir
	if ckpt == "" {
		ckpt = filepath.Join(a.cfg.WorkDir, asg.JobID, "checkpoint")
	}
	if err := os.MkdirAll(ckpt, 0o755); err != nil {
		return nil, fmt.Errorf("create checkpoint directory: %w", err)
	}
	cwd := dir
	if asg.Workdir != "" {
		cwd = asg.Workdir
		if !filepath.IsAbs(cwd) {
			cwd = filepath.Join(dir, cwd)
		}
	}
	devs := make([]string, len(asg.Devices))
	for i, d := range asg.Devices {
		devs[i] = strconv.Itoa(d)
	}
	own := map[string]string{
		"QUN_JOB_ID":         asg.JobID,
		"QUN_ATTEMPT":        strconv.Itoa(asg.Attempt),
		"QUN_RANK":           strconv.Itoa(asg.Rank),
		"QUN_NODE":           a.cfg.Name,
		"QUN_NODE_ADDRESS":   a.cfg.Address,
		"QUN_RANK_DIR":       dir,
		"QUN_DEVICES":        strings.Join(devs, ","),
		"QUN_CHECKPOINT_DIR": ckpt,
		StatusFileEnv:        filepath.Join(dir, statusFile),
	}
	argv := append(append(append(slices.Clone(a.cfg.Shim), "--"), asg.Command...), asg.Args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = rankEnv(os.Environ(), own, asg.Env)
	cmd.Dir = cwd
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cred, err := a.credential(asg) // runas.go: ranks drop to their user
	if err != nil {
		return nil, err
	}
	if cred != nil {
		own := []string{dir}
		if rel, err := filepath.Rel(a.cfg.WorkDir, ckpt); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			own = append(own, ckpt) // never chown a directory the spec names elsewhere
		}
		if err := chownAll(cred, own...); err != nil {
			return nil, err
		}
		cmd.SysProcAttr.Credential = cred
	}
	return cmd, nil
}

// openLogs opens the rank's two log files for appending.
func openLogs(dir string) (stdout, stderr *os.File, err error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if stdout, err = os.OpenFile(filepath.Join(dir, stdoutFile), flags, 0o644); err != nil {
		return nil, nil, err
	}
	if stderr, err = os.OpenFile(filepath.Join(dir, stderrFile), flags, 0o644); err != nil {
		stdout.Close()
		return nil, nil, err
	}
	return stdout, stderr, nil
}

// rankDir is where a rank's files live: WorkDir/JOB/ATTEMPT/RANK.
func (a *Agent) rankDir(k rankKey) string {
	return filepath.Join(a.cfg.WorkDir, k.JobID, strconv.Itoa(k.Attempt), strconv.Itoa(k.Rank))
}

// start launches a rank and the goroutines that ship its logs and wait for
// it. It never fails: a rank that cannot start is reported as exited with
// code 127 when its command is not found, 126 for any other reason (bad
// file name, unwritable directory), the reason written to its stderr log.
// Called with a.mu held.
func (a *Agent) start(asg api.Assignment) *rank {
	k := keyOf(asg)
	grace := time.Duration(asg.Grace)
	if grace <= 0 {
		grace = a.cfg.DefaultGrace
	}
	r := &rank{key: k, grace: grace, exited: make(chan struct{}), state: api.RankRunning}
	fail := func(code int, err error) *rank {
		r.startFailed = true
		a.log.Error("cannot start rank", "rank", k.String(), "err", err)
		if r.dir != "" {
			if f, ferr := os.OpenFile(filepath.Join(r.dir, stderrFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); ferr == nil {
				fmt.Fprintf(f, "qun agent: cannot start rank %d of job %s: %v\n", k.Rank, k.JobID, err)
				f.Close()
			}
		}
		close(r.exited)
		a.watch(r, func() (*int, string) { return &code, "" })
		return r
	}
	if !validPathName(k.JobID) {
		return fail(exitCannotExec, fmt.Errorf("job ID %q cannot name a directory", k.JobID))
	}
	r.dir = a.rankDir(k)
	cmd, err := a.prepare(asg, r.dir)
	if err != nil {
		return fail(exitCannotExec, err)
	}
	stdout, stderr, err := openLogs(r.dir)
	if err != nil {
		return fail(exitCannotExec, err)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Start()
	stdout.Close()
	stderr.Close()
	if err != nil {
		code := exitCannotExec
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			code = exitNotFound
		}
		return fail(code, fmt.Errorf("start rank shim: %w", err))
	}
	r.pid = cmd.Process.Pid
	r.ticks, _ = procStartTicks(r.pid)
	a.log.Info("rank started", "rank", k.String(), "pid", r.pid, "dir", r.dir, "command", asg.Command)
	go func() {
		cmd.Wait() // the outcome is read in statusOf
		killGroup(r.pid)
		close(r.exited)
	}()
	a.watch(r, func() (*int, string) { return statusOf(r.dir, cmd.ProcessState) })
	return r
}

// statusOf returns how a rank ended: from its status file, else from the
// wait status of the shim (killed by a signal before it could write one).
func statusOf(dir string, ps *os.ProcessState) (*int, string) {
	if st, ok := readStatus(filepath.Join(dir, statusFile)); ok {
		return st.ExitCode, st.Signal
	}
	if ps == nil {
		return nil, ""
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return nil, signalName(ws.Signal())
	}
	c := ps.ExitCode()
	return &c, ""
}

// adopt takes over a rank started by an earlier incarnation of the agent
// that is still alive: it cannot wait for it, so it polls /proc.
func (a *Agent) adopt(rec rankRecord) *rank {
	r := &rank{
		key: rec.key(), grace: time.Duration(rec.Grace), dir: rec.Dir, pid: rec.PID, ticks: rec.StartTicks,
		exited: make(chan struct{}), state: api.RankRunning,
	}
	if r.grace <= 0 {
		r.grace = a.cfg.DefaultGrace
	}
	a.log.Info("adopting rank from an earlier agent", "rank", r.key.String(), "pid", r.pid)
	go func() {
		for alive(r.pid, r.ticks) {
			time.Sleep(a.cfg.PollInterval)
		}
		killGroup(r.pid)
		close(r.exited)
	}()
	a.watchFrom(r, rec.Offsets, func() (*int, string) {
		if st, ok := readStatus(filepath.Join(r.dir, statusFile)); ok {
			return st.ExitCode, st.Signal
		}
		return nil, ""
	})
	return r
}

// killGroup kills what is left of a rank's process group once its leader,
// the shim, is gone: whatever the rank forked into the background. A rank
// leaves no orphans.
func killGroup(pgid int) {
	if pgid > 0 {
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// alive reports whether pid is still the process that started at ticks.
func alive(pid int, ticks uint64) bool {
	t, ok := procStartTicks(pid)
	return ok && t == ticks
}

func (a *Agent) watch(r *rank, status func() (*int, string)) {
	a.watchFrom(r, [2]int64{}, status)
}

// watchFrom ships r's logs from off until it exits, then kills what is left
// of its process group, records its exit status and wakes the main loop.
func (a *Agent) watchFrom(r *rank, off [2]int64, status func() (*int, string)) {
	if r.dir != "" {
		r.ship = newShipper(a.cfg.Server, r.key, r.dir, off, a.log)
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if r.ship != nil {
			r.ship.run(a.shipCtx, r.exited, a.cfg.LogInterval, 10*time.Second)
		}
		select {
		case <-r.exited:
		case <-a.gone:
			return
		}
		code, sig := status()
		a.mu.Lock()
		r.state, r.exitCode, r.signal = api.RankExited, code, sig
		a.mu.Unlock()
		a.log.Info("rank exited", "rank", r.key.String(), "exit_code", fmtCode(code), "signal", sig)
		a.wake()
	}()
}

func fmtCode(c *int) string {
	if c == nil {
		return "none"
	}
	return strconv.Itoa(*c)
}

// stop asks a running rank to stop: SIGTERM to its process group, SIGKILL
// after its grace period. Called with a.mu held.
func (a *Agent) stop(r *rank, why string) {
	if r.stopping || r.state == api.RankExited || r.pid <= 0 {
		return
	}
	r.stopping = true
	a.log.Info("stopping rank", "rank", r.key.String(), "pid", r.pid, "grace", r.grace, "why", why)
	syscall.Kill(-r.pid, syscall.SIGTERM)
	go func() {
		t := time.NewTimer(r.grace)
		defer t.Stop()
		select {
		case <-r.exited:
		case <-t.C:
			a.log.Warn("rank did not stop within its grace period; killing it", "rank", r.key.String(), "grace", r.grace)
			syscall.Kill(-r.pid, syscall.SIGKILL)
		}
	}()
}
