package server

import (
	"strconv"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/launch"
	"github.com/qunhq/qun/internal/pool"
)

// rankTableFile is where an HCCL job's rank table is written, relative to
// each rank's working directory.
const rankTableFile = "hccl.json"

// buildAssignments fills j.assign, one per rank, when the job is placed.
// Callers hold mu.
func (s *Server) buildAssignments(j *jobRec) {
	grace := s.cfg.Profile.Preemption.Grace
	if grace <= 0 {
		grace = s.cfg.Grace
	}
	envs, files := s.launchEnv(j)
	j.assign = make([]api.Assignment, len(j.Placement))
	for r, rp := range j.Placement {
		env := map[string]string{}
		for k, v := range j.spec.Env {
			env[k] = v
		}
		for k, v := range envs[r] {
			env[k] = v
		}
		j.assign[r] = api.Assignment{
			JobID: j.ID, Attempt: j.Attempt, Rank: r,
			Command: j.spec.Command, Args: j.spec.Args, Env: env, Workdir: j.spec.Workdir,
			CheckpointDir: j.spec.Checkpoint.Dir, Devices: rp.Devices, Grace: api.Duration(grace), Files: files,
			RunAs: s.runAs(j.Queue),
		}
	}
}

// launchEnv returns, per scheduler rank, the environment of a placed job
// (from internal/launch: the environment of the rank's first worker, so
// RANK is its first global rank and LOCAL_WORLD_SIZE its chips), and the
// files every rank gets (the HCCL rank table for Ascend chips). Callers
// hold mu.
func (s *Server) launchEnv(j *jobRec) ([]map[string]string, map[string]string) {
	t := s.cfg.Pool
	out := make([]map[string]string, len(j.Placement))
	extra := func(env map[string]string) map[string]string {
		if env == nil {
			env = map[string]string{}
		}
		env["QUN_JOB_ID"] = j.ID
		env["QUN_ATTEMPT"] = strconv.Itoa(j.Attempt)
		// What torchrun gives its workers, so elastic-aware code resumes:
		// the run ID stays the job's across attempts.
		env["TORCHELASTIC_RESTART_COUNT"] = strconv.Itoa(j.Attempt)
		env["TORCHELASTIC_RUN_ID"] = j.ID
		env["TORCHELASTIC_MAX_RESTARTS"] = strconv.Itoa(j.spec.RestartPolicy.Max())
		if j.spec.Checkpoint.Dir != "" {
			env["QUN_CHECKPOINT_DIR"] = j.spec.Checkpoint.Dir
			env["QUN_CHECKPOINT_INTERVAL"] = time.Duration(j.spec.Checkpoint.Interval).String()
		}
		return env
	}
	tb, err := launch.NewTable(t, &pool.Placement{Ranks: j.claims})
	if err != nil {
		s.log.Error("building the rank table failed", "job", j.ID, "err", err)
		for r := range out {
			out[r] = extra(nil)
		}
		return out, nil
	}
	addr := launch.Placeholder(t)
	placeholder := addr.HostIP
	addr.HostIP = func(h pool.DomainID) string {
		if n, ok := s.nodes[t.Path(h)]; ok && n.Address != "" {
			return n.Address
		}
		return placeholder(h)
	}
	var files map[string]string
	opts := launch.EnvOptions{MasterPort: 20000 + int(j.Seq%20000)}
	if tb.Family() == pool.FamilyHCCL {
		if rt, err := launch.HCCL(tb, addr); err == nil {
			files = map[string]string{rankTableFile: string(rt.JSON())}
			opts.RankTableFile = rankTableFile
		} else {
			s.log.Warn("no HCCL rank table", "job", j.ID, "err", err)
		}
	}
	envs := launch.Env(tb, addr, opts)
	for r, g := range tb.Groups {
		out[r] = extra(envs[g[0]])
	}
	return out, files
}
