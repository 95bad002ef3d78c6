package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/bench"
)

func newBenchControlCmd() *cobra.Command {
	var out output
	var o bench.ControlConfig
	var gang string
	cmd := &cobra.Command{
		Use:   "control",
		Short: "Measure the control plane with many nodes: server CPU, pings, loss detection, gang launches, a restart",
		Long: `Start a real qun server process on the pool and --nodes simulated agents in
generator processes (qun bench control-gen, at most --per-generator nodes
each), each agent with one node stream over loopback from 127.0.0.2 …
127.0.0.(1+--source-addrs). Once every node is connected it measures, in
this order:

  server_cpu_cores     the server's CPU (from /proc/PID/stat) over --measure
                       at steady state, and per 1,000 nodes
  heartbeat_p99_ms     ping round trip p99 (every fourth ping asks for a pong)
  --gang RxC           --runs times: submit a gang of R ranks of C chips,
                       time submit → every rank running, cancel
  --restart            restart the server with every node connected
  --silent N           SIGSTOP the generator holding the last N nodes; the
                       time from the stop to each node's "node lost" in the
                       server's log is detect_p50_s / detect_p99_s

false_node_losses counts the other nodes the server lost during the run.
The generators share the machine with the server: note the load.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if gang != "" {
				r, c, ok := strings.Cut(gang, "x")
				var err1, err2 error
				o.GangRanks, err1 = strconv.Atoi(r)
				o.GangChips, err2 = strconv.Atoi(c)
				if !ok || err1 != nil || err2 != nil || o.GangRanks < 1 || o.GangChips < 1 {
					return badInput("--gang %q: want RANKSxCHIPS, e.g. 1024x8", gang)
				}
			}
			switch {
			case o.Nodes < 1:
				return badInput("--nodes %d: want at least 1", o.Nodes)
			case o.Silent < 0 || o.Silent >= o.Nodes:
				return badInput("--silent %d: want 0 to %d (fewer than --nodes)", o.Silent, o.Nodes-1)
			case o.PerGen < 1 || o.PerGen > 16384:
				return badInput("--per-generator %d: want 1 to 16384 (each generator holds one descriptor per node)", o.PerGen)
			case o.SourceIPs < 1 || o.SourceIPs > 250:
				return badInput("--source-addrs %d: want 1 to 250", o.SourceIPs)
			case o.Heartbeat <= 0 || o.NodeTimeout <= o.Heartbeat:
				return badInput("--heartbeat %v, --node-timeout %v: want both positive, the timeout longer", o.Heartbeat, o.NodeTimeout)
			case o.Transport != "stream" && o.Transport != "heartbeat":
				return badInput("--transport %q: allowed: stream, heartbeat", o.Transport)
			case o.Runs < 1:
				return badInput("--runs %d: want at least 1", o.Runs)
			case o.Measure <= 0 || o.Settle < 0:
				return badInput("--measure %v, --settle %v: want a positive measurement and a settle time of 0 or more", o.Measure, o.Settle)
			}
			if o.GangRanks > o.Nodes {
				return badInput("--gang %s: %d ranks need %d nodes; --nodes is %d", gang, o.GangRanks, o.GangRanks, o.Nodes)
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Exe = exe
			o.Log = cmd.ErrOrStderr()
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			res, err := bench.Control(ctx, o)
			if err != nil {
				return err
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			renderControl(cmd.OutOrStdout(), res)
			return nil
		},
	}
	out.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.Pool, "pool", "", "pool file; its first --nodes hosts are simulated (default: the Atlas 950 SuperCluster's shape with ⌈nodes/1024⌉ SuperPoDs)")
	f.IntVar(&o.Nodes, "nodes", 1024, "simulated nodes in all (the silent ones included)")
	f.IntVar(&o.Silent, "silent", 128, "nodes made to stop silently (SIGSTOP of their generator) at the end; 0: none")
	f.IntVar(&o.PerGen, "per-generator", 4096, "nodes per generator process")
	f.IntVar(&o.SourceIPs, "source-addrs", 8, "loopback source addresses the generators dial from")
	f.DurationVar(&o.Heartbeat, "heartbeat", time.Second, "the server's --heartbeat: the ping interval agents are told")
	f.DurationVar(&o.NodeTimeout, "node-timeout", 4*time.Second, "the server's --node-timeout")
	f.DurationVar(&o.Settle, "settle", 5*time.Second, "wait after every node is connected before measuring")
	f.DurationVar(&o.Measure, "measure", 20*time.Second, "steady-state measurement")
	f.StringVar(&gang, "gang", "", "RANKSxCHIPS: time gang launches (e.g. 1024x8)")
	f.IntVar(&o.Runs, "runs", 5, "gang launches")
	f.BoolVar(&o.Restart, "restart", false, "restart the server with every node connected and time the reconnection")
	f.StringVar(&o.Transport, "transport", "stream", "the simulated agents' transport: stream, or heartbeat (a POST every interval, for comparison)")
	f.StringVar(&o.DataDir, "data-dir", "", "the server's data directory and the generators' files (default: a temporary directory, removed after)")
	return cmd
}

func renderControl(w io.Writer, r *bench.ControlResult) {
	fmt.Fprintf(w, "%d nodes in %d generators from %d source addresses, %d cores, load %s → %s\n",
		r.Nodes, r.Generators, r.SourceAddrs, r.Cores, r.LoadAvgStart, r.LoadAvgEnd)
	fmt.Fprintf(w, "transport: %s; ping every %gs, node timeout %gs\n", r.Transport, r.HeartbeatS, r.NodeTimeoutS)
	fmt.Fprintf(w, "steady state over %.0fs: server %.3f cores (%.4f per 1,000 nodes, RSS %.0f MiB); generators %.2f cores\n",
		r.MeasureS, r.ServerCPUCores, r.ServerCPUPer1k, r.ServerRSSMiB, r.GeneratorCores)
	fmt.Fprintf(w, "ping round trip: p50 %.2f ms, p99 %.2f ms (%d samples)\n", r.PingP50Ms, r.HeartbeatP99Ms, r.Pings)
	if q := r.GangSubmitToRunning; q != nil {
		fmt.Fprintf(w, "gang %s submit → running: p50 %.0f ms, p99 %.0f ms over %d runs %v; during launches ping p99 %.1f ms, report → answer p99 %.1f ms\n",
			r.Gang, q.P50, q.P99, q.N, q.Runs, r.GangHeartbeatP99Ms, r.GangReportP99Ms)
	}
	if r.RestartReconnectS > 0 {
		fmt.Fprintf(w, "server restart: down %.2fs, every stream open again after %.2fs, a new job running after %.2fs; ranks stopped %d, running job intact %v\n",
			r.RestartDownS, r.RestartReconnectS, r.RestartSchedulableS, r.RestartRanksStopped, r.RestartJobIntact)
	}
	if r.SilentNodes > 0 {
		fmt.Fprintf(w, "silent nodes: %d detected lost p50 %.2fs, p99 %.2fs, max %.2fs (%d undetected)\n",
			r.SilentNodes, r.DetectP50S, r.DetectP99S, r.DetectMaxS, r.Undetected)
	}
	fmt.Fprintf(w, "false node losses: %d\n", r.FalseNodeLosses)
}

// newBenchControlGenCmd is the hidden load generator `qun bench control`
// starts.
func newBenchControlGenCmd() *cobra.Command {
	var o bench.GenConfig
	cmd := &cobra.Command{
		Use:    "control-gen",
		Short:  "Simulated node agents for qun bench control (started by it)",
		Hidden: true,
		Args:   exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Server == "" || o.NamesFile == "" {
				return badInput("--server and --names are required")
			}
			o.Out = cmd.OutOrStdout()
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return bench.Generate(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Server, "server", "", "the server's URL")
	f.StringVar(&o.NamesFile, "names", "", "file of node names, one a line")
	f.IntVar(&o.Index, "index", 0, "the generator's number")
	f.StringVar(&o.LocalIP, "local-ip", "", "source address of the connections")
	f.DurationVar(&o.Every, "every", 250*time.Millisecond, "stats line interval")
	f.BoolVar(&o.Heartbeat, "heartbeat", false, "POST heartbeats instead of streams")
	return cmd
}
