package server

import (
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/qunhq/qun/api"
)

// Node operations: cordon keeps new work off a node (its running ranks
// stay), uncordon undoes it, drain cordons and moves every rank off the
// node, its jobs recovering elsewhere as after a node loss (graded: only
// the ranks on the node move). The scheduler sees a cordoned node's free
// capacity as taken (Snapshot.Cordoned).

// maxCordonReason bounds a cordon reason.
const maxCordonReason = 512

// Cordon cordons a registered node. An unknown node is CodeNotFound and
// changes nothing.
func (s *Server) Cordon(name, reason string) (api.Node, error) {
	return s.nodeOp(name, reason, false)
}

// Drain cordons a node and stops every rank on it; their jobs recover
// elsewhere (cause node-lost, "drained").
func (s *Server) Drain(name, reason string) (api.Node, error) {
	return s.nodeOp(name, reason, true)
}

// Uncordon lets a cordoned node take new work again.
func (s *Server) Uncordon(name string) (api.Node, error) {
	s.mu.Lock()
	out, err := s.uncordon(name)
	want := s.queue()
	s.mu.Unlock()
	return out, s.answer(want, err)
}

// uncordon is Uncordon under mu.
func (s *Server) uncordon(name string) (api.Node, error) {
	if err := s.usable(); err != nil {
		return api.Node{}, err
	}
	n, err := s.node(name)
	if err != nil {
		return api.Node{}, err
	}
	if n.Cordoned {
		n.Cordoned, n.CordonReason = false, ""
		s.touchNode(n)
		s.log.Info("node uncordoned", "node", n.Name)
		s.trigger()
	}
	return n.Node, nil
}

// DecodeCordon reads and checks the body of a cordon or drain request; an
// empty body is no reason.
func DecodeCordon(data []byte) (api.CordonRequest, error) {
	var req api.CordonRequest
	if len(data) == 0 {
		return req, nil
	}
	if err := decodeStrict(data, &req); err != nil {
		return req, err
	}
	return req, checkReason(req.Reason)
}

func checkReason(reason string) error {
	if len(reason) > maxCordonReason || !utf8.ValidString(reason) {
		return &api.Error{Code: api.CodeBadData, Message: "invalid cordon request",
			Problems: []api.Problem{{Field: "reason", Message: fmt.Sprintf("%d bytes; allowed: UTF-8 text of at most %d bytes", len(reason), maxCordonReason)}}}
	}
	return nil
}

func (s *Server) nodeOp(name, reason string, drain bool) (api.Node, error) {
	if err := checkReason(reason); err != nil {
		return api.Node{}, err
	}
	s.mu.Lock()
	out, err := s.nodeOpLocked(name, reason, drain)
	want := s.queue()
	s.mu.Unlock()
	return out, s.answer(want, err)
}

// nodeOpLocked is nodeOp under mu.
func (s *Server) nodeOpLocked(name, reason string, drain bool) (api.Node, error) {
	if err := s.usable(); err != nil {
		return api.Node{}, err
	}
	n, err := s.node(name)
	if err != nil {
		return api.Node{}, err
	}
	if reason == "" {
		reason = "cordoned by request"
		if drain {
			reason = "drained by request"
		}
	}
	s.cordon(n, reason)
	if drain {
		s.nodeDown(n, "drained")
	}
	s.trigger()
	return n.Node, nil
}

// cordon marks a node cordoned with a reason (the first reason stands).
// Callers hold mu.
func (s *Server) cordon(n *nodeRec, reason string) {
	if n.Cordoned {
		return
	}
	n.Cordoned, n.CordonReason = true, reason
	s.touchNode(n)
	s.log.Warn("node cordoned", "node", n.Name, "reason", reason)
}

// handleNodeOp serves POST /v1/nodes/{name}/cordon|uncordon|drain.
func (s *Server) handleNodeOp(op string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4096))
		if err != nil {
			return err
		}
		req, err := DecodeCordon(data)
		if err != nil {
			return err
		}
		var n api.Node
		switch op {
		case "cordon":
			n, err = s.Cordon(r.PathValue("name"), req.Reason)
		case "drain":
			n, err = s.Drain(r.PathValue("name"), req.Reason)
		default:
			n, err = s.Uncordon(r.PathValue("name"))
		}
		return reply(w, http.StatusOK, n, err)
	}
}
