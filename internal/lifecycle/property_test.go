package lifecycle_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/lifecycle"
)

// world drives lifecycle jobs the way the server does, with processes that
// start and stop after random delays, hosts that crash and come back and
// chips that turn unhealthy, so the invariants can be checked after every
// event.
type world struct {
	t      *testing.T
	rng    *rand.Rand
	now    time.Time
	hosts  int
	chips  int                  // per host
	owner  map[[2]int]int       // chip (host, index) → job holding it
	bad    map[[2]int]bool      // unhealthy chips
	down   map[int]bool         // crashed hosts
	jobs   []*lifecycle.Job     // by index
	ranks  []int                // ranks per job
	claims [][][2]int           // per job and rank: the chip held
	procs  map[procKey]*process // every process not yet dead
	// subsets counts subset re-placements asked for; wholeFallbacks those
	// the driver answered by placing the whole gang again.
	subsets, wholeFallbacks int
}

// noChip is the claim of a rank whose chip was given back while its job
// keeps the others' (a subset re-placement).
var noChip = [2]int{-1, -1}

type procKey struct{ job, attempt, rank int }

type process struct {
	chip     [2]int
	started  bool
	stopping bool
}

func host(i int) string { return fmt.Sprintf("h%d", i) }

func (w *world) step(i int, ev lifecycle.Event) {
	ev.At = w.now
	j := w.jobs[i]
	a, err := j.Apply(ev)
	if err != nil {
		return // refused events change nothing; the driver may offer nonsense
	}
	if a.Release {
		for _, c := range w.claims[i] {
			for k, p := range w.procs {
				if k.job == i && p.chip == c {
					w.t.Fatalf("job %d released chip %v while its process %v still runs (state %s)", i, c, k, j.State)
				}
			}
			delete(w.owner, c)
		}
		w.claims[i] = nil
	}
	for _, r := range a.ReleaseRanks {
		c := w.claims[i][r]
		for k, p := range w.procs {
			if k.job == i && p.chip == c {
				w.t.Fatalf("job %d released rank %d's chip %v while its process %v still runs", i, r, c, k)
			}
		}
		delete(w.owner, c)
		w.claims[i][r] = noChip
	}
	if a.Place != nil && !a.Place.Whole {
		w.subsets++
	}
	for _, r := range a.Stop {
		if p := w.procs[procKey{i, j.Attempt, r}]; p != nil {
			p.stopping = true
		}
	}
	if j.State != lifecycle.Starting && j.State != lifecycle.Running {
		// Not assigned any more: the agents stop whatever still runs.
		for k, p := range w.procs {
			if k.job == i {
				p.stopping = true
			}
		}
	}
	if a.Launch {
		for r, c := range w.claims[i] {
			w.procs[procKey{i, j.Attempt, r}] = &process{chip: c}
			w.step(i, lifecycle.Event{Kind: lifecycle.EvRankAssigned, Rank: r})
		}
	}
}

// free returns up to n free healthy chips on live hosts.
func (w *world) free(n int) [][2]int {
	var got [][2]int
	for h := 0; h < w.hosts && len(got) < n; h++ {
		for c := 0; c < w.chips && len(got) < n; c++ {
			chip := [2]int{h, c}
			if _, taken := w.owner[chip]; !taken && !w.down[h] && !w.bad[chip] {
				got = append(got, chip)
			}
		}
	}
	return got
}

// place gives schedulable jobs free healthy chips on live hosts: a job that
// keeps its survivors' chips gets chips for its lost ranks only, or (as a
// scheduler does when no room is left near the survivors, here at random)
// gives the kept chips back and is placed whole.
func (w *world) place() {
	for i, j := range w.jobs {
		if !j.Schedulable() {
			continue
		}
		if kept := w.claims[i]; kept != nil {
			var lost []int
			for r, c := range kept {
				if c == noChip {
					lost = append(lost, r)
				}
			}
			got := w.free(len(lost))
			if len(got) == len(lost) && w.rng.IntN(4) > 0 {
				for x, r := range lost {
					kept[r] = got[x]
				}
				w.claim(i, kept)
				continue
			}
			for _, c := range kept {
				if c != noChip {
					delete(w.owner, c)
				}
			}
			if got := w.free(w.ranks[i]); len(got) == w.ranks[i] {
				w.wholeFallbacks++
				w.claim(i, got)
				continue
			}
			for _, c := range kept {
				if c != noChip {
					w.owner[c] = i
				}
			}
			continue
		}
		got := w.free(w.ranks[i])
		if len(got) < w.ranks[i] {
			continue
		}
		w.claim(i, got)
	}
}

