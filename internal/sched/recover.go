package sched

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qunhq/qun/internal/pool"
)

// This file is graded recovery in the cycle: a job that lost some ranks to
// a fault (Job.Recover) has them placed next to the ranks that kept their
// chips, on spare hosts first; when the domain cannot hold them, the whole
// gang is placed again. Spare hosts (pool.Topology.Spares) are fenced off
// for every other job.

// Replacer is implemented by Place plugins that can place the lost ranks of
// a recovering gang next to its survivors (the topology plugin). st holds
// the survivors' claims and has the spare hosts free; the placement
// returned holds every rank, the survivors' claims unchanged. It must not
// change st.
type Replacer interface {
	Plugin
	Replace(cs *CycleState, j *Job, st *pool.State) (*pool.Placement, *Status)
}

// fenceSpares takes the free capacity of every ready spare host in c.st, so
// no ordinary job lands there.
func (c *cycle) fenceSpares() {
	c.spare = c.fenceSparesIn(c.st)
}

// fenceSparesIn takes what is free on the ready spare hosts of st and
// returns the claims that do: after a state released running jobs (a
// preemption's trial, reservations), chips freed on a spare stay off limits.
func (c *cycle) fenceSparesIn(st *pool.State) []pool.Claim {
	var out []pool.Claim
	for _, h := range c.t.Spares() {
		if !c.cs.HostReady(h) || slices.Contains(c.snap.Cordoned, h) || st.FreeChips(h) == 0 && st.FreeCPU(h) == 0 && st.FreeMemory(h) == 0 {
			continue // fenced already, or nothing to fence
		}
		if cl, ok := fenceHost(st, h); ok {
			out = append(out, cl)
		}
	}
	return out
}

// recover places a recovering job: its lost ranks next to its survivors
// (through the Place plugin's Replacer), or else its whole gang. A
// recovering job was admitted when it first ran and is not admitted again;
// its queue is charged for the whole gang, spares included. When neither
// fits it waits, holding its survivors' chips, and is retried every cycle.
func (c *cycle) recover(j *Job) {
	held := j.Recover.Held()
	st := c.st.Clone()
	if err := st.Release(c.spare...); err != nil {
		panic("sched: releasing the spare fences: " + err.Error()) // taken in this cycle
	}
	var why []string
	if r, ok := c.prof.Place.(Replacer); ok {
		p, s := r.Replace(c.cs, j, st)
		if p != nil {
			c.startRecovered(j, p, held, ReasonReplaceSubset, fmt.Sprintf("ranks %v placed next to the survivors", j.Recover.Lost))
			return
		}
		if s != nil {
			why = append(why, s.Reason+": "+s.Detail)
		}
	} else {
		why = append(why, fmt.Sprintf("place plugin %s cannot re-place a subset", c.prof.Place.Name()))
	}
	if err := st.Release(held...); err != nil {
		panic("sched: releasing a recovering job's claims: " + err.Error()) // the snapshot holds them
	}
	p, s := c.prof.Place.Place(c.cs, j, st)
	if p != nil {
		c.startRecovered(j, p, held, ReasonReplaceWhole, "the whole gang placed again ("+strings.Join(why, "; ")+")")
		return
	}
	c.explainStatus(j.ID, s)
	c.explain(j.ID, Record{Plugin: PluginRecovery, Reason: ReasonRecoveryWait,
		Detail: "neither the lost ranks next to the survivors nor the whole gang fit now (" + strings.Join(why, "; ") + ")"})
}

// startRecovered commits a recovering job's placement p to the cycle's
// state in place of the claims it held, and records the start.
func (c *cycle) startRecovered(j *Job, p *pool.Placement, held []pool.Claim, reason, detail string) {
	_ = c.st.Release(c.spare...)
	c.spare = c.spare[:0]
	if err := c.st.Release(held...); err != nil {
		panic("sched: releasing a recovering job's claims: " + err.Error())
	}
	if err := c.st.Allocate(p.Ranks...); err != nil {
		if rerr := c.st.Allocate(held...); rerr != nil {
			panic("sched: restoring a recovering job's claims: " + rerr.Error())
		}
		c.fenceSpares()
		c.explain(j.ID, Record{Plugin: c.prof.Place.Name(), Reason: ReasonBadPlacement, Detail: err.Error()})
		return
	}
	c.fenceSpares()
	if c.fenced != nil {
		c.refence()
	}
	c.q.Charge(j, p, +1)
	c.order.changed(j.Queue)
	c.running = append(c.running, runJob{j: j, p: p, end: c.endOf(j), fresh: true})
	c.plan.Start = append(c.plan.Start, Assignment{JobID: j.ID, Placement: *p, Held: held})
	c.explain(j.ID, Record{Plugin: PluginRecovery, Reason: reason, Detail: detail})
	c.explainPlaced(j, p)
}
