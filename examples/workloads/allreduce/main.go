// Command allreduce is a small, real data-parallel training program: logistic
// regression by full-batch gradient descent, its gradients summed across
// ranks with a ring all-reduce over TCP. Qun runs it as the end-to-end proof
// that it launches real distributed jobs.
//
// It reads the torchrun environment: RANK, WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT and optionally LOCAL_RANK (logged only). Without RANK and
// WORLD_SIZE it runs as a single process, which needs no network.
//
//	RANK=0 WORLD_SIZE=3 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 allreduce --out model.json &
//	RANK=1 WORLD_SIZE=3 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 allreduce &
//	RANK=2 WORLD_SIZE=3 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500 allreduce
//
// # What it computes
//
// Every rank generates the same data set from --seed (PCG), --samples rows
// of --features standard normal features with labels drawn from a logistic
// model, and owns the contiguous shard [r·n/W, (r+1)·n/W) (shards differ by
// at most one sample; the higher ranks take the remainder). Each step every
// rank sums the log-loss gradient over its shard; the all-reduce adds the
// shards' sums; every rank divides by the total sample count and takes the
// same step. So the trained model equals the single-process one up to the
// order of floating-point additions.
//
// # Rendezvous and data plane
//
// Rank 0 listens on MASTER_ADDR:MASTER_PORT. Every rank opens a data
// listener on an ephemeral port (on --bind, else on the address it reaches
// the master from) and registers its rank, address and checkpoint steps
// with rank 0, retrying with backoff until --rendezvous-timeout; rank 0
// answers with all addresses and the step to resume from. Rank r then
// sends to rank r+1 and receives from rank r−1. The all-reduce is a ring
// reduce-scatter then all-gather of chunks of one float64 vector (gradient,
// loss, stop flag) in length-prefixed little-endian frames (see ring.go).
//
// # Checkpoints
//
// With --checkpoint-dir (default $QUN_CHECKPOINT_DIR) every rank writes
// <dir>/rank-<r>/ckpt-<step>.json ({step, weights, seed, samples, features,
// rank}) every --checkpoint-every steps, at the end and when stopped; each
// file is written to a temp file, fsynced and renamed, and the last 3 are
// kept. On start the ranks resume from the latest step every rank has a
// usable checkpoint for (agreed through the rendezvous), and log "resumed
// from step N". A checkpoint of a different seed, sample or feature count
// is an error. Changing WORLD_SIZE between runs is allowed, but ranks with
// no checkpoint make the run start from step 0.
//
// # Stopping
//
// On SIGTERM (or SIGINT) a rank finishes its current step and raises a stop
// flag carried in the next all-reduce, so all ranks stop after the same
// step, at most one step later; each writes its checkpoint and exits with
// 143 (128+SIGTERM; 130 for SIGINT), whichever rank was signalled.
//
// At the end rank 0 writes the final model ({weights, final_loss, steps,
// world_size, ...}) to --out, atomically, and logs a line.
//
// # Limits
//
// Rank 0 binds MASTER_ADDR itself, so it must be an address of rank 0's
// host (torchrun binds all interfaces instead). A rank that dies makes its
// neighbours fail at the next all-reduce (or after --collective-timeout);
// there is no elastic membership: restart the job and it resumes from the
// latest common checkpoint. The data set lives in memory on every rank, so
// --samples × --features is bounded by one rank's memory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// config is the whole configuration of a run.
type config struct {
	rank, world, localRank int
	master                 string // host:port; empty for world 1
	steps                  int
	seed                   uint64
	samples, features      int
	lr                     float64
	ckptDir                string
	ckptEvery              int
	out                    string
	bind                   string
	rdzvTimeout            time.Duration
	opTimeout              time.Duration
	logEvery               int
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("allreduce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&c.steps, "steps", 200, "total training steps (a resumed run continues up to this step)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated data set")
	fs.IntVar(&c.samples, "samples", 10000, "number of samples in the data set")
	fs.IntVar(&c.features, "features", 8, "number of features per sample")
	fs.Float64Var(&c.lr, "lr", 0.5, "learning rate")
	fs.StringVar(&c.ckptDir, "checkpoint-dir", getenv("QUN_CHECKPOINT_DIR"), "checkpoint directory (default $QUN_CHECKPOINT_DIR; empty: no checkpoints)")
	fs.IntVar(&c.ckptEvery, "checkpoint-every", 50, "write a checkpoint every this many steps (0: only at the end and when stopped)")
	fs.StringVar(&c.out, "out", "", "path of the final model JSON written by rank 0 (empty: none)")
	fs.StringVar(&c.bind, "bind", "", "host or IP for this rank's data listener (default: the address used to reach the master)")
	fs.DurationVar(&c.rdzvTimeout, "rendezvous-timeout", 60*time.Second, "how long to wait for all ranks to meet")
	fs.DurationVar(&c.opTimeout, "collective-timeout", 5*time.Minute, "how long one all-reduce may take before the run fails")
	fs.IntVar(&c.logEvery, "log-every", 50, "log the loss every this many steps (rank 0)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	envInt := func(name string, def, min int) (int, error) {
		v := getenv(name)
		if v == "" {
			return def, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			return 0, fmt.Errorf("%s=%q: want an integer ≥ %d", name, v, min)
		}
		return n, nil
	}
	var err error
	if c.rank, err = envInt("RANK", 0, 0); err != nil {
		return c, err
	}
	if c.world, err = envInt("WORLD_SIZE", 1, 1); err != nil {
		return c, err
	}
	if c.localRank, err = envInt("LOCAL_RANK", 0, 0); err != nil {
		return c, err
	}
	switch {
	case c.rank >= c.world:
		return c, fmt.Errorf("RANK=%d: want 0..WORLD_SIZE-1 (WORLD_SIZE=%d)", c.rank, c.world)
	case c.steps < 0:
		return c, fmt.Errorf("--steps=%d: want ≥ 0", c.steps)
	case c.samples < c.world:
		return c, fmt.Errorf("--samples=%d: want at least one sample per rank (WORLD_SIZE=%d)", c.samples, c.world)
	case c.features < 1 || c.features > 1<<20:
		return c, fmt.Errorf("--features=%d: want 1..%d", c.features, 1<<20)
	case c.ckptEvery < 0:
		return c, fmt.Errorf("--checkpoint-every=%d: want ≥ 0", c.ckptEvery)
	case !(c.lr > 0):
		return c, fmt.Errorf("--lr=%v: want > 0", c.lr)
	}
	if c.world > 1 {
		host, port := getenv("MASTER_ADDR"), getenv("MASTER_PORT")
		if host == "" || port == "" {
			return c, fmt.Errorf("WORLD_SIZE=%d needs MASTER_ADDR and MASTER_PORT", c.world)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return c, fmt.Errorf("MASTER_PORT=%q: want 1..65535", port)
		}
		c.master = net.JoinHostPort(host, port)
	}
	return c, nil
}

func (c config) problem() string {
	return fmt.Sprintf("seed=%d samples=%d features=%d", c.seed, c.samples, c.features)
}

// Exit codes.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitSIGINT  = 128 + 2
	exitSIGTERM = 128 + 15
)

func main() {
	cfg, err := parseConfig(os.Args[1:], os.Getenv, os.Stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "allreduce:", err)
		}
		os.Exit(exitUsage)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("rank", cfg.rank)
	var stop atomic.Int32 // signal number that asked us to stop; 0: none
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for s := range sigs {
			n := int32(s.(syscall.Signal))
			if stop.CompareAndSwap(0, n) {
				log.Info("signal received; stopping after the current step", "signal", s.String())
			}
		}
	}()
	os.Exit(run(context.Background(), cfg, log, &stop))
}

// run trains and returns the exit code.
func run(ctx context.Context, cfg config, log *slog.Logger, stop *atomic.Int32) int {
	t := &trainer{cfg: cfg, log: log, stop: stop}
	code, err := t.train(ctx)
	if err != nil {
		log.Error("training failed", "err", err)
		return exitFailed
	}
	return code
}
