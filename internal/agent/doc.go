// Package agent is Qun's node agent: it registers its node with the server,
// heartbeats, and runs the ranks the server assigns to the node as real
// processes.
//
// # Using it
//
//	discs, err := agent.ParseDevices([]string{"fake:910B:8"})
//	a, err := agent.New(agent.Config{
//		Name: "node0", Address: "10.0.0.11", StateDir: "/var/lib/qun/agent",
//		Devices: discs, Server: agent.ClientServer{C: client},
//		Shim: []string{"/usr/bin/qun", "agent", "rank-shim"},
//	})
//	err = a.Run(ctx) // until ctx is done; then every rank is stopped
//
// Run discovers the devices, registers (name, boot ID, address, devices),
// and then loops: one heartbeat reports every rank, the answer lists every
// rank the node should run, and the agent reconciles. The loop sleeps for
// the interval the server names, or less when a rank exits, so the server
// hears of an exit at once.
//
// # Ranks
//
// A rank is keyed by (job, attempt, rank). Each runs in its own directory,
// WorkDir/JOB/ATTEMPT/RANK, which holds the assignment's Files, the captured
// stdout.log and stderr.log, and exit-status.json. The agent starts the rank
// shim (RunShim; `qun agent rank-shim`) as the leader of a new process group;
// the shim starts the rank's command in that group, waits, and writes the
// exit status. The environment is the agent's own minus variables that name
// another rank (RANK, MASTER_ADDR, *_VISIBLE_DEVICES …) and QUN_*, plus
// QUN_JOB_ID, QUN_ATTEMPT, QUN_RANK, QUN_NODE, QUN_NODE_ADDRESS,
// QUN_RANK_DIR, QUN_DEVICES and QUN_CHECKPOINT_DIR (the assignment's
// CheckpointDir, else WorkDir/JOB/checkpoint, shared by attempts), then the
// assignment's Env, which wins. The working directory is the assignment's
// Workdir (relative to the rank directory), else the rank directory.
//
// Output is shipped to the server (POST /v1/jobs/ID/logs) every LogInterval
// and once more when the rank exits, before the exit is reported; so when
// the server sees a rank exit, its log is complete.
//
// # Reconciling
//
//   - A listed rank the agent has never run is started, once: a rank that
//     exited is never started again while it stays listed. A new attempt of
//     a job waits until the node's ranks of older attempts have exited.
//   - A running rank that is not listed is stopped: SIGTERM to its process
//     group, SIGKILL after its Grace (DefaultGrace when the assignment gives
//     none).
//   - Acknowledgement: an exited rank is reported (state, exit code or
//     signal name) in every heartbeat until a successful heartbeat that
//     carried the exit is answered with a list that no longer holds the
//     rank. Then the agent forgets it. Repeating an exit is harmless to the
//     server; a server that lost it (restored from an older state) hears it
//     again.
//   - 404, 410 or 409 to a heartbeat means the server does not know the node
//     as this agent registered it: the agent registers again. Other failures
//     are retried with backoff (200 ms doubling to 5 s) while ranks run on.
//
// # Restarts
//
// The boot ID lives in StateDir/boot-id, so a restarted agent re-registers
// idempotently. StateDir/ranks.json records every rank (shim pid, its /proc
// start time, directory, grace, exit status, log offsets shipped) and is
// rewritten whenever it changes. On start the agent reads it: a rank whose
// shim is still the same live process is adopted (watched by polling /proc;
// its status is read from exit-status.json when it ends); a rank that ended
// while no agent ran is known as exited with the status its shim wrote; its
// output not yet shipped is shipped. The first heartbeat then reports them
// all, and the ordinary rules apply: adopted ranks the server still lists
// keep running, the others are stopped; exits are reported until
// acknowledged.
//
// Shutdown (ctx done) stops every rank with its grace period, waits for the
// exits and their logs, reports them in a last heartbeat and returns, so an
// agent stopped by SIGTERM leaves nothing running. Hurry kills the ranks at
// once (a second Ctrl-C).
//
// # Caveats
//
//   - RankReport.PID is the shim's pid, which is also the process group ID.
//   - A rank that ends while no agent runs and whose shim was killed before
//     writing exit-status.json (SIGKILL to the shim alone) is reported with
//     neither exit code nor signal; the server should count that as failed.
//   - Adopted ranks' log offsets are those of the last ranks.json write, so
//     up to one heartbeat's worth of output may be shipped twice.
//   - Devices are discovered once, at start; rank directories are never
//     removed.
//   - If the server stops listing a rank and lists it again after the agent
//     forgot its exit, the agent runs it again.
package agent
