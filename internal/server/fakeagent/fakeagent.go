// Package fakeagent is a minimal node agent that speaks the v1 API and runs
// nothing: it reports every assigned rank running at once and, when told
// to, exited after a while. The server's crash test and `qun bench api` use
// it as "what agents are running"; the real agent is internal/agent.
//
// # Caveats
//
// It launches no processes and writes no logs; a rank's "process" is an
// entry in a map.
package fakeagent

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/qunhq/qun/api"
)

// Key names one rank of one attempt of a job.
type Key struct {
	JobID   string
	Attempt int
	Rank    int
}

// Agent is one fake node agent. Set the fields, then call Run.
type Agent struct {
	Client   *api.Client
	Name     string
	BootID   string
	Interval time.Duration // between heartbeats; default 20ms
	// RunFor, when set, says how long a newly started rank runs before it
	// exits 0; nil runs ranks until they are no longer assigned.
	RunFor func(Key) time.Duration
	// ExitCode, when set, is the code a rank that ran its RunFor exits
	// with; nil exits 0.
	ExitCode func(Key) int
	// Check, when set, is called with every heartbeat answer; a non-nil
	// error is recorded (see Errors).
	Check func(name string, as []api.Assignment) error
	// Fence, when set, refuses answers of deposed HA leaders as the real
	// agent does (their epoch is older than the newest seen).
	Fence interface{ Admit(epoch int64) error }

	mu      sync.Mutex
	running map[Key]rank
	exited  []api.RankReport // not yet acknowledged by the server
	seen    map[Key]bool     // every rank ever started
	errs    []error
	paused  bool
}

type rank struct {
	a   api.Assignment
	end time.Time // zero: runs until unassigned
}

// Errors returns what Check reported.
func (a *Agent) Errors() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.errs...)
}

// Seen returns every rank the agent ever ran.
func (a *Agent) Seen() []Key {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Key, 0, len(a.seen))
	for k := range a.seen {
		out = append(out, k)
	}
	return out
}

// Running returns the ranks running now with their devices.
func (a *Agent) Running() map[Key][]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[Key][]int{}
	for k, r := range a.running {
		out[k] = r.a.Devices
	}
	return out
}

// Pause stops (or resumes) the heartbeat loop; Beat still works.
func (a *Agent) Pause(p bool) {
	a.mu.Lock()
	a.paused = p
	a.mu.Unlock()
}

// Run registers and heartbeats until ctx is done. Errors from the server
// (it may be restarting) are retried.
func (a *Agent) Run(ctx context.Context) {
	if a.Interval <= 0 {
		a.Interval = 20 * time.Millisecond
	}
	a.mu.Lock()
	if a.running == nil {
		a.running, a.seen = map[Key]rank{}, map[Key]bool{}
	}
	a.mu.Unlock()
	registered := false
	t := time.NewTicker(a.Interval)
	defer t.Stop()
	for {
		a.mu.Lock()
		paused := a.paused
		a.mu.Unlock()
		if !paused {
			if !registered {
				_, err := a.Client.RegisterNode(ctx, api.RegisterRequest{Name: a.Name, BootID: a.BootID, Address: "127.0.0.1"})
				registered = err == nil
			}
			if registered {
				if err := a.Beat(ctx); err != nil {
					switch api.ErrorCode(err) {
					case api.CodeNotFound, api.CodeConflict, api.CodeGone:
						registered = false
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Beat sends one heartbeat and applies its answer.
func (a *Agent) Beat(ctx context.Context) error {
	a.mu.Lock()
	if a.running == nil {
		a.running, a.seen = map[Key]rank{}, map[Key]bool{}
	}
	now := time.Now()
	for k, r := range a.running {
		if !r.end.IsZero() && !now.Before(r.end) {
			code := 0
			if a.ExitCode != nil {
				code = a.ExitCode(k)
			}
			a.exited = append(a.exited, api.RankReport{JobID: k.JobID, Attempt: k.Attempt, Rank: k.Rank, State: api.RankExited, ExitCode: &code})
			delete(a.running, k)
		}
	}
	req := api.HeartbeatRequest{BootID: a.BootID, Ranks: append([]api.RankReport{}, a.exited...)}
	for k := range a.running {
		req.Ranks = append(req.Ranks, api.RankReport{JobID: k.JobID, Attempt: k.Attempt, Rank: k.Rank, State: api.RankRunning, PID: 1000 + k.Rank})
	}
	sent := len(a.exited)
	a.mu.Unlock()

	resp, err := a.Client.Heartbeat(ctx, a.Name, req)
	if err != nil {
		return err
	}
	if a.Fence != nil {
		if err := a.Fence.Admit(resp.Epoch); err != nil {
			return err
		}
	}

	a.mu.Lock()
	defer a.mu.Unlock()
	a.exited = a.exited[sent:]
	if a.Check != nil {
		if err := a.Check(a.Name, resp.Assignments); err != nil {
			a.errs = append(a.errs, err)
		}
	}
	listed := map[Key]bool{}
	for _, as := range resp.Assignments {
		k := Key{as.JobID, as.Attempt, as.Rank}
		listed[k] = true
		if _, ok := a.running[k]; ok {
			continue
		}
		if slices.ContainsFunc(a.exited, func(r api.RankReport) bool { return Key{r.JobID, r.Attempt, r.Rank} == k }) {
			continue // exited; the server has not heard yet
		}
		r := rank{a: as}
		if a.RunFor != nil {
			r.end = time.Now().Add(a.RunFor(k))
		}
		a.running[k] = r
		a.seen[k] = true
	}
	for k := range a.running {
		if !listed[k] {
			delete(a.running, k) // stopped
		}
	}
	return nil
}

// DisjointDevices is a Check: no two assigned ranks share a device.
func DisjointDevices(name string, as []api.Assignment) error {
	used := map[int]Key{}
	for _, a := range as {
		for _, d := range a.Devices {
			k := Key{a.JobID, a.Attempt, a.Rank}
			if o, ok := used[d]; ok {
				return fmt.Errorf("node %s: device %d assigned to %v and %v", name, d, o, k)
			}
			used[d] = k
		}
	}
	return nil
}