// claim gives job i the chips got (one per rank) and tells its lifecycle.
func (w *world) claim(i int, got [][2]int) {
	{
		nodes := make([]string, len(got))
		for r, c := range got {
			if o, taken := w.owner[c]; taken && (o != i || !slices.Contains(w.claims[i], c)) {
				w.t.Fatalf("chip %v given to job %d is held by job %d", c, i, o)
			}
			w.owner[c] = i
			nodes[r] = host(c[0])
		}
		w.claims[i] = got
		w.step(i, lifecycle.Event{Kind: lifecycle.EvPlaced, Nodes: nodes})
	}
}

// check verifies the invariants.
func (w *world) check() {
	attempts := map[int]int{}
	for k, p := range w.procs {
		if o, ok := w.owner[p.chip]; !ok || o != k.job {
			w.t.Fatalf("process %v runs on chip %v, which job %d does not hold (owner %d, held %v)", k, p.chip, k.job, o, ok)
		}
		if a, ok := attempts[k.job]; ok && a != k.attempt {
			w.t.Fatalf("job %d has live processes of attempts %d and %d", k.job, a, k.attempt)
		}
		attempts[k.job] = k.attempt
	}
	for i, j := range w.jobs {
		if j.Restarts > j.Policy.Max() {
			w.t.Fatalf("job %d restarted %d times; its policy allows %d", i, j.Restarts, j.Policy.Max())
		}
		recoveries := 0
		for _, h := range j.History {
			if h.Path == lifecycle.InPlace || h.Path == lifecycle.Replace {
				recoveries++
			}
		}
		if recoveries != j.Restarts {
			w.t.Fatalf("job %d: %d recoveries in its history, %d restarts counted", i, recoveries, j.Restarts)
		}
	}
}

// processes moves the processes on: some start, some stopping ones die.
func (w *world) processes(all bool) {
	keys := make([]procKey, 0, len(w.procs))
	for k := range w.procs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, cmpKey)
	for _, k := range keys {
		p := w.procs[k]
		if p == nil || !all && w.rng.IntN(2) == 0 {
			continue
		}
		switch {
		case p.stopping:
			delete(w.procs, k)
			if w.rng.IntN(2) == 0 {
				w.step(k.job, lifecycle.Event{Kind: lifecycle.EvRankGone, Rank: k.rank})
			} else {
				w.step(k.job, lifecycle.Event{Kind: lifecycle.EvRankExited, Rank: k.rank, Signal: "SIGTERM"})
			}
		case !p.started:
			p.started = true
			w.step(k.job, lifecycle.Event{Kind: lifecycle.EvRankStarted, Rank: k.rank})
		}
	}
}

func cmpKey(a, b procKey) int {
	switch {
	case a.job != b.job:
		return a.job - b.job
	case a.attempt != b.attempt:
		return a.attempt - b.attempt
	}
	return a.rank - b.rank
}

func (w *world) tick() {
	for i := range w.jobs {
		w.step(i, lifecycle.Event{Kind: lifecycle.EvTick})
	}
}

