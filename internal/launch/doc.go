// Package launch turns a placement into what the ranks of a job receive:
// a rank table of workers (one per chip, in rank order), the HCCL rank
// table hccl.json for Ascend chips, and a torchrun-style environment for
// every worker.
//
// A placement's claims are the scheduler's ranks (one process group per
// claim, launched by the agent); each chip of a claim is one worker, so a
// claim of 8 chips is a group of 8 workers whose LOCAL_RANK indexes the
// group's visible devices. Global ranks follow the order of the claims and
// their grants, which is the order the Place plugin mapped the job's
// parallel groups to.
//
//	tb, err := launch.NewTable(topo, placement)
//	addr := launch.Placeholder(topo)          // or the agent's discovered addresses
//	rt, err := launch.HCCL(tb, addr)          // Ascend only
//	os.WriteFile("hccl.json", rt.JSON(), 0o644)
//	envs := launch.Env(tb, addr, launch.EnvOptions{RankTableFile: "/etc/qun/hccl.json"})
//
// # Addresses
//
// Pool files carry no IP addresses. Placeholder derives deterministic ones
// from the topology (hosts in 10.0.0.0/8 by host index, devices in
// 100.64.0.0/10 by chip ID); an agent that knows the real host and device
// NIC addresses passes its own Addressing.
//
// # Caveats
//
//   - Supernode fields (hccl.json version 1.2) are emitted when a level above
//     the hosts is named super* (supernode, superpod); the super pod id is
//     the supernode's index in the pool, not a hardware id.
//   - Shared-chip ranks get one worker each and the chip as their only
//     visible device; they cannot appear in an HCCL rank table.
package launch
