package agent

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// KillRanks kills, with SIGKILL, every rank an agent with this state
// directory left behind: the process group of each live rank in
// ranks.json (the same process: pid and /proc start time), and every
// process whose environment names a rank directory below workDir
// (QUN_RANK_DIR), which also finds a rank started just before the agent
// died and not yet in ranks.json. workDir "" means STATE-DIR/work. It is
// what a supervisor does when an agent dies, so that the node behaves as a
// crashed machine: its ranks die with it. It returns how many processes
// or groups it signalled.
func KillRanks(stateDir, workDir string) (int, error) {
	if workDir == "" {
		workDir = filepath.Join(stateDir, "work")
	}
	workDir, err := filepath.Abs(workDir)
	if err != nil {
		return 0, err
	}
	recs, err := loadRanks(stateDir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range recs {
		if !r.Exited && r.PID > 0 && alive(r.PID, r.StartTicks) {
			if syscall.Kill(-r.PID, syscall.SIGKILL) == nil {
				n++
			}
		}
	}
	// Processes of the ranks found by their environment, until none is
	// left (a dying shim's children may still be forking).
	for range 20 {
		pids := processesWithRankDirUnder(workDir)
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			if syscall.Kill(p, syscall.SIGKILL) == nil {
				n++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n, nil
}

// processesWithRankDirUnder lists live processes (not zombies) whose
// environment has QUN_RANK_DIR below dir.
func processesWithRankDirUnder(dir string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	want := []byte("QUN_RANK_DIR=" + dir + string(filepath.Separator))
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		hit := false
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if bytes.HasPrefix(kv, want) {
				hit = true
				break
			}
		}
		if hit {
			if _, ok := procStartTicks(pid); ok { // not a zombie
				out = append(out, pid)
			}
		}
	}
	return out
}
