package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/testbin"
)

// netnsPool is a pool of three nodes of one fake 910B: the example job's
// three ranks of one chip take one node each.
const netnsPool = `apiVersion: qun/v1
kind: Pool
name: e2e-netns
levels:
  - {name: cluster, bandwidthGBps: 25, latencyUs: 10}
  - {name: node, host: true, bandwidthGBps: 100, latencyUs: 1}
root:
  name: lab
  level: cluster
  children:
    - {level: node, name: "node{i}", count: 3, chips: {kind: 910B, count: 1}}
`

// netns is the network scripts/netns.sh built for one test.
type netns struct {
	env    []string // QUN_NETNS_* for the script
	prefix string
	subnet string
}

func (n netns) ns(k int) string    { return fmt.Sprintf("%s-ns%d", n.prefix, k) }
func (n netns) addr(k int) string  { return fmt.Sprintf("%s.%d", n.subnet, 10+k) }
func (n netns) bridgeAddr() string { return n.subnet + ".1" }
func (n netns) script(args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "netns.sh"), args...)
	cmd.Env = append(os.Environ(), n.env...)
	return cmd
}

// setupNetns creates count namespaces on a bridge and removes them when the
// test ends (after its processes are killed: cleanups run last-in first-out).
func setupNetns(t *testing.T, count int) netns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces with scripts/netns.sh (CI runs the tests as root)")
	}
	pid := os.Getpid()
	n := netns{prefix: fmt.Sprintf("qe%d", pid%100000), subnet: fmt.Sprintf("10.77.%d", 20+pid%200)}
	n.env = []string{"QUN_NETNS_PREFIX=" + n.prefix, "QUN_NETNS_SUBNET=" + n.subnet}
	t.Cleanup(func() {
		if out, err := n.script("down", fmt.Sprint(count)).CombinedOutput(); err != nil {
			t.Errorf("netns.sh down: %v\n%s", err, out)
		}
	})
	if out, err := n.script("up", fmt.Sprint(count)).CombinedOutput(); err != nil {
		t.Fatalf("netns.sh up: %v\n%s", err, out)
	}
	return n
}

