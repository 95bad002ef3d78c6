package server

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/lifecycle"
)

// encodeNode returns the stored form of a node: without its last
// heartbeat, which is soft (every node gets a full timeout after a
// restart).
func encodeNode(n *nodeRec) ([]byte, error) {
	c := n.Node
	c.LastHeartbeat = time.Time{}
	return json.Marshal(c)
}

func decodeNode(data []byte, n *nodeRec) error { return json.Unmarshal(data, &n.Node) }

// lookupHost resolves a node name (a host's path or unique local name) to
// its canonical name.
func (s *Server) lookupHost(name string) (string, bool) {
	h, ok := s.cfg.Pool.HostByName(name)
	if !ok {
		return "", false
	}
	return s.cfg.Pool.Path(h), true
}

// Register registers a node or, with the same boot ID, re-registers it
// idempotently. It reports whether the node is new.
func (s *Server) Register(r api.RegisterRequest) (api.Node, bool, error) {
	var probs []api.Problem
	canon, ok := s.lookupHost(r.Name)
	switch {
	case r.Name == "":
		probs = append(probs, api.Problem{Field: "name", Message: "required: the node's host name in the pool"})
	case !ok:
		probs = append(probs, api.Problem{Field: "name", Message: fmt.Sprintf("%q is not a host of pool %s", r.Name, s.cfg.Pool.Name)})
	}
	if r.BootID == "" {
		probs = append(probs, api.Problem{Field: "boot_id", Message: "required: an ID that stays the same across agent restarts on one boot"})
	}
	seen := map[int]bool{}
	for i, d := range r.Devices {
		if d.Index < 0 || seen[d.Index] {
			probs = append(probs, api.Problem{Field: fmt.Sprintf("devices[%d].index", i), Message: fmt.Sprintf("%d is negative or listed twice", d.Index)})
		}
		seen[d.Index] = true
	}
	if len(probs) > 0 {
		return api.Node{}, false, &api.Error{Code: api.CodeBadData, Message: "invalid registration", Problems: probs}
	}
	s.mu.Lock()
	out, isNew, err := s.register(canon, r)
	want := s.queue()
	s.mu.Unlock()
	if err == nil && s.await(want) == nil {
		s.trigger()
	}
	return out, isNew, s.answer(want, err)
}

// register is Register under mu.
func (s *Server) register(canon string, r api.RegisterRequest) (api.Node, bool, error) {
	if err := s.usable(); err != nil {
		return api.Node{}, false, err
	}
	now := s.clock.Now()
	n, exists := s.nodes[canon]
	if exists && n.State == api.NodeReady && n.BootID != r.BootID {
		return api.Node{}, false, errorf(api.CodeConflict,
			"node %s is registered by another agent (boot ID %s) that is alive; remove the node or wait until it is lost", canon, n.BootID)
	}
	if exists && n.State == api.NodeReady && n.Address == r.Address && slices.Equal(n.Devices, r.Devices) {
		n.LastHeartbeat = now
		return n.Node, false, nil
	}
	if !exists {
		h, _ := s.cfg.Pool.HostByName(canon)
		n = &nodeRec{host: h}
		n.Name = canon
		s.nodes[canon] = n
	}
	if n.State != api.NodeReady {
		n.RegisteredAt = now
		s.log.Info("node registered", "node", canon, "boot_id", r.BootID, "address", r.Address, "devices", len(r.Devices))
	}
	n.Address, n.BootID, n.State, n.LastHeartbeat = r.Address, r.BootID, api.NodeReady, now
	n.Devices = append([]api.Device{}, r.Devices...)
	s.touchNode(n)
	s.devicesDown(n, unhealthy(n.Devices), now)
	return n.Node, !exists, nil
}

// Nodes lists the registered nodes by name.
func (s *Server) Nodes() (api.NodeList, error) {
	s.mu.Lock()
	out := api.NodeList{Nodes: make([]api.Node, 0, len(s.nodes))}
	for _, n := range s.nodes {
		out.Nodes = append(out.Nodes, n.Node)
	}
	want := s.observed()
	s.mu.Unlock()
	sort.Slice(out.Nodes, func(a, b int) bool { return out.Nodes[a].Name < out.Nodes[b].Name })
	return out, s.await(want)
}

