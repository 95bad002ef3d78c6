package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/server"
)

// serverFlags are the settings of `qun server`, shared with commands that
// start a server of their own.
type serverFlags struct {
	poolFile, dataDir, listen string
	queuesFile, profileFile   string
	nodeTimeout, heartbeat    time.Duration
	auditTelemetry            time.Duration
	logLevel                  string
	ha                        haFlags  // server_ha.go
	sec                       secFlags // server_secure.go
}

func (f *serverFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&f.poolFile, "pool", "", "pool file (required)")
	c.Flags().StringVar(&f.dataDir, "data-dir", "", "directory of the state file and logs (required)")
	c.Flags().StringVar(&f.listen, "listen", "127.0.0.1:7070", "address to serve the API on")
	c.Flags().StringVar(&f.queuesFile, "queues", "", "queues file (default: queues are created as jobs name them)")
	c.Flags().StringVar(&f.profileFile, "profile", "", "scheduler profile file (default: the built-in profile)")
	c.Flags().DurationVar(&f.nodeTimeout, "node-timeout", 10*time.Second, "mark a node lost after this long without a heartbeat")
	c.Flags().DurationVar(&f.heartbeat, "heartbeat", time.Second, "heartbeat interval agents are told to use")
	c.Flags().StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	c.Flags().DurationVar(&f.auditTelemetry, "audit-telemetry-interval", time.Minute, "how often successful node telemetry is audited in aggregate")
	c.Flags().MarkHidden("audit-telemetry-interval") // for tests
	f.ha.register(c)
	f.sec.register(c)
}

// config loads the files the flags name into a server configuration.
func (f *serverFlags) config(logw *os.File) (server.Config, error) {
	if f.poolFile == "" || f.dataDir == "" {
		return server.Config{}, usageError{fmt.Errorf("--pool and --data-dir are required")}
	}
	if f.nodeTimeout <= 0 || f.heartbeat <= 0 {
		return server.Config{}, badInput("--node-timeout and --heartbeat must be positive")
	}
	if f.auditTelemetry <= 0 {
		return server.Config{}, badInput("--audit-telemetry-interval %v: want a positive duration", f.auditTelemetry)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return server.Config{}, badInput("--log-level %q: allowed: debug, info, warn, error", f.logLevel)
	}
	topo, err := loadPool(f.poolFile)
	if err != nil {
		return server.Config{}, err
	}
	prof := plugins.DefaultProfile()
	if f.profileFile != "" {
		data, err := os.ReadFile(f.profileFile)
		if err != nil {
			return server.Config{}, badInput("profile file: %v", err)
		}
		if prof, err = sched.LoadProfile(f.profileFile, data, plugins.Default()); err != nil {
			return server.Config{}, err
		}
	}
	var queues []sched.Queue
	var runAs map[string]api.RunAs
	if f.queuesFile != "" {
		data, err := os.ReadFile(f.queuesFile)
		if err != nil {
			return server.Config{}, badInput("queues file: %v", err)
		}
		if queues, err = server.LoadQueues(f.queuesFile, data); err != nil {
			return server.Config{}, err
		}
		if runAs, err = server.LoadQueueRunAs(f.queuesFile, data); err != nil {
			return server.Config{}, err
		}
	}
	return server.Config{
		Pool: topo, Queues: queues, RunAs: runAs, Profile: prof, DataDir: f.dataDir,
		NodeTimeout: f.nodeTimeout, Heartbeat: f.heartbeat, AuditTelemetryEvery: f.auditTelemetry,
		Logger: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: level})),
		Seed:   uint64(time.Now().UnixNano()),
	}, nil
}

func newServerCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane: the HTTP API, the scheduler and the state store",
		Long: `Run the Qun server. It keeps its state in DATA_DIR/state.db (bbolt) and rank
logs under DATA_DIR/logs, answers the v1 API on --listen, and schedules
jobs onto the nodes whose agents have registered. SIGTERM or SIGINT stops
it gracefully; after any stop, even kill -9, a restart recovers every
acknowledged job from the state file.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkListen(f.listen); err != nil {
				return err
			}
			serverProcs()
			if path := os.Getenv("QUN_SERVER_CPUPROFILE"); path != "" { // docs/development.md
				stop, err := startCPUProfile(path)
				if err != nil {
					return err
				}
				defer stop()
			}
			cfg, err := f.config(os.Stderr)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			if f.ha.etcd != "" {
				if err := f.ha.check(f.listen, f.sec); err != nil { // server_ha.go
					return err
				}
			}
			closeAuth, err := secureConfig(&cfg, &f.sec, f.listen, cmd.OutOrStdout())
			if err != nil {
				return err
			}
			defer closeAuth()
			if f.ha.etcd != "" {
				return runHAServer(ctx, cfg, f.listen, f.ha)
			}
			return runServer(ctx, cfg, f.listen)
		},
	}
	f.register(cmd)
	return cmd
}

// serverProcs sets GOMAXPROCS (server.Procs) and the collector's target
// (server.GCPercent) for a process that serves the API, unless the
// GOMAXPROCS and GOGC variables say otherwise.
func serverProcs() {
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(server.Procs(runtime.GOMAXPROCS(0)))
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(server.GCPercent)
	}
}

// startCPUProfile writes a CPU profile to path until the returned func is
// called: QUN_SERVER_CPUPROFILE, for profiling a server that benchmarks
// start as a process of its own (qun bench control, failover).
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("QUN_SERVER_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("QUN_SERVER_CPUPROFILE: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// runServer opens the state, listens and serves until ctx is done.
func runServer(ctx context.Context, cfg server.Config, listen string) error {
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		srv.Close()
		return fmt.Errorf("cannot listen on %s (--listen): %w", listen, err)
	}
	return srv.Serve(ctx, ln)
}

// checkListen rejects a --listen value that is not HOST:PORT with a port
// number, before anything is opened; failing to listen on a well-formed
// address (in use, not of this machine) is a failure, not bad input.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return badInput("--listen %q: want HOST:PORT, e.g. 127.0.0.1:7070", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return badInput("--listen %q: port %q is not a number from 0 to 65535", addr, port)
	}
	return nil
}
