// Package comm estimates how long collective communication takes on a
// hierarchical accelerator fabric, and orders a set of chips into ranks so
// that the ranks that talk most sit closest (MapRanks). It does not choose
// the chips: internal/place does.
//
// It is a pure model: no I/O, no clock, no randomness, no goroutines, and it
// imports no other Qun package. The topology placer (internal/place) calls it
// to map ranks and score candidate placements by modelled step time; the
// capacity planner (internal/planner) calls its collectives to price a
// training step. The simulator does not time steps with it. Formulas, units
// and sources are in docs/comm-model.md.
//
// # The fabric
//
// A Fabric is a tree of levels, root first (cluster, spine, leaf, node ...).
// Each Level gives the per-chip bandwidth and the hop latency of traffic that
// stays inside one of its domains, and how oversubscribed the links between
// its children are. Two chips talk over their lowest common level (see
// CommonLevel). The interface has two methods so that pool.Topology can
// implement it without this package importing pool:
//
//	type Fabric interface {
//		Levels() []Level
//		Domain(chip int32, lvl int) int32
//	}
//
// # Collectives
//
// Every primitive takes the fabric, a message size S in bytes and one or more
// groups of chips that run at the same time:
//
//	c := comm.AllReduce(f, 1<<30, chips)        // best of ring, tree, hierarchical
//	fmt.Println(c.Seconds, c.Algorithm, c.Level) // e.g. 0.0175 hierarchical 0
//
// RingAllReduce, TreeAllReduce and HierarchicalAllReduce expose each
// algorithm; ReduceScatter, AllGather, AllToAll and SendRecv complete the set.
// Groups passed together share the links they cross: a link leaving a domain
// offers each of the job's chips inside it its fair share of the parent
// level's (oversubscribed) bandwidth, split among the transfers using it.
//
// # Training steps
//
// A Plan gives the tensor, pipeline, data and expert sizes; Volumes the bytes
// each rank moves per step. Ranks are laid out in Megatron order (tensor
// fastest, then data, then pipeline). EstimateStep returns the step's
// communication time as a sum of Items, one per kind of collective, each
// naming the algorithm chosen and the outermost level crossed:
//
//	est := comm.EstimateStep(f, chips, comm.Plan{Tensor: 8, Data: 16}, vol)
//
// A scheduler scoring many candidates should keep one Estimator (per
// goroutine) and call its EstimateStep method, which reuses its buffers.
//
// # Rank mapping
//
// MapRanks reorders a set of chips so that tensor-parallel groups sit in the
// innermost domain that can hold them, expert groups and pipeline stages are
// packed the same way, and adjacent stages are neighbours in the tree. Its
// result depends only on the set of chips.
//
// # Caveats
//
//   - Communication never overlaps with compute or with other kinds of
//     collective: a step's time is the plain sum of its items. Real
//     frameworks overlap a great deal; treat the estimate as an upper bound
//     on exposed communication. (The planner applies its own overlap
//     fractions on top; see internal/planner.)
//   - Each volume is modelled as one collective of the whole size. A step
//     that issues many small collectives pays their latency many times.
//   - Uplink capacity is the job's fair share (its chips in the domain times
//     the per-chip share). A lone chip therefore never gets more than
//     B/oversubscription out of its domain, even when its neighbours are idle;
//     other tenants' traffic is not modelled.
//   - Trees reuse the hops of the topology-ordered ring to find their
//     bottleneck and contention. The hierarchical all-reduce of a group with
//     unequal members per domain is set by the member holding the largest
//     shard; shards are not re-balanced between phases, which is
//     conservative when a group is uneven at several levels.
//   - Chips should be distinct; a Fabric must not change while an Estimator
//     built on it is in use. An Estimator is not safe for concurrent use.
package comm
