package ha_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/qunhq/qun/api"
)

// The chaos test's model of the job API, one partition per job (client
// names are unique, so a name is a job). An operation's outcome is one of:
//
//	ok        the server answered and the call took effect
//	none      the answer proves nothing changed (not the leader)
//	unknown   no answer, or a failure after which the change may or may
//	          not have been applied (porcupine tries both)
//	notfound  (reads, cancels) the job does not exist
//	conflict  (cancels) the job had already finished
//
// Reads are the client's listings: every name whose submission had begun
// before the listing was sent is observed as found (with its state) or not
// found.

type jobIn struct {
	Kind string // submit, cancel, get
	Name string
}

type jobOut struct {
	Res   string
	State api.JobState
}

type jobState struct {
	Exists    bool
	Cancelled bool         // an acknowledged (or possible) cancel
	Final     api.JobState // the terminal state once observed
}

func terminal(s api.JobState) bool {
	return s == api.JobSucceeded || s == api.JobFailed || s == api.JobCancelled
}

// jobModel is the linearizability model the chaos history is checked
// against.
var jobModel = (&porcupine.NondeterministicModel{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range h {
			n := op.Input.(jobIn).Name
			if _, ok := by[n]; !ok {
				order = append(order, n)
			}
			by[n] = append(by[n], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, n := range order {
			out = append(out, by[n])
		}
		return out
	},
	Init: func() []any { return []any{jobState{}} },
	Step: func(st, in, out any) []any {
		s, i, o := st.(jobState), in.(jobIn), out.(jobOut)
		switch i.Kind {
		case "submit":
			created := jobState{Exists: true}
			switch {
			case s.Exists:
				return nil // names are submitted once
			case o.Res == "ok":
				return []any{created}
			case o.Res == "none":
				return []any{s}
			default:
				return []any{s, created}
			}
		case "cancel":
			if !s.Exists {
				if o.Res == "notfound" || o.Res == "none" || o.Res == "unknown" {
					return []any{s}
				}
				return nil
			}
			c := s
			c.Cancelled = true
			switch o.Res {
			case "ok":
				if s.Final != "" && s.Final != o.State {
					return nil
				}
				return []any{c}
			case "conflict":
				if s.Final == "" && !terminal(o.State) && o.State != "" {
					return nil
				}
				return []any{s}
			case "none":
				return []any{s}
			case "unknown":
				return []any{s, c}
			}
			return nil // notfound for an existing job
		case "get":
			if o.Res == "notfound" {
				if s.Exists {
					return nil // an acknowledged submission lost
				}
				return []any{s}
			}
			if !s.Exists {
				return nil
			}
			switch {
			case s.Final != "" && o.State != s.Final:
				return nil // a finished job changed
			case terminal(o.State):
				n := s
				n.Final = o.State
				return []any{n}
			case s.Cancelled && o.State != api.JobStopping:
				return nil // a cancelled job pending or running again
			}
			return []any{s}
		}
		return nil
	},
	DescribeOperation: func(in, out any) string {
		i, o := in.(jobIn), out.(jobOut)
		return fmt.Sprintf("%s(%s) → %s %s", i.Kind, i.Name, o.Res, o.State)
	},
}).ToModel()

// history records the clients' operations.
type history struct {
	start   time.Time
	mu      sync.Mutex
	ops     []porcupine.Operation
	ids     map[string]string // name → ID of acknowledged submissions
	idNames []string          // names with an ID, for cancels
	begun   []string          // names whose submission has begun, in order
	nacked  int
}

// unknownReturn is the return time of an operation without an answer: it
// may take effect at any time after its call.
const unknownReturn = int64(1) << 62

func (h *history) now() int64 { return int64(time.Since(h.start)) }

func (h *history) add(client int, in jobIn, out jobOut, call, ret int64) {
	if out.Res == "unknown" {
		ret = unknownReturn
	}
	h.mu.Lock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Output: out, Call: call, Return: ret})
	h.mu.Unlock()
}

func (h *history) snapshot() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

func (h *history) acked() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.nacked
}

// outcome classifies an error (see the model).
func outcome(err error) string {
	switch api.ErrorCode(err) {
	case "":
		if err == nil {
			return "ok"
		}
		return "unknown"
	case api.CodeNotLeader:
		return "none"
	case api.CodeNotFound:
		return "notfound"
	case api.CodeConflict:
		return "conflict"
	}
	return "unknown" // unavailable: a write that failed may still have landed
}

func (h *history) submit(ctx context.Context, c *api.Client, client int, name string, chips int) {
	h.mu.Lock()
	h.begun = append(h.begun, name)
	if h.ids == nil {
		h.ids = map[string]string{}
	}
	h.mu.Unlock()
	spec := fmt.Sprintf(`{"apiVersion":"qun/v1","kind":"Job","name":%q,"command":["sleep","1"],"chips":%d}`, name, chips)
	call := h.now()
	j, err := c.SubmitJob(ctx, []byte(spec))
	ret := h.now()
	if ctx.Err() != nil && err != nil {
		h.add(client, jobIn{"submit", name}, jobOut{Res: "unknown"}, call, ret)
		return
	}
	out := jobOut{Res: outcome(err)}
	if err == nil {
		out.State = j.State
		h.mu.Lock()
		h.ids[name] = j.ID
		h.idNames = append(h.idNames, name)
		h.nacked++
		h.mu.Unlock()
	}
	h.add(client, jobIn{"submit", name}, out, call, ret)
}

func (h *history) cancelOne(ctx context.Context, c *api.Client, client int, rng *rand.Rand) {
	h.mu.Lock()
	if len(h.idNames) == 0 {
		h.mu.Unlock()
		return
	}
	name := h.idNames[rng.IntN(len(h.idNames))]
	id := h.ids[name]
	h.mu.Unlock()
	call := h.now()
	j, err := c.CancelJob(ctx, id)
	ret := h.now()
	out := jobOut{Res: outcome(err)}
	if ctx.Err() != nil && err != nil {
		out.Res = "unknown"
	}
	if err == nil {
		out.State = j.State
	}
	h.add(client, jobIn{"cancel", name}, out, call, ret)
}

// list reads every job and records one observation per begun name; it
// reports whether the listing succeeded.
func (h *history) list(ctx context.Context, c *api.Client, client int) bool {
	h.mu.Lock()
	names := append([]string(nil), h.begun...)
	h.mu.Unlock()
	call := h.now()
	l, err := c.ListJobs(ctx, api.ListJobsOptions{})
	ret := h.now()
	if err != nil {
		return false
	}
	got := map[string]api.JobState{}
	for _, j := range l.Jobs {
		got[j.Name] = j.State
	}
	for _, n := range names {
		out := jobOut{Res: "notfound"}
		if st, ok := got[n]; ok {
			out = jobOut{Res: "ok", State: st}
		}
		h.add(client, jobIn{"get", n}, out, call, ret)
	}
	return true
}
