package sched_test

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/lifecycle"
	"github.com/qunhq/qun/internal/pool"
)

// recoveryCmd runs the scenario commands of faults and recovery, on the
// store's lifecycle (the one the server and the simulator run):
//
//	policy id=X [max=N] [backoff=D] [on=CAUSE,...]   the job's restart policy
//	exit id=X rank=R code=C | exit id=X rank=R signal=S   a rank ends on its own
//	fault node=H              the host is lost (its ranks' jobs recover)
//	back node=H               a lost host is usable again
//	cordon node=H | uncordon node=H | drain node=H
//	state id=X                the job's state, attempt, history and where its ranks run
func (h *harness) recoveryCmd(b block, cmd string, args map[string]string) ([]string, bool) {
	switch cmd {
	case "policy":
		var p job.RestartPolicy
		if v, ok := args["max"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				h.fail(b, "max=%q is not a whole number", v)
			}
			p.MaxRestarts = &n
		}
		if v, ok := args["backoff"]; ok {
			p.Backoff = job.Duration(h.dur(b, v))
		}
		if v, ok := args["on"]; ok {
			for _, c := range strings.Split(v, ",") {
				p.On = append(p.On, job.Cause(c))
			}
		}
		if err := h.store.SetRestartPolicy(args["id"], p); err != nil {
			return []string{err.Error()}, true
		}
		return []string{"ok"}, true
	case "exit":
		r, err := strconv.Atoi(args["rank"])
		if err != nil {
			h.fail(b, "rank=%q is not a whole number", args["rank"])
		}
		ev := lifecycle.Event{Kind: lifecycle.EvRankExited, At: h.now, Rank: r, Signal: args["signal"]}
		if v, ok := args["code"]; ok {
			c, err := strconv.Atoi(v)
			if err != nil {
				h.fail(b, "code=%q is not a whole number", v)
			}
			ev.ExitCode = &c
		}
		if err := h.store.Event(args["id"], ev); err != nil {
			return []string{err.Error()}, true
		}
		return []string{h.stateOf(args["id"])}, true
	case "fault":
		h.store.NodeLost(args["node"], h.now)
		return []string{"ok"}, true
	case "back":
		h.store.NodeBack(args["node"])
		return []string{"ok"}, true
	case "cordon", "uncordon", "drain":
		var ok bool
		switch cmd {
		case "cordon":
			ok = h.store.Cordon(args["node"])
		case "uncordon":
			ok = h.store.Uncordon(args["node"])
		default:
			ok = h.store.Drain(args["node"], h.now)
		}
		if !ok {
			return []string{fmt.Sprintf("no host %q", args["node"])}, true
		}
		return []string{"ok"}, true
	case "state":
		return []string{h.stateOf(args["id"])}, true
	}
	return nil, false
}

// stateOf describes a job's lifecycle state in one line per attempt.
func (h *harness) stateOf(id string) string {
	lc, ok := h.store.JobState(id)
	if !ok {
		return "no job " + id
	}
	s := fmt.Sprintf("%s %s attempt %d restarts %d", id, lc.State, lc.Attempt, lc.Restarts)
	if lc.Placed || len(lc.Kept) > 0 {
		s += " on " + strings.Join(lc.Nodes(), ",")
	}
	if len(lc.Kept) > 0 {
		s += fmt.Sprintf(" (keeps ranks %v)", lc.Kept)
	}
	for _, a := range lc.History {
		s += fmt.Sprintf("\n  attempt %d: %s → %s (%s)", a.Attempt, a.Cause, a.Path, a.Detail)
		for _, m := range a.Replaced {
			s += fmt.Sprintf("; rank %d %s→%s", m.Rank, m.From, m.To)
		}
	}
	return s
}

// hostsOf names the hosts of a placement, in rank order.
func hostsOf(t *pool.Topology, p *pool.Placement) string {
	var out []string
	for _, c := range p.Ranks {
		out = append(out, t.Path(c.Host))
	}
	return strings.Join(out, ",")
}