// RemoveNode removes a node: its running jobs fail and its later heartbeats
// get CodeGone.
func (s *Server) RemoveNode(name string) (api.Node, error) {
	s.mu.Lock()
	out, err := s.removeNode(name)
	want := s.queue()
	s.mu.Unlock()
	if err == nil && s.await(want) == nil {
		s.log.Info("node removed", "node", out.Name)
		s.trigger()
	}
	return out, s.answer(want, err)
}

// removeNode is RemoveNode under mu.
func (s *Server) removeNode(name string) (api.Node, error) {
	if err := s.usable(); err != nil {
		return api.Node{}, err
	}
	n, err := s.node(name)
	if err != nil {
		return api.Node{}, err
	}
	if n.State == api.NodeRemoved {
		return api.Node{}, errorf(api.CodeGone, "node %s was already removed", n.Name)
	}
	n.State = api.NodeRemoved
	s.touchNode(n)
	s.nodeDown(n, "removed")
	return n.Node, nil
}

// node returns a registered node by name. Callers hold mu.
func (s *Server) node(name string) (*nodeRec, error) {
	canon, ok := s.lookupHost(name)
	if !ok {
		return nil, errorf(api.CodeNotFound, "no node %q: not a host of pool %s", name, s.cfg.Pool.Name)
	}
	n, ok := s.nodes[canon]
	if !ok {
		return nil, errorf(api.CodeNotFound, "node %s is not registered; register it first", canon)
	}
	return n, nil
}

// validateHeartbeat checks a heartbeat before anything changes.
func validateHeartbeat(r *api.HeartbeatRequest) error {
	var probs []api.Problem
	if r.BootID == "" {
		probs = append(probs, api.Problem{Field: "boot_id", Message: "required"})
	}
	for i, rr := range r.Ranks {
		f := fmt.Sprintf("ranks[%d]", i)
		if rr.JobID == "" {
			probs = append(probs, api.Problem{Field: f + ".job_id", Message: "required"})
		}
		if rr.Rank < 0 || rr.Attempt < 0 {
			probs = append(probs, api.Problem{Field: f, Message: "rank and attempt must not be negative"})
		}
		switch rr.State {
		case api.RankStarting, api.RankRunning, api.RankExited:
		default:
			probs = append(probs, api.Problem{Field: f + ".state", Message: fmt.Sprintf("%q is not a rank state (allowed: starting, running, exited)", rr.State)})
		}
	}
	probs = append(probs, deviceProblems(r.Devices)...) // health.go
	if len(probs) > 0 {
		return &api.Error{Code: api.CodeBadData, Message: "invalid heartbeat", Problems: probs}
	}
	return nil
}

// Heartbeat records a node's report of its ranks and returns every rank
// it should run. It is the one entry point of agent reports, whatever
// transport carried them. Under mu it costs what the node runs (jobs are
// indexed by node) and changes soft state only (the heartbeat time, rank
// liveness), unless a durable fact changed: a rank ended, an attempt
// ended or started running, the node came back. It answers once every
// change it made or saw (an assignment of a new placement) is durable.
func (s *Server) Heartbeat(name string, r api.HeartbeatRequest) (api.HeartbeatResponse, error) {
	if err := validateHeartbeat(&r); err != nil {
		return api.HeartbeatResponse{}, err
	}
	s.mu.Lock()
	marks := s.cm.marks
	resp, n, err := s.heartbeat(name, r)
	var want uint64
	switch {
	case s.cm.marks != marks:
		want = s.queue() // it changed a durable fact
	case n != nil:
		// It read only its node and the jobs on it: it need not wait
		// for the batches of other records (a burst of submissions).
		want = s.observedMark(n.want)
	default:
		want = s.observed()
	}
	s.mu.Unlock()
	if err := s.answer(want, err); err != nil {
		return api.HeartbeatResponse{}, err
	}
	return resp, nil
}