// TestRandomFaults: under random sequences of node losses, unhealthy chips,
// rank exits, cancels and preemptions, no chip is held by two jobs or runs a
// process of a job that released it, no job has live processes of two
// attempts, restarts stay within the policy, and once the faults stop every
// job ends in a terminal state.
func TestRandomFaults(t *testing.T) {
	paths := map[lifecycle.Path]int{}
	ends := map[lifecycle.State]int{}
	subsets, wholes := 0, 0
	for seed := range uint64(300) {
		w := &world{t: t, rng: rand.New(rand.NewPCG(seed, 7)), now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			hosts: 4, chips: 4, owner: map[[2]int]int{}, bad: map[[2]int]bool{}, down: map[int]bool{}, procs: map[procKey]*process{}}
		nj := 2 + w.rng.IntN(5)
		for range nj {
			max := w.rng.IntN(4)
			p := job.RestartPolicy{MaxRestarts: &max, Backoff: job.Duration(time.Duration(1+w.rng.IntN(5)) * time.Second)}
			if w.rng.IntN(3) == 0 {
				p.On = []job.Cause{job.CauseRankFailed, job.CauseRankSignaled}
			}
			j := lifecycle.New(p)
			w.jobs = append(w.jobs, &j)
			w.ranks = append(w.ranks, 1+w.rng.IntN(6))
			w.claims = append(w.claims, nil)
		}
		for range 200 {
			w.now = w.now.Add(time.Duration(w.rng.IntN(3)) * time.Second)
			i := w.rng.IntN(nj)
			switch w.rng.IntN(10) {
			case 0: // a host crashes: its processes die unreported
				h := w.rng.IntN(w.hosts)
				w.down[h] = true
				for k, p := range w.procs {
					if p.chip[0] == h {
						delete(w.procs, k)
					}
				}
				for x := range w.jobs {
					w.step(x, lifecycle.Event{Kind: lifecycle.EvNodeLost, Node: host(h)})
				}
			case 1: // a host comes back
				delete(w.down, w.rng.IntN(w.hosts))
			case 2: // a chip turns unhealthy (and, sometimes, a healthy one recovers)
				c := [2]int{w.rng.IntN(w.hosts), w.rng.IntN(w.chips)}
				w.bad[c] = true
				if o, ok := w.owner[c]; ok {
					r := slices.Index(w.claims[o], c)
					w.step(o, lifecycle.Event{Kind: lifecycle.EvDeviceUnhealthy, Node: host(c[0]), Ranks: []int{r}})
				}
				if w.rng.IntN(2) == 0 {
					for k := range w.bad {
						delete(w.bad, k)
						break
					}
				}
			case 3: // a rank exits on its own
				for k, p := range w.procs {
					if k.job == i && p.started && !p.stopping {
						delete(w.procs, k)
						code := []int{0, 1, 137}[w.rng.IntN(3)]
						ev := lifecycle.Event{Kind: lifecycle.EvRankExited, Rank: k.rank, ExitCode: &code}
						if w.rng.IntN(4) == 0 {
							ev.ExitCode, ev.Signal = nil, "SIGKILL"
						}
						w.step(i, ev)
						break
					}
				}
			case 4:
				if w.rng.IntN(3) == 0 {
					w.step(i, lifecycle.Event{Kind: lifecycle.EvCancelled})
				}
			case 5:
				w.step(i, lifecycle.Event{Kind: lifecycle.EvPreempted, EvictAt: w.now.Add(time.Duration(w.rng.IntN(5)) * time.Second), Detail: "preempted"})
			case 6:
				w.tick()
			default:
				w.place()
				w.processes(false)
			}
			w.check()
		}
		// The faults stop: every host and chip is healthy again, and every
		// rank that runs ends well.
		clear(w.down)
		clear(w.bad)
		for round := 0; round < 100; round++ {
			w.now = w.now.Add(time.Minute)
			w.tick()
			w.place()
			w.processes(true)
			w.processes(true)
			for k, p := range w.procs {
				if p.started && !p.stopping {
					delete(w.procs, k)
					zero := 0
					w.step(k.job, lifecycle.Event{Kind: lifecycle.EvRankExited, Rank: k.rank, ExitCode: &zero})
				}
			}
			w.check()
		}
		subsets += w.subsets
		wholes += w.wholeFallbacks
		for i, j := range w.jobs {
			if !j.State.Terminal() {
				t.Fatalf("seed %d: job %d is %s (%s) after the faults stopped", seed, i, j.State, j.Reason)
			}
			ends[j.State]++
			for _, h := range j.History {
				paths[h.Path]++
			}
		}
	}
	// The sequences must reach every path and end, or the test proves
	// little.
	t.Logf("recovery paths %v, end states %v, subset re-placements %d, whole fallbacks %d", paths, ends, subsets, wholes)
	if subsets < 10 || wholes < 10 {
		t.Errorf("only %d subset re-placements and %d whole fallbacks", subsets, wholes)
	}
	for _, p := range []lifecycle.Path{lifecycle.InPlace, lifecycle.Replace, lifecycle.GiveUp, lifecycle.Requeue} {
		if paths[p] < 10 {
			t.Errorf("only %d recoveries took path %s", paths[p], p)
		}
	}
	for _, s := range []lifecycle.State{lifecycle.Succeeded, lifecycle.Failed, lifecycle.Cancelled} {
		if ends[s] < 10 {
			t.Errorf("only %d jobs ended %s", ends[s], s)
		}
	}
}