// TestGangAcrossNetworkNamespaces runs the server in the root namespace and
// three agents each in a network namespace of its own, runs the example job
// as a gang with one rank per node and checks the trained model against a
// single-process run. Then: an agent killed with SIGKILL and restarted at
// once adopts its running rank, whose exit still ends its job; an agent
// killed and not restarted in time gets its node marked lost, the job
// running on it (with restartPolicy maxRestarts 0) fails with node-lost in
// its history and its ranks elsewhere stop.
func TestGangAcrossNetworkNamespaces(t *testing.T) {
	net := setupNetns(t, 3)
	bin := binaries(t)
	qun := filepath.Join(bin, "qun")
	dir := t.TempDir()
	poolFile := filepath.Join(dir, "pool.yaml")
	if err := os.WriteFile(poolFile, []byte(netnsPool), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := fmt.Sprintf("%s:%d", net.bridgeAddr(), testbin.FreePort(t, net.bridgeAddr()))
	base := "https://" + listen
	start(t, "server", nil, qun, "server", "--pool", poolFile, "--data-dir", filepath.Join(dir, "server"),
		"--listen", listen, "--node-timeout", "5s", "--heartbeat", "500ms")
	c := secureClient(t, base, filepath.Join(dir, "server"), "")
	useServerCreds(t, filepath.Join(dir, "server"))

	env := append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	stateDir := func(node string) string { return filepath.Join(dir, "agents", node) }
	agentArgv := func(k int) []string {
		node := fmt.Sprintf("node%d", k-1)
		return []string{"ip", "netns", "exec", net.ns(k), qun, "agent", "--server", base, "--name", node,
			"--address", net.addr(k), "--devices", "fake:910B:1", "--state-dir", stateDir(node), "--run-as", "root"}
	}
	agents := map[string]*proc{}
	for k := 1; k <= 3; k++ {
		agents[fmt.Sprintf("node%d", k-1)] = start(t, fmt.Sprintf("agent%d", k), append(env, "QUN_JOIN_TOKEN="+joinToken(t, c)), agentArgv(k)...)
	}
	for _, n := range waitNodes(t, c, 3, 60*time.Second) {
		var k int
		fmt.Sscanf(n.Name, "node%d", &k)
		if want := net.addr(k + 1); n.Address != want {
			t.Errorf("node %s registered address %s, want its namespace's %s", n.Name, n.Address, want)
		}
	}

	jobFile := filepath.Join(repoRoot, "examples", "jobs", "allreduce.yaml")
	id := submit(t, qun, base, jobFile)
	j := waitJob(t, c, id, 90*time.Second, nil)
	if j.State != api.JobSucceeded {
		t.Fatalf("job %s: %s (%s), want succeeded; rank logs:\n%s", id, j.State, j.Reason, rankLogs(t, c, j))
	}
	used := map[string]bool{}
	for _, p := range j.Placement {
		used[p.Node] = true
	}
	if len(used) != 3 {
		t.Fatalf("placement %+v: want one rank on each of the 3 nodes", j.Placement)
	}
	got := readModel(t, rankZeroModel(t, j, func(node string) string { return filepath.Join(stateDir(node), "work") }))
	if got.WorldSize != 3 {
		t.Errorf("model of world size %d, want 3", got.WorldSize)
	}
	sameModel(t, singleProcessModel(t, bin, jobFile), got)

	// restart kills a node's agent with SIGKILL (unless it is dead already)
	// and starts a new one with the same state directory, owned by the
	// whole test (not a subtest).
	restart := func(sub *testing.T, node string) *proc {
		sub.Helper()
		select {
		case <-agents[node].done:
		default:
			if err := agents[node].cmd.Process.Signal(syscall.SIGKILL); err != nil {
				sub.Fatal(err)
			}
			agents[node].waitExit(sub, 10*time.Second)
		}
		var k int
		fmt.Sscanf(node, "node%d", &k)
		p := start(t, "agent-restarted-"+node, env, agentArgv(k+1)...)
		agents[node] = p
		return p
	}

	t.Run("agent restarted", func(t *testing.T) {
		// A restarted agent adopts the rank it still runs: the job goes on
		// and the rank's exit, read from its status file, ends it.
		gate := filepath.Join(dir, "gate")
		script := "echo waiting; while [ ! -e " + gate + " ]; do sleep 0.1; done; echo done"
		file := filepath.Join(dir, "gate.yaml")
		spec := fmt.Sprintf("apiVersion: qun/v1\nkind: Job\nname: gate\ncommand: [/bin/sh, -c, %q]\n", script)
		if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		id := submit(t, qun, base, file)
		j := waitJob(t, c, id, 60*time.Second, func(j *api.Job) bool {
			return j.State == api.JobRunning && len(j.Ranks) == 1 && j.Ranks[0].PID > 0 || j.State.Terminal()
		})
		if j.State != api.JobRunning {
			t.Fatalf("job %s: %s (%s), want running", id, j.State, j.Reason)
		}
		node, pid := j.Ranks[0].Node, j.Ranks[0].PID
		restarted := restart(t, node)
		eventually(t, 20*time.Second, "the restarted agent to adopt the rank", func() (bool, string) {
			return strings.Contains(restarted.output(), "adopting rank"), restarted.output()
		})
		time.Sleep(time.Second) // a few heartbeats of the new agent
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		j = waitJob(t, c, id, 30*time.Second, nil)
		if j.State != api.JobSucceeded || j.Attempt != 0 {
			t.Fatalf("job %s: %s (%s) attempt %d, want succeeded at attempt 0", id, j.State, j.Reason, j.Attempt)
		}
		if len(j.Ranks) != 1 || j.Ranks[0].PID != pid || j.Ranks[0].ExitCode == nil || *j.Ranks[0].ExitCode != 0 {
			t.Errorf("rank %+v: want pid %d (adopted, not restarted) and exit code 0", j.Ranks, pid)
		}
		logs, err := c.JobLogs(context.Background(), id, api.LogOptions{Rank: 0, Attempt: 0, Stream: "stdout"})
		if err != nil || strings.Count(string(logs), "waiting") < 1 || !strings.Contains(string(logs), "done") {
			t.Errorf("rank output %q (err %v): want waiting, then done", logs, err)
		}
	})

	t.Run("agent killed", func(t *testing.T) {
		long := filepath.Join(dir, "long.yaml")
		spec := "apiVersion: qun/v1\nkind: Job\nname: long\nranks: 3\nrestartPolicy: {maxRestarts: 0}\ncommand: [qun-allreduce]\nargs: [--steps, \"100000000\", --log-every, \"0\"]\n"
		if err := os.WriteFile(long, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		id := submit(t, qun, base, long)
		j := waitJob(t, c, id, 60*time.Second, func(j *api.Job) bool {
			return j.State == api.JobRunning || j.State.Terminal()
		})
		if j.State != api.JobRunning {
			t.Fatalf("job %s: %s (%s), want running", id, j.State, j.Reason)
		}
		pids := map[string]int{}
		for _, r := range j.Ranks {
			pids[r.Node] = r.PID
		}
		victim := "node2"
		if err := agents[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		agents[victim].waitExit(t, 10*time.Second)
		j = waitJob(t, c, id, 30*time.Second, nil)
		if j.State != api.JobFailed || len(j.History) != 1 || j.History[0].Cause != "node-lost" || j.History[0].Path != "give-up" {
			t.Errorf("job %s after its node's agent was killed: %s (%s) history %+v, want failed, giving up after node-lost", id, j.State, j.Reason, j.History)
		}
		l, err := c.ListNodes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range l.Nodes {
			if n.Name == victim && n.State != api.NodeLost {
				t.Errorf("node %s is %s after its agent was killed, want lost", victim, n.State)
			}
		}
		for node, pid := range pids {
			if node == victim {
				continue
			}
			eventually(t, 20*time.Second, fmt.Sprintf("rank on %s (pid %d) to stop", node, pid), func() (bool, string) {
				return syscall.Kill(pid, 0) != nil, "still running"
			})
		}
		// A new agent with the same state directory takes the node back and
		// leaves nothing of the failed job running.
		restart(t, victim)
		waitNodes(t, c, 3, 30*time.Second)
		pid := pids[victim]
		eventually(t, 20*time.Second, fmt.Sprintf("the failed job's rank on %s (pid %d) to be gone", victim, pid), func() (bool, string) {
			return syscall.Kill(pid, 0) != nil, "still running"
		})
		var work []string
		for node := range agents {
			work = append(work, filepath.Join(stateDir(node), "work"))
		}
		if left := processesUnder(work...); len(left) > 0 {
			t.Errorf("rank processes left running:\n%s", strings.Join(left, "\n"))
		}
	})
}
