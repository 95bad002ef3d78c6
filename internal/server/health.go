package server

import (
	"fmt"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/fault"
)

// NodeFaultEscalation is when a node that keeps faulting is cordoned: this
// many of its devices turning unhealthy within the window (the same rule
// shape as a chip's, docs/faults.md, applied per node by fault.Escalate).
var NodeFaultEscalation = fault.Escalation{Count: 3, Window: time.Hour, Level: fault.IsolateNode}

// deviceHealth acts on the device health a heartbeat reports (docs/faults.md):
//   - a device that turns unhealthy gets no new work until it is healthy
//     again (the snapshot fences it); unless its level is drain-device
//     (the running work stays), the ranks on it stop and their jobs
//     recover elsewhere (device-unhealthy);
//   - isolate-node cordons the node and moves every rank off it;
//   - a node whose devices turn unhealthy NodeFaultEscalation.Count times
//     within its window is cordoned, with the reason.
//
// Callers hold mu.
func (s *Server) deviceHealth(n *nodeRec, health []api.DeviceHealth, now time.Time) {
	if len(health) == 0 {
		return
	}
	at := map[int]int{}
	for i, d := range n.Devices {
		at[d.Index] = i
	}
	bad := map[int]bool{}
	var isolate, why string
	for _, h := range health {
		i, ok := at[h.Index]
		if !ok || n.Devices[i].Healthy == h.Healthy {
			continue
		}
		n.Devices[i].Healthy = h.Healthy
		s.touchNode(n)
		if h.Healthy {
			s.log.Info("device healthy again", "node", n.Name, "device", h.Index)
			s.trigger()
			continue
		}
		lvl, err := fault.ParseLevel(h.Level)
		if err != nil || h.Level == "" {
			lvl = fault.ResetDevice // unhealthy without a level: as an unknown fault
		}
		what := fmt.Sprintf("device %d %s", h.Index, lvl)
		if h.Reason != "" {
			what += " (" + h.Reason + ")"
		}
		s.log.Warn("device unhealthy", "node", n.Name, "device", h.Index, "level", lvl, "reason", h.Reason)
		var esc fault.Level
		esc, n.faults = fault.Escalate(NodeFaultEscalation, lvl, n.faults, now)
		switch {
		case lvl >= fault.IsolateNode:
			isolate = what
		case esc >= fault.IsolateNode && why == "":
			why = fmt.Sprintf("%d device faults within %s, the last %s", len(n.faults), NodeFaultEscalation.Window, what)
		}
		if lvl > fault.DrainDevice {
			bad[h.Index] = true
		}
	}
	switch {
	case isolate != "":
		s.cordon(n, "isolated: "+isolate)
		s.nodeDown(n, "isolated ("+isolate+")")
	case why != "":
		s.cordon(n, "keeps faulting: "+why)
	}
	if len(bad) > 0 {
		s.devicesDown(n, bad, now)
	}
	if len(bad) > 0 || isolate != "" || why != "" {
		s.trigger()
	}
}

// deviceProblems checks a heartbeat's device health entries.
func deviceProblems(hs []api.DeviceHealth) []api.Problem {
	var probs []api.Problem
	seen := map[int]bool{}
	for i, h := range hs {
		f := fmt.Sprintf("devices[%d]", i)
		if h.Index < 0 || seen[h.Index] {
			probs = append(probs, api.Problem{Field: f + ".index", Message: fmt.Sprintf("%d is negative or listed twice", h.Index)})
		}
		seen[h.Index] = true
		if h.Level != "" {
			if _, err := fault.ParseLevel(h.Level); err != nil {
				probs = append(probs, api.Problem{Field: f + ".level", Message: err.Error()})
			}
		}
	}
	return probs
}
