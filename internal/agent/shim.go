package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/qunhq/qun/internal/atomicfile"
)

// StatusFileEnv names the environment variable through which the agent tells
// the rank shim where to write the rank's exit status. The shim removes it
// from the rank's environment.
const StatusFileEnv = "QUN_RANK_STATUS_FILE"

// exitStatus is the content of a rank's status file: how its command ended.
type exitStatus struct {
	ExitCode *int   `json:"exit_code,omitempty"`
	Signal   string `json:"signal,omitempty"`
}

// Exit codes of the shim when the command cannot be started, as a shell's.
const (
	exitCannotExec = 126
	exitNotFound   = 127
)

// RunShim is the rank shim: the process the agent starts for each rank, the
// leader of the rank's process group. args is the command and its arguments
// (a leading "--" is skipped). It starts the command as its child in the
// same process group, then catches SIGTERM, SIGINT, SIGHUP and SIGQUIT
// without acting on them (the agent signals the whole group, so the command
// gets them directly), waits, writes the exit status atomically to the file named
// by $QUN_RANK_STATUS_FILE and returns the command's exit code (128+N when
// it was killed by signal N).
//
// The status file is what lets an agent that restarted learn how a rank
// started by its previous incarnation ended: that rank is not its child, so
// it cannot wait for it.
func RunShim(args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	statusFile := os.Getenv(StatusFileEnv)
	os.Unsetenv(StatusFileEnv)
	write := func(st exitStatus) {
		if statusFile == "" {
			return
		}
		if err := writeFileAtomic(statusFile, mustJSON(st)); err != nil {
			fmt.Fprintf(stderr, "qun rank shim: %v\n", err)
		}
	}
	code := func(c int) int {
		write(exitStatus{ExitCode: &c})
		return c
	}
	if len(args) == 0 {
		fmt.Fprintln(stderr, "qun rank shim: no command")
		return code(exitNotFound)
	}
	// Catch the group's signals before the command exists: one that came
	// before it did would otherwise kill the shim (the default action) and
	// the wait status would name it instead of what ended the command. A
	// signal caught before the start is passed on to the command once it
	// runs; later ones reach the command directly, as a member of the
	// group, and the shim ignores them.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	var (
		mu    sync.Mutex
		early []os.Signal
		proc  *os.Process
	)
	go func() {
		for sig := range sigs {
			mu.Lock()
			if proc == nil {
				early = append(early, sig)
			}
			mu.Unlock()
		}
	}()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = nil
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "qun: cannot start rank command %q: %v\n", args[0], err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return code(exitNotFound)
		}
		return code(exitCannotExec)
	}
	mu.Lock()
	proc = cmd.Process
	for _, sig := range early {
		_ = proc.Signal(sig)
	}
	mu.Unlock()
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return code(0)
	case errors.As(err, &ee):
		ws, ok := ee.Sys().(syscall.WaitStatus)
		if ok && ws.Signaled() {
			write(exitStatus{Signal: signalName(ws.Signal())})
			return 128 + int(ws.Signal())
		}
		return code(ee.ExitCode())
	}
	fmt.Fprintf(stderr, "qun rank shim: wait: %v\n", err)
	return code(exitCannotExec)
}

// readStatus reads a status file; ok is false when there is none.
func readStatus(path string) (st exitStatus, ok bool) {
	data, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(data, &st) != nil {
		return exitStatus{}, false
	}
	return st, st.ExitCode != nil || st.Signal != ""
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGABRT: "SIGABRT", syscall.SIGALRM: "SIGALRM", syscall.SIGBUS: "SIGBUS",
	syscall.SIGFPE: "SIGFPE", syscall.SIGHUP: "SIGHUP", syscall.SIGILL: "SIGILL",
	syscall.SIGINT: "SIGINT", syscall.SIGKILL: "SIGKILL", syscall.SIGPIPE: "SIGPIPE",
	syscall.SIGQUIT: "SIGQUIT", syscall.SIGSEGV: "SIGSEGV", syscall.SIGTERM: "SIGTERM",
	syscall.SIGTRAP: "SIGTRAP", syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGXCPU: "SIGXCPU", syscall.SIGXFSZ: "SIGXFSZ", syscall.SIGSYS: "SIGSYS",
}

// signalName returns the conventional name of s ("SIGKILL"), or "SIG" and
// its number for one without a name here.
func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return fmt.Sprintf("SIG%d", int(s))
}

// signalNumber returns the number of a signal named by signalName, 0 for
// none or an unknown name.
func signalNumber(name string) int {
	if name == "" {
		return 0
	}
	for s, n := range signalNames {
		if n == name {
			return int(s)
		}
	}
	var v int
	if _, err := fmt.Sscanf(name, "SIG%d", &v); err == nil {
		return v
	}
	return 0
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// writeFileAtomic replaces path with data (owner-only, fsynced).
func writeFileAtomic(path string, data []byte) error { return atomicfile.Write(path, data, 0o600) }

// procStartTicks returns the start time of process pid in clock ticks since
// boot (field 22 of /proc/PID/stat), which with the pid identifies a process
// across pid reuse. ok is false when there is no such process or it is a
// zombie.
func procStartTicks(pid int) (ticks uint64, ok bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return 0, false
	}
	var v uint64
	if _, err := fmt.Sscan(f[19], &v); err != nil {
		return 0, false
	}
	return v, true
}
