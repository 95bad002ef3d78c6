package state

import (
	"fmt"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// PlanJobs is how the plan verifier sees a store's jobs.
type PlanJobs interface {
	// Pending returns the job if it exists and waits for a placement.
	Pending(id string) (*sched.Job, bool)
	// Placed returns the job if it holds a placement (running, or stopping
	// within a grace period).
	Placed(id string) (*sched.Job, bool)
}

// ApplyOptions are the differences between the stores that share the one
// plan verifier.
type ApplyOptions struct {
	// ReleaseEvicted frees the chips of victims evicted without grace as
	// part of the plan, so the plan's starts may use them (the simulator,
	// whose victims stop instantly). A server leaves them held until the
	// victims' processes have really stopped.
	ReleaseEvicted bool
	// HostReady, when set, rejects starts on hosts that cannot run ranks now
	// (a server: no ready agent).
	HostReady func(pool.DomainID) error
}

// ApplyToPool is the one verifier of "optimistic plans, one verifier", used
// by MemStore and by the server. It checks the plan against the newest state: every job it
// evicts is placed and named once, every job it starts is pending and named
// once, every placement gives each rank exactly the chips, CPU and memory its
// job asks for on a ready host, and every job it reserves for is pending.
// Then it releases what the evictions free (with ReleaseEvicted) and
// allocates every start on st, all or nothing. On any failure it returns an
// error wrapping ErrConflict and st is unchanged; the caller then changes none
// of its own records either.
func ApplyToPool(st *pool.State, plan *sched.Plan, jobs PlanJobs, opt ApplyOptions) error {
	seen := map[string]bool{}
	var free []pool.Claim
	for _, ev := range plan.Evict {
		j, ok := jobs.Placed(ev.JobID)
		if !ok || j.Placement == nil {
			return fmt.Errorf("%w: evict %s: not placed", ErrConflict, ev.JobID)
		}
		if seen[ev.JobID] {
			return fmt.Errorf("%w: %s evicted twice", ErrConflict, ev.JobID)
		}
		seen[ev.JobID] = true
		if opt.ReleaseEvicted && ev.Grace <= 0 {
			free = append(free, j.Placement.Ranks...)
		}
	}
	var take []pool.Claim
	for _, a := range plan.Start {
		j, ok := jobs.Pending(a.JobID)
		if !ok || seen[a.JobID] {
			return fmt.Errorf("%w: start %s: not pending", ErrConflict, a.JobID)
		}
		if err := checkHeld(j, a.Held); err != nil {
			return fmt.Errorf("%w: start %s: %v", ErrConflict, a.JobID, err)
		}
		free = append(free, a.Held...)
		seen[a.JobID] = true
		if err := checkPlacement(j, &a.Placement); err != nil {
			return fmt.Errorf("%w: start %s: %v", ErrConflict, a.JobID, err)
		}
		if opt.HostReady != nil {
			for r, c := range a.Placement.Ranks {
				if err := opt.HostReady(c.Host); err != nil {
					return fmt.Errorf("%w: start %s: rank %d: %v", ErrConflict, a.JobID, r, err)
				}
			}
		}
		take = append(take, a.Placement.Ranks...)
	}
	for _, r := range plan.Reservations {
		if _, ok := jobs.Pending(r.JobID); !ok && !seen[r.JobID] {
			return fmt.Errorf("%w: reserve %s: not pending", ErrConflict, r.JobID)
		}
	}
	if len(free) > 0 {
		if err := st.Release(free...); err != nil {
			return fmt.Errorf("%w: %v", ErrConflict, err)
		}
	}
	if err := st.Allocate(take...); err != nil {
		if len(free) > 0 {
			if rerr := st.Allocate(free...); rerr != nil {
				panic(fmt.Sprintf("state: rollback of evictions failed: %v", rerr))
			}
		}
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return nil
}

// checkHeld checks that held are exactly the claims a recovering job's
// survivors hold now (none for any other job).
func checkHeld(j *sched.Job, held []pool.Claim) error {
	var want []pool.Claim
	if j.Recover != nil {
		want = j.Recover.Held()
	}
	if len(held) != len(want) {
		return fmt.Errorf("the plan replaces %d held claims; the job holds %d", len(held), len(want))
	}
	for i := range held {
		if !sameClaim(held[i], want[i]) {
			return fmt.Errorf("held claim %d on host %d is not the job's", i, held[i].Host)
		}
	}
	return nil
}

func sameClaim(a, b pool.Claim) bool {
	if a.Host != b.Host || a.CPUMilli != b.CPUMilli || a.MemoryMiB != b.MemoryMiB || len(a.Grants) != len(b.Grants) {
		return false
	}
	for i := range a.Grants {
		if a.Grants[i] != b.Grants[i] {
			return false
		}
	}
	return true
}

// checkPlacement checks that p gives every rank of j what it asks for.
func checkPlacement(j *sched.Job, p *pool.Placement) error {
	if len(p.Ranks) != j.Ranks {
		return fmt.Errorf("%d claims for %d ranks", len(p.Ranks), j.Ranks)
	}
	for i, c := range p.Ranks {
		var milli int64
		for _, g := range c.Grants {
			milli += int64(g.Milli)
		}
		if milli != int64(j.RankMilli) || c.CPUMilli != j.CPUMilli || c.MemoryMiB != j.MemoryMiB {
			return fmt.Errorf("rank %d gets %d chip thousandths, %d CPU thousandths and %d MiB; the job asks %d, %d and %d",
				i, milli, c.CPUMilli, c.MemoryMiB, j.RankMilli, j.CPUMilli, j.MemoryMiB)
		}
	}
	return nil
}
