package server

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/lifecycle"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/state"
)

// instantAgents plays every node's agent against an in-process server:
// assigned ranks run at once, unassigned ones are gone at once, so the
// server sees the processes the simulator's MemStore assumes.
type instantAgents struct {
	e       *env
	running map[string][]api.Assignment
	exits   map[string][]api.RankReport
	down    map[string]bool
}

func (a *instantAgents) beat() {
	for _, n := range []string{"n0", "n1", "n2", "n3"} {
		if a.down[n] {
			continue
		}
		for range 2 {
			reps := running(a.running[n])
			reps = append(reps, a.exits[n]...)
			a.exits[n] = nil
			a.running[n] = a.e.heartbeat(n, "b"+n[1:], reps...)
		}
	}
}

type seen struct {
	A, B    string
	Attempt int
	Paths   []string
	Nodes   []string // where A's ranks run
}

func look(lc lifecycle.Job, b lifecycle.State) seen {
	s := seen{A: string(lc.State), B: string(b), Attempt: lc.Attempt, Nodes: lc.Nodes()}
	for _, h := range lc.History {
		s.Paths = append(s.Paths, string(h.Cause)+"→"+string(h.Path))
	}
	return s
}

// TestServerAndMemStoreAgree runs one event sequence — placement, a node
// lost, re-placement of the lost ranks only (graded recovery), a rank crash, an in-place restart, a cancel, success —
// through the server (in-process, fake clock, instant agents) and through
// state.MemStore (what the simulator runs), and wants the same job states
// after every step.
func TestServerAndMemStoreAgree(t *testing.T) {
	e := newEnv(t, "")
	for _, n := range []string{"n0", "n1", "n2", "n3"} {
		e.register(n, "b"+n[1:])
	}
	ag := &instantAgents{e: e, running: map[string][]api.Assignment{}, exits: map[string][]api.RankReport{}, down: map[string]bool{}}
	topo := testPool(t)
	mem := state.NewMemStore(topo, nil, 0)
	prof := plugins.DefaultProfile()
	rng := rand.New(rand.NewPCG(1, 2))
	submit := func(chips int) string {
		j := e.submit(chips)
		spec, err := DecodeJobSpec(quick(chips).JSON(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		sj := sched.FromSpec(j.ID, spec, j.SubmittedAt)
		if err := mem.Submit(sj); err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	cycle := func() {
		now := e.clock.Now()
		e.srv.Reconcile()
		e.srv.Cycle()
		ag.beat()
		mem.Tick(now)
		snap, _ := mem.Snapshot(now)
		plan, _ := sched.Schedule(snap, now, rng, prof)
		if err := mem.Apply(plan, now); err != nil {
			t.Fatal(err)
		}
	}
	a, b := submit(16), submit(24)
	var fromServer, fromMem []seen
	record := func() {
		e.srv.mu.Lock()
		fromServer = append(fromServer, look(e.srv.jobs[a].LC, e.srv.jobs[b].LC.State))
		e.srv.mu.Unlock()
		la, _ := mem.JobState(a)
		lb, _ := mem.JobState(b)
		fromMem = append(fromMem, look(la, lb.State))
	}
	advance := func(d time.Duration) {
		for step := time.Second; d > 0; d -= step {
			e.clock.Advance(step)
			ag.beat()
		}
	}

	cycle()
	record() // A running, B pending
	if _, err := e.c.CancelJob(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if err := mem.Event(b, lifecycle.Event{Kind: lifecycle.EvCancelled, At: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	// A's second node dies.
	e.srv.mu.Lock()
	lost := e.srv.jobs[a].Placement[15].Node
	e.srv.mu.Unlock()
	ag.down[lost] = true
	advance(11 * time.Second)
	e.srv.Reconcile()
	mem.NodeLost(lost, e.clock.Now())
	ag.beat()
	record() // A recovering, B cancelled
	advance(10 * time.Second)
	cycle()
	record() // A running again, attempt 1
	// Rank 0 crashes.
	e.srv.mu.Lock()
	n0 := e.srv.jobs[a].Placement[0].Node
	e.srv.mu.Unlock()
	three := 3
	ag.exits[n0] = []api.RankReport{{JobID: a, Attempt: 1, Rank: 0, State: api.RankExited, ExitCode: &three}}
	for i, as := range ag.running[n0] {
		if as.JobID == a && as.Rank == 0 {
			ag.running[n0] = append(ag.running[n0][:i:i], ag.running[n0][i+1:]...)
			break
		}
	}
	ag.beat()
	if err := mem.Event(a, lifecycle.Event{Kind: lifecycle.EvRankExited, At: e.clock.Now(), Rank: 0, ExitCode: &three}); err != nil {
		t.Fatal(err)
	}
	record() // A recovering in place
	advance(20 * time.Second)
	cycle()
	record() // A running, attempt 2
	// Every rank ends well.
	zero := 0
	for n, as := range ag.running {
		for _, x := range as {
			ag.exits[n] = append(ag.exits[n], api.RankReport{JobID: x.JobID, Attempt: x.Attempt, Rank: x.Rank, State: api.RankExited, ExitCode: &zero})
		}
		ag.running[n] = nil
	}
	ag.beat()
	if err := mem.Complete(a, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	record()

	want := []seen{
		{A: "running", B: "pending"},
		{A: "recovering", B: "cancelled", Paths: []string{"node-lost→re-place"}},
		{A: "running", B: "cancelled", Attempt: 1, Paths: []string{"node-lost→re-place"}},
		{A: "recovering", B: "cancelled", Attempt: 1, Paths: []string{"node-lost→re-place", "rank-failed→restart-in-place"}},
		{A: "running", B: "cancelled", Attempt: 2, Paths: []string{"node-lost→re-place", "rank-failed→restart-in-place"}},
		{A: "succeeded", B: "cancelled", Attempt: 2, Paths: []string{"node-lost→re-place", "rank-failed→restart-in-place"}},
	}
	// Graded recovery: the survivors kept their nodes, only the lost node's
	// ranks moved, in both.
	for r, n := range fromServer[2].Nodes {
		was := fromServer[0].Nodes[r]
		if was != lost && n != was || was == lost && n == lost {
			t.Errorf("after the re-placement rank %d runs on %s, before on %s (lost %s): want survivors in place, lost ranks moved", r, n, was, lost)
		}
	}
	if diff := cmp.Diff(want, fromServer, cmpopts.IgnoreFields(seen{}, "Nodes")); diff != "" {
		t.Errorf("server states (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(fromServer, fromMem); diff != "" {
		t.Errorf("MemStore states differ from the server's (-server +memstore):\n%s", diff)
	}
}
