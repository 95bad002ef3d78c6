package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/bench"
)

func newBenchFailoverCmd() *cobra.Command {
	var out output
	var o bench.FailoverOptions
	var keep bool
	cmd := &cobra.Command{
		Use:   "failover",
		Short: "Measure HA failover: kill -9 the leader of a 3-server cluster on etcd, again and again",
		Long: `Start a local 3-member etcd cluster (the etcd binary, scripts/deps.sh installs
it) and --servers 'qun server --etcd' processes of this binary, then
--nodes simulated nodes heartbeating every second through the cluster's
server list, and steady one-chip submissions. --kills times: kill -9 the
leader and time until a job submitted right after the kill is placed
(the new leader loaded the state from its warm copy, scheduled and
committed a plan); then start the killed server again as a follower.

  failover_p99_s       kill → the new leader has committed a plan
  acknowledged_lost    acknowledged submissions missing at the end
  double_assignments   a device held by two live ranks at once
  double_starts        a rank live on two nodes, or a job in two attempts`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			switch {
			case o.Servers < 2 || o.Servers > 9:
				return badInput("--servers %d: want 2..9", o.Servers)
			case o.Nodes < 1 || o.Nodes > 16384:
				return badInput("--nodes %d: want 1..16384", o.Nodes)
			case o.Kills < 1:
				return badInput("--kills %d: want 1 or more", o.Kills)
			case o.TTL < time.Second || o.TTL%time.Second != 0:
				return badInput("--lease-ttl %v: want whole seconds, at least 1s", o.TTL)
			case o.SubmitHz <= 0 || o.SubmitHz > 1000:
				return badInput("--submit-rate %v: want more than 0 and at most 1000 per second", o.SubmitHz)
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			o.Exe = exe
			o.Log = cmd.ErrOrStderr()
			if keep {
				o.KeepLogs = "yes"
			}
			res, err := bench.Failover(cmd.Context(), o)
			if err != nil {
				return err
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d servers on %d etcd members, %d nodes, %d leader kills, lease %v\n", res.Servers, res.EtcdMembers, res.Nodes, res.Kills, o.TTL)
			fmt.Fprintf(w, "failover (kill → plan committed): p50 %.2f s, p99 %.2f s, max %.2f s\n", res.FailoverP50Sec, res.FailoverP99Sec, res.FailoverMaxSec)
			fmt.Fprintf(w, "acknowledged %d, lost %d; double assignments %d, double starts %d (%d ranks started)\n",
				res.Acknowledged, res.AcknowledgedLost, res.DoubleAssignments, res.DoubleStarts, res.RanksStarted)
			return nil
		},
	}
	out.register(cmd)
	f := cmd.Flags()
	f.IntVar(&o.Servers, "servers", 3, "qun server processes")
	f.IntVar(&o.Nodes, "nodes", 1000, "simulated nodes")
	f.IntVar(&o.Kills, "kills", 20, "leader kills (kill -9)")
	f.DurationVar(&o.TTL, "lease-ttl", 2*time.Second, "the leader's lease")
	f.Float64Var(&o.SubmitHz, "submit-rate", 10, "steady submissions per second")
	f.StringVar(&o.EtcdDir, "etcd-dir", "", "directory for etcd's data (default: the benchmark's temporary directory); e.g. /dev/shm keeps etcd's fsyncs off a shared disk")
	f.BoolVar(&keep, "keep-logs", false, "keep the servers' and etcd's logs (their directory is printed)")
	return cmd
}