// heartbeat is Heartbeat under mu; it returns the node when it found it.
func (s *Server) heartbeat(name string, r api.HeartbeatRequest) (api.HeartbeatResponse, *nodeRec, error) {
	if err := s.usable(); err != nil {
		return api.HeartbeatResponse{}, nil, err
	}
	n, err := s.node(name)
	if err != nil {
		return api.HeartbeatResponse{}, nil, err
	}
	switch {
	case n.State == api.NodeRemoved:
		return api.HeartbeatResponse{}, n, errorf(api.CodeGone, "node %s was removed; register it again to use it", n.Name)
	case n.BootID != r.BootID:
		return api.HeartbeatResponse{}, n, errorf(api.CodeConflict, "node %s is registered with boot ID %s, not %s; register again", n.Name, n.BootID, r.BootID)
	}
	now := s.clock.Now()
	n.LastHeartbeat = now
	if n.State == api.NodeLost {
		n.State = api.NodeReady
		s.touchNode(n)
		s.log.Info("lost node is back", "node", n.Name)
		s.trigger()
	}
	s.report(n, r.Ranks, now)
	s.deviceHealth(n, r.Devices, now) // health.go
	return api.HeartbeatResponse{Assignments: s.assignments(n), HeartbeatInterval: api.Duration(s.cfg.Heartbeat), Epoch: s.cfg.Epoch}, n, nil
}

// report applies a node's rank reports to the jobs placed on it. Callers
// hold mu.
func (s *Server) report(n *nodeRec, ranks []api.RankReport, now time.Time) {
	type key struct {
		job        string
		attempt, r int
	}
	got := make(map[key]api.RankReport, len(ranks))
	for _, rr := range ranks {
		got[key{rr.JobID, rr.Attempt, rr.Rank}] = rr
	}
	for _, nj := range s.placedOn(n.Name) {
		j := nj.j
		for _, r := range nj.ranks {
			if j.Placement == nil || r >= len(j.LC.Ranks) || r >= len(j.Ranks) {
				break
			}
			rr, ok := got[key{j.ID, j.Attempt, r}]
			lr := j.LC.Ranks[r]
			if !ok {
				if lr.Live {
					s.step(j, lifecycle.Event{Kind: lifecycle.EvRankGone, At: now, Rank: r})
				}
				continue
			}
			if rankUpdate(&j.Ranks[r], rr, now) && rr.State == api.RankExited {
				s.touchRank(j, r) // a durable fact: its own small record
			}
			switch {
			case rr.State == api.RankExited && !lr.Exited:
				s.step(j, lifecycle.Event{Kind: lifecycle.EvRankExited, At: now, Rank: r, ExitCode: j.Ranks[r].ExitCode, Signal: j.Ranks[r].Signal, Detail: rr.Reason})
			case rr.State == api.RankRunning && !lr.Up:
				s.step(j, lifecycle.Event{Kind: lifecycle.EvRankStarted, At: now, Rank: r})
			case rr.State == api.RankStarting && !lr.Live:
				s.step(j, lifecycle.Event{Kind: lifecycle.EvRankAssigned, At: now, Rank: r})
			}
		}
	}
}

// rankUpdate applies one report to a rank's status and reports a change.
func rankUpdate(st *api.RankStatus, rr api.RankReport, now time.Time) bool {
	if st.State == api.RankExited || st.State == rr.State && st.PID == rr.PID {
		return false
	}
	st.State, st.PID = rr.State, rr.PID
	if rr.State != api.RankStarting && st.StartedAt == nil {
		st.StartedAt = &now
	}
	if rr.State == api.RankExited {
		code := rr.ExitCode
		if code == nil && rr.Signal == "" {
			unknown := -1
			code = &unknown
		}
		st.ExitCode, st.Signal, st.ExitedAt = code, rr.Signal, &now
	}
	return true
}

