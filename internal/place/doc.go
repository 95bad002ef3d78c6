// Package place is Qun's topology-aware gang placement, a library like
// internal/comm: it chooses chips for every rank of a gang (a Request) from
// a model of the gang's communication, the pool's aggregates and the
// queue's sizes, and says why (a Decision). It imports no scheduler
// package; internal/sched/plugins/topology.go adapts it to sched.Place
// ("topology"), passing the profile's host filters as Env.HostOK.
//
// # How a gang is placed
//
// For every chip kind the job accepts (never mixing collective families in
// one gang unless the job allows it), Decide
//
//  1. searches the tree from the root for the domains that can hold the gang,
//     entering only children whose aggregates (free chips of the kind, power
//     headroom, free CPU and memory) show room, tightest first: the first
//     domains recorded at each level are the smallest, most used subtrees
//     that fit. The walk stops at the host level after a few domains or a
//     fixed budget of visits, so it never scans every node;
//  2. takes the gang's chips inside a bounded number of those candidates,
//     innermost first: whole tensor groups per host first, then single
//     ranks, spanning as few children as possible at every level, with
//     pool.State.SelectChips where shape rules apply (shape rules are hard
//     constraints); where no child holds the rest, an even split over the
//     fewest children that can each hold an equal share is scored too, and
//     where the children hold hosts a split with as large a smallest piece
//     as they allow, once more with tensor groups spanning the hosts of a
//     rack when the rack is as fast per chip as a host; each is kept when
//     it scores strictly better;
//  3. maps ranks with comm.MapRanks (tensor groups in the fastest domain,
//     pipeline neighbours close, data groups over as few domains as
//     possible) and models one step with comm.Estimator;
//  4. scores each candidate as modelled time / lower bound + λ ×
//     fragmentation, where the lower bound is the same gang in the best
//     domain of an empty pool, and fragmentation weighs the free blocks the
//     gang breaks by how much of the queue wants blocks that size, plus how
//     loosely it fits its domain (partly used domains are preferred).
//
// Across kinds it estimates the completion time (compute from the kind's
// throughput and the job's size, plus modelled communication, times the
// steps, plus the expected wait for a kind that is full) and keeps the
// earliest finish, even when that means waiting.
//
//	pl := place.New(place.Options{})
//	d := pl.Decide(&place.Request{ID: "train", Ranks: 32, RankMilli: 1000}, state, place.Env{Now: now})
//	if d.Placed {
//		fmt.Println(d.Kind, d.Domain, d.Step.Seconds, d.LowerBound.Seconds)
//	}
//
// The Decision carries everything an explanation needs: per-kind estimates,
// every evaluated candidate with its score and why it lost, and counts of
// domains not evaluated, and Records summarises it as explanation lines.
// Every reason is a kebab-case constant (Reasons lists them) with the
// numbers in Detail.
//
// # First fit
//
// FirstFit is the tree's one first fit, with no model: over the whole pool
// in topology order (ScopePool, the baseline of `qun bench place`, whose
// harness is internal/bench), or in the smallest domain that holds the gang
// (ScopeSmallest, the scheduler's "firstfit" plugin and its feasibility
// checks). Decide places every gang FirstFit can (the property tests here
// and in internal/sched/plugins check it). Formulas, defaults and the
// measured figures are in docs/placement.md.
//
// # Subset re-placement
//
// After a fault, DecideSubset places only the lost ranks of a running gang,
// with the survivors' claims pinned: inside the smallest domain that held
// the gang, spare hosts first, then by the modelled step of the whole gang.
// It fails (ReasonNoRoomNear) when that domain cannot hold them, and the
// caller places the whole gang with Decide. It handles whole-chip gangs of
// one kind only, one rank at a time (greedy, not a joint search). Hosts
// the comm model cannot tell apart (the same rack and free chips, or
// domains holding as many of the gang's chips) are scored once per class.
//
// # Caveats
//
//   - The search is a bounded heuristic: it evaluates at most 12 candidates
//     per kind (fewer for large gangs), so a better domain outside the
//     first few tight ones at each level can be missed.
//   - The lower bound is the same heuristic run on an empty pool, not a
//     proven optimum; a placement can score slightly below it.
//   - Ranks that share chips, and CPU-only ranks, are packed into the
//     smallest domain that holds them without a communication model.
//   - Volumes default to a dense-transformer model of the plan when the job
//     gives none (DefaultVolumes); compute time uses a fixed MFU.
//   - A Placer caches per topology (fabric, empty state, lower bounds) for
//     its lifetime; topologies are immutable, so the cache never goes stale,
//     but it grows with the number of distinct topologies and gang shapes.
package place
