package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"syscall"
	"time"
)

// finalModel is what rank 0 writes to --out.
type finalModel struct {
	Weights     []float64 `json:"weights"` // feature weights, then the bias
	FinalLoss   float64   `json:"final_loss"`
	Steps       int       `json:"steps"`
	WorldSize   int       `json:"world_size"`
	Seed        uint64    `json:"seed"`
	Samples     int       `json:"samples"`
	Features    int       `json:"features"`
	ResumedFrom int       `json:"resumed_from"`
}

type trainer struct {
	cfg  config
	log  *slog.Logger
	stop *atomic.Int32 // signal number asking to stop; 0: none
}

// train runs the whole job and returns the exit code for a clean end or a
// requested stop; an error means the run failed.
func (t *trainer) train(ctx context.Context) (int, error) {
	cfg := t.cfg
	data := generate(cfg.seed, cfg.samples, cfg.features)
	lo, hi := shard(cfg.samples, cfg.rank, cfg.world)
	nParams := cfg.features + 1
	ident := checkpoint{Seed: cfg.seed, Samples: cfg.samples, Features: cfg.features, Rank: cfg.rank}

	var steps []int
	if cfg.ckptDir != "" {
		var err error
		if steps, err = usableCheckpoints(cfg.ckptDir, cfg.rank, ident, t.log.Warn); err != nil {
			return exitFailed, err
		}
	}
	resume := latestCommon([][]int{steps})
	var rg *ring
	if cfg.world > 1 {
		deadline := time.Now().Add(cfg.rdzvTimeout)
		rz, err := doRendezvous(rdzvParams{
			rank: cfg.rank, world: cfg.world, master: cfg.master, bind: cfg.bind,
			problem: cfg.problem(), steps: steps, deadline: deadline, log: t.log,
		})
		if err != nil {
			return exitFailed, err
		}
		rg, err = connectRing(rz.ln, rz.addrs, cfg.rank, deadline, cfg.opTimeout)
		rz.ln.Close()
		if err != nil {
			return exitFailed, err
		}
		defer rg.Close()
		resume = rz.resumeStep
		t.log.Info("ring formed", "world_size", cfg.world, "local_rank", cfg.localRank, "next", rz.addrs[(cfg.rank+1)%cfg.world], "shard", fmt.Sprintf("[%d,%d)", lo, hi))
	}

	params := make([]float64, nParams)
	if resume > 0 {
		c, err := loadCheckpoint(cfg.ckptDir, cfg.rank, resume)
		if err != nil {
			return exitFailed, fmt.Errorf("load agreed checkpoint: %w", err)
		}
		copy(params, c.Weights)
		t.log.Info(fmt.Sprintf("resumed from step %d", resume), "checkpoint", checkpointPath(cfg.ckptDir, cfg.rank, resume))
	} else {
		t.log.Info("starting from step 0", "steps", cfg.steps, "problem", cfg.problem())
	}

	save := func(step int) error {
		if cfg.ckptDir == "" {
			return nil
		}
		c := ident
		c.Step, c.Weights = step, params
		return saveCheckpoint(cfg.ckptDir, c)
	}
	// vec carries the gradient sum, the loss sum and the stop flag.
	vec := make([]float64, nParams+2)
	lossAt, stopAt := nParams, nParams+1
	n := float64(cfg.samples)
	for step := resume; step < cfg.steps; {
		if err := ctx.Err(); err != nil {
			return exitFailed, err
		}
		clear(vec)
		vec[lossAt] = data.gradInto(vec[:nParams], params, lo, hi)
		if t.stop.Load() != 0 {
			vec[stopAt] = 1
		}
		if err := rg.allReduceSum(vec); err != nil {
			return exitFailed, err
		}
		for j := range params {
			params[j] -= cfg.lr * vec[j] / n
		}
		step++
		if cfg.rank == 0 && cfg.logEvery > 0 && step%cfg.logEvery == 0 {
			t.log.Info("step", "step", step, "loss", vec[lossAt]/n)
		}
		stopping := vec[stopAt] > 0
		if stopping || step == cfg.steps || cfg.ckptEvery > 0 && step%cfg.ckptEvery == 0 {
			if err := save(step); err != nil {
				return exitFailed, err
			}
		}
		if stopping {
			code := exitSIGTERM
			if t.stop.Load() == int32(syscall.SIGINT) {
				code = exitSIGINT
			}
			t.log.Info("stopped on request", "step", step, "checkpointed", cfg.ckptDir != "", "exit_code", code)
			return code, nil
		}
	}

	clear(vec)
	vec[lossAt] = data.gradInto(vec[:nParams], params, lo, hi)
	if err := rg.allReduceSum(vec); err != nil {
		return exitFailed, err
	}
	final := finalModel{
		Weights: params, FinalLoss: vec[lossAt] / n, Steps: max(cfg.steps, resume), WorldSize: cfg.world,
		Seed: cfg.seed, Samples: cfg.samples, Features: cfg.features, ResumedFrom: resume,
	}
	if cfg.rank == 0 && cfg.out != "" {
		if err := writeJSONAtomic(cfg.out, final); err != nil {
			return exitFailed, fmt.Errorf("write final model: %w", err)
		}
		t.log.Info("wrote final model", "path", cfg.out, "steps", final.Steps, "final_loss", final.FinalLoss, "world_size", cfg.world)
	}
	t.log.Info("training done", "steps", final.Steps, "final_loss", final.FinalLoss)
	return exitOK, nil
}