// assignments lists what a node should run and marks it delivered. Callers
// hold mu.
func (s *Server) assignments(n *nodeRec) []api.Assignment {
	out := []api.Assignment{}
	if n.State != api.NodeReady {
		return out
	}
	for _, nj := range s.placedOn(n.Name) {
		j := nj.j
		if j.State != api.JobStarting && j.State != api.JobRunning {
			continue
		}
		for _, r := range nj.ranks {
			if r < len(j.Ranks) && r < len(j.assign) && j.Ranks[r].State != api.RankExited {
				out = append(out, j.assign[r])
				if !j.LC.Ranks[r].Live {
					s.step(j, lifecycle.Event{Kind: lifecycle.EvRankAssigned, At: s.clock.Now(), Rank: r})
				}
			}
		}
	}
	return out
}

// reconcileLoop marks nodes lost when their heartbeats stop.
func (s *Server) reconcileLoop() {
	defer s.wg.Done()
	every := max(s.cfg.NodeTimeout/4, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.Reconcile()
		}
	}
}

// Reconcile marks every ready node whose last heartbeat is older than the
// node timeout lost, and fails the jobs with ranks on it.
func (s *Server) Reconcile() {
	s.mu.Lock()
	lost := s.reconcile()
	want := s.queue()
	s.mu.Unlock()
	if s.await(want) == nil && lost {
		s.trigger()
	}
}

// reconcile is Reconcile under mu; it reports whether a node was lost.
func (s *Server) reconcile() bool {
	if s.usable() != nil {
		return false
	}
	now := s.clock.Now()
	s.tickJobs(now)
	lost := false
	for _, n := range s.nodes {
		// LastHeartbeat is at most a liveness tick behind the stream's
		// last frame (flushLiveness), so only a node that looks silent
		// needs its stream asked.
		if n.State == api.NodeReady && now.Sub(n.LastHeartbeat) > s.cfg.NodeTimeout && now.Sub(s.lastSignOfLife(n)) > s.cfg.NodeTimeout {
			n.State = api.NodeLost
			s.touchNode(n)
			s.log.Warn("node lost", "node", n.Name, "last_heartbeat", n.LastHeartbeat)
			s.nodeDown(n, "lost")
			lost = true
		}
	}
	return lost
}

// nodeDown tells the jobs with ranks on a node that is lost or removed;
// their ranks there count as stopped, and the lifecycle decides between
// recovery and failure. Callers hold mu.
func (s *Server) nodeDown(n *nodeRec, what string) {
	now := s.clock.Now()
	var jobs []*jobRec
	for _, nj := range s.placedOn(n.Name) {
		jobs = append(jobs, nj.j)
	}
	for _, j := range append(jobs, s.keptOn(n.Name)...) {
		s.step(j, lifecycle.Event{Kind: lifecycle.EvNodeLost, At: now, Node: n.Name, Detail: what})
	}
}

// devicesDown tells the jobs holding chips of a node that turned unhealthy.
// Callers hold mu.
func (s *Server) devicesDown(n *nodeRec, bad map[int]bool, now time.Time) {
	if len(bad) == 0 {
		return
	}
	for _, nj := range s.placedOn(n.Name) {
		j := nj.j
		var ranks []int
		var devs []int
		for _, r := range nj.ranks {
			if r >= len(j.Placement) {
				break
			}
			for _, d := range j.Placement[r].Devices {
				if bad[d] {
					ranks = append(ranks, r)
					devs = append(devs, d)
					break
				}
			}
		}
		if len(ranks) > 0 {
			s.step(j, lifecycle.Event{Kind: lifecycle.EvDeviceUnhealthy, At: now, Node: n.Name, Ranks: ranks,
				Detail: fmt.Sprintf("device %d", devs[0])})
		}
	}
}

// unhealthy returns the device indices a node reports unhealthy.
func unhealthy(devs []api.Device) map[int]bool {
	out := map[int]bool{}
	for _, d := range devs {
		if !d.Healthy {
			out[d.Index] = true
		}
	}
	return out
}
