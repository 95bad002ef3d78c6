#!/usr/bin/python3
"""A small PyTorch DDP training job for Qun (gloo backend, env:// contract).

Each rank is started directly (by Qun's agent, or by hand), as torchrun would
start it, with MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE and LOCAL_RANK in its
environment. It trains a tiny MLP on synthetic regression data that is a pure
function of (seed, step, rank), checkpoints every --checkpoint-every steps to
$QUN_CHECKPOINT_DIR (or --checkpoint-dir) with torch.save (written to a
temporary file, fsynced, renamed; under Qun in the subdirectory named by
$QUN_JOB_ID, so that the attempts of one job share it and other jobs do not),
and on start resumes from the latest checkpoint there. Because every step's data and the initial weights depend
only on the seed and the step, a run that was killed and resumed ends with the
same weights as one that never stopped.

At the end rank 0 writes the final weights to --out (JSON: "weights" maps
each parameter name to a flat list of floats; "start_weights" are those this
run started from, "start_step" its first step) and every rank prints
"training done".
"""

import argparse
import json
import os
import re
import sys
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

CKPT_RE = re.compile(r"^ckpt-(\d{8})\.pt$")


def log(msg):
    print(f"[rank {os.environ.get('RANK', '?')}] {msg}", file=sys.stderr, flush=True)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200, help="training steps in all")
    p.add_argument("--checkpoint-every", type=int, default=20, help="checkpoint every K steps (0: never)")
    p.add_argument("--checkpoint-dir", default=os.environ.get("QUN_CHECKPOINT_DIR", ""),
                   help="directory shared by all ranks (default $QUN_CHECKPOINT_DIR)")
    p.add_argument("--out", default="weights.json", help="where rank 0 writes the final weights")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--batch", type=int, default=32, help="samples per rank per step")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--step-delay", type=float, default=0.0, help="seconds to sleep per step (tests use it to kill mid-way)")
    a = p.parse_args()
    if a.steps < 1:
        p.error(f"--steps {a.steps}: want 1 or more")
    if a.checkpoint_every < 0:
        p.error(f"--checkpoint-every {a.checkpoint_every}: want 0 or more")
    if a.checkpoint_every > 0 and not a.checkpoint_dir:
        p.error("no checkpoint directory: set QUN_CHECKPOINT_DIR or --checkpoint-dir (or --checkpoint-every 0)")
    return a


def model(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 1))


def batch(seed, step, rank, world, n):
    """The data of one rank at one step: a pure function of its arguments."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + step * world + rank)
    x = torch.randn(n, 16, generator=g)
    w = torch.linspace(-1.0, 1.0, 16)
    y = torch.sin(x @ w).unsqueeze(1)
    return x, y


def latest_checkpoint(d):
    if not d or not os.path.isdir(d):
        return 0
    steps = [int(m.group(1)) for f in os.listdir(d) if (m := CKPT_RE.match(f))]
    return max(steps, default=0)


def save_checkpoint(d, step, net, opt):
    os.makedirs(d, exist_ok=True)
    final = os.path.join(d, f"ckpt-{step:08d}.pt")
    tmp = final + f".tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        torch.save({"step": step, "model": net.state_dict(), "optim": opt.state_dict()}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    dfd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    # Keep the two newest.
    old = sorted(f for f in os.listdir(d) if CKPT_RE.match(f))[:-2]
    for f in old:
        os.remove(os.path.join(d, f))


def main():
    a = parse_args()
    for v in ("MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE"):
        if v not in os.environ:
            sys.exit(f"train.py: ${v} is not set: start each rank with the env:// contract "
                     "(MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK)")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if a.checkpoint_dir and os.environ.get("QUN_JOB_ID"):
        # One directory per job, shared by its attempts.
        a.checkpoint_dir = os.path.join(a.checkpoint_dir, os.environ["QUN_JOB_ID"])
    dist.init_process_group("gloo", init_method="env://")
    log(f"joined: world {world}, local rank {os.environ.get('LOCAL_RANK', '0')}, "
        f"attempt {os.environ.get('QUN_ATTEMPT', '0')}, master {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}")

    net = model(a.seed)
    ddp = DDP(net)
    opt = torch.optim.SGD(ddp.parameters(), lr=a.lr, momentum=0.9)

    # Rank 0 chooses the checkpoint and tells the others, so that all
    # ranks resume from the same step.
    start = torch.tensor([latest_checkpoint(a.checkpoint_dir) if rank == 0 else 0], dtype=torch.int64)
    dist.broadcast(start, src=0)
    start = int(start.item())
    if start > 0:
        ck = torch.load(os.path.join(a.checkpoint_dir, f"ckpt-{start:08d}.pt"))
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        log(f"resumed from step {start}")
    else:
        log("starting from step 0")

    at_start = {k: v.detach().flatten().tolist() for k, v in net.state_dict().items()}
    loss_fn = nn.MSELoss()
    loss = torch.tensor(0.0)
    for step in range(start, a.steps):
        x, y = batch(a.seed, step, rank, world, a.batch)
        opt.zero_grad()
        loss = loss_fn(ddp(x), y)
        loss.backward()
        opt.step()
        done = step + 1
        if rank == 0 and a.checkpoint_every > 0 and done % a.checkpoint_every == 0 and done < a.steps:
            save_checkpoint(a.checkpoint_dir, done, net, opt)
            log(f"checkpoint at step {done}, loss {loss.item():.6f}")
        if a.step_delay > 0:
            time.sleep(a.step_delay)

    if rank == 0:
        weights = {k: v.detach().flatten().tolist() for k, v in net.state_dict().items()}
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"steps": a.steps, "world_size": world, "loss": loss.item(), "start_step": start,
                       "weights": weights, "start_weights": at_start}, f)
        os.replace(tmp, a.out)
    dist.barrier()
    dist.destroy_process_group()
    log(f"training done: {a.steps} steps, loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
