package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/agent"
	"github.com/qunhq/qun/internal/device"
	"github.com/qunhq/qun/internal/fault"
)

func newAgentCmd() *cobra.Command {
	var (
		server, name, stateDir, workDir, address, npuSMI, nvmlLib string
		devices, faultFiles                                       []string
		grace, healthInterval                                     time.Duration
		metricsListen, jobMappingDir                              string
		join, runAs, transport                                    string
	)
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the node agent: register devices, heartbeat, launch and stop ranks",
		Long: `Run the node agent. It registers this node (its name in the server's pool,
its address and its devices) with the server, heartbeats, and runs every rank
the server assigns to the node as a process group of its own, with the rank's
environment and files, its output captured and shipped to the server.

Devices come from plugins: --devices nvidia (NVML), ascend (npu-smi), or
fake:KIND:COUNT[,KIND:COUNT] for laptops and tests; give several as a comma
list or repeat the flag. A plugin whose vendor stack is absent reports no
devices and logs why.

Every --health-interval the agent polls device health (NVML Xid events, ECC
and row remaps; npu-smi health; for fake devices the file STATE-DIR/faults,
lines "DEVICE CODE" such as "3 reset-device" or "0 xid:79", removed to
heal), classifies the fault codes with the fault tables (built in, plus
--fault-file) and reports every device's health in its heartbeats (see
docs/faults.md).

On SIGTERM or SIGINT the agent stops its ranks (SIGTERM, SIGKILL after each
rank's grace period), reports their exits and exits 0; a second signal kills
the ranks at once. After a crash, the
next agent with the same --state-dir keeps the node's boot ID and adopts the
ranks the server still assigns (see docs/agent.md).`,
		Example: `  qun agent --server https://10.0.0.1:7070 --join TOKEN --name node0 --devices fake:910B:8 --state-dir /var/lib/qun/agent`,
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if stateDir == "" {
				return usageError{fmt.Errorf("--state-dir is required (see '%s --help')", cmd.CommandPath())}
			}
			if name == "" {
				h, err := os.Hostname()
				if err != nil {
					return badInput("--name not given and no host name: %v", err)
				}
				name = h
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			server, err := agentServerURL(server) // agent_secure.go
			if err != nil {
				return err
			}
			ra, err := agentRunAs(runAs)
			if err != nil {
				return err
			}
			if address == "" {
				if address, err = localAddressFor(server); err != nil {
					return badInput("--address not given and %v", err)
				}
			} else if net.ParseIP(address) == nil {
				if _, err := net.LookupHost(address); err != nil {
					return badInput("--address %q is neither an IP nor a resolvable host name", address)
				}
			}
			faults, err := fault.LoadFiles(faultFiles...)
			if err != nil {
				return badInput("--fault-file: %v", err)
			}
			opts := []device.Option{device.WithLogger(log), device.WithFakeFaultFile(filepath.Join(stateDir, device.FakeFaultsFile))}
			if npuSMI != "" {
				opts = append(opts, device.WithNPUSMIPath(npuSMI))
			}
			if nvmlLib != "" {
				opts = append(opts, device.WithNVMLLibraryPath(nvmlLib))
			}
			discs, err := agent.ParseDevices(devices, opts...)
			if err != nil {
				return badInput("--devices: %v", err)
			}
			if transport != "stream" && transport != "heartbeat" {
				return badInput("--transport %q: allowed: stream, heartbeat", transport)
			}
			client, id, err := agentClient(cmd.Context(), server, name, stateDir, join, log.With("node", name))
			if err != nil {
				return err
			}
			var stream agent.StreamDialer
			if transport == "stream" {
				sc := agent.NewStreamClient(client.Addr())
				if id != nil {
					sc.TLS = id.TLSConfig() // the node certificate names the node
				}
				stream = sc
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the qun executable for the rank shim: %w", err)
			}
			a, err := agent.New(agent.Config{
				Name: name, Address: address, StateDir: stateDir, WorkDir: workDir,
				Devices: discs, Server: agent.ClientServer{C: client}, Stream: stream,
				Shim:   []string{exe, "agent", "rank-shim"},
				Logger: log, DefaultGrace: grace, HPCJobMappingDir: jobMappingDir,
				HealthInterval: healthInterval, Faults: faults, RunAs: ra,
			})
			if err != nil {
				return err
			}
			var metricsLn net.Listener
			if metricsListen != "" {
				if metricsLn, err = net.Listen("tcp", metricsListen); err != nil {
					return fmt.Errorf("--metrics-listen: %w", err)
				}
				defer metricsLn.Close()
			}
			// The first SIGTERM or SIGINT stops the ranks gracefully; a
			// second one kills them at once.
			ctx, hurry, release := stopOnSignals(context.Background(), func(s os.Signal) {
				log.Info("stopping ranks; signal again to kill them at once", "signal", s.String())
			})
			defer release()
			go func() { <-hurry; a.Hurry() }()
			if id != nil {
				go id.RenewLoop(ctx, client)
			}
			log.Info("agent starting", "run_as", runAsName(ra), "server", client.Addr(), "name", name, "address", address, "boot_id", a.BootID())
			if metricsLn != nil {
				log.Info("metrics listening", "addr", metricsLn.Addr().String())
				go a.ServeMetrics(ctx, metricsLn)
			}
			return a.Run(ctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&server, "server", api.DefaultAddr, "the server's URL, or the URLs of an HA cluster's servers, comma-separated (the agent finds the leader; its certificate and CA serve every one)")
	f.StringVar(&join, "join", "", "join token to enrol with when the state directory holds no valid node certificate (default: $QUN_JOIN_TOKEN)")
	f.StringVar(&runAs, "run-as", "", "USER[:GROUP] ranks run as unless their queue names one (default: nobody when the agent is root, else the agent's user)")
	f.StringVar(&name, "name", "", "this node's name: a host of the server's pool (default: the host name)")
	f.StringArrayVar(&devices, "devices", nil, "device plugins: nvidia, ascend, fake:KIND:COUNT[,KIND:COUNT]; comma list or repeated (default: none)")
	f.StringVar(&stateDir, "state-dir", "", "directory for the boot ID and the state of running ranks (required)")
	f.StringVar(&workDir, "work-dir", "", "directory for rank directories (default: STATE-DIR/work)")
	f.StringVar(&address, "address", "", "IP or host name where this node's ranks are reachable, used as MASTER_ADDR (default: the local address that reaches the server)")
	f.DurationVar(&grace, "grace", 30*time.Second, "SIGTERM-to-SIGKILL time for assignments that name none")
	f.StringVar(&npuSMI, "npu-smi", "", "path of npu-smi for the ascend plugin (default: npu-smi in PATH)")
	f.StringVar(&nvmlLib, "nvml-library", "", "NVML library for the nvidia plugin (default: libnvidia-ml.so.1)")
	f.DurationVar(&healthInterval, "health-interval", 5*time.Second, "how often device health is polled and reported in heartbeats (negative: never)")
	f.StringArrayVar(&faultFiles, "fault-file", nil, "a fault table file (docs/faults.md) adding to or overriding the built-in fault levels; repeatable")
	f.StringVar(&metricsListen, "metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9470; default: none)")
	f.StringVar(&jobMappingDir, "hpc-job-mapping-dir", "", "write DCGM's HPC job-mapping files here (one file per device index holding its job IDs; give dcgm-exporter the same directory)")
	f.StringVar(&transport, "transport", "stream", "how to talk to the server: stream (one long-lived connection: pushed assignments, pings) or heartbeat (a POST every interval)")
	cmd.AddCommand(newRankShimCmd())
	return cmd
}

// newRankShimCmd is the hidden `qun agent rank-shim -- CMD ARGS...` that
// the agent starts as the leader of each rank's process group.
func newRankShimCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "rank-shim -- COMMAND [ARGS...]",
		Short:              "Run one rank and record its exit status (started by the agent)",
		Hidden:             true,
		DisableFlagParsing: true,
		Run: func(cmd *cobra.Command, args []string) {
			// The shim's exit code is the rank's, which Main's error
			// mapping cannot express.
			os.Exit(agent.RunShim(args, cmd.ErrOrStderr()))
		},
	}
}

// localAddressFor returns the local IP this host uses to reach the server
// at base. It sends nothing (a UDP "connection" only picks a route).
func localAddressFor(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	}
	c, err := net.Dial("udp", net.JoinHostPort(host, port))
	if err != nil {
		return "", fmt.Errorf("cannot find a local address that reaches %s: %v", base, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}
