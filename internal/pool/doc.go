// Package pool models an accelerator pool: the chip catalog, the topology
// tree from chip to cluster, per-domain shape rules and power budgets, and the
// allocation state with aggregates kept exact under every allocate and free.
//
// # The tree
//
// A pool is a tree of domains. Every domain belongs to a named level (for
// example cluster, supernode, rack, node, ring); levels are ordered from the
// root down and each carries the per-chip bandwidth and latency of traffic
// that stays inside one of its domains. Exactly one level is the host level:
// its domains are the machines an agent runs on, with CPU and memory, and every
// chip sits at or below one host. Chips are the leaves and are numbered in
// depth-first order, so every domain owns a contiguous range of chip IDs.
//
// # Allocation state
//
// The immutable shape of a pool (its Topology) is shared; its mutable
// allocation State is separate, so a snapshot is a cheap copy of a few flat
// arrays. Allocating or freeing chips (whole, or in thousandths of a chip)
// updates the aggregates of the affected domains only: free chips per kind,
// free thousandths, fully free children, the largest fully free subtree,
// committed power, free CPU and memory. The cost grows with the depth of the
// tree and the size of the request, never with the size of the pool.
//
// # Shape rules
//
// A level may restrict how one rank's chips sit inside its domains: allowed
// counts (1, 2, 4 or 8 on an Ascend 910 node), and alignment (a rank of at most
// one domain's size sits inside one domain; a multiple of that size takes whole
// domains), which expresses both the 910 "at most 4 inside one HCCS ring" rule
// and the Atlas A3 "even counts take whole 2-chip modules" rule.
//
// # Caveats
//
// State is not safe for concurrent use; callers serialise writers and hand
// readers a Clone.
package pool
