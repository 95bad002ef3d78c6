package server

import (
	"io"
	"net/http"
	"sort"
	"strings"

	"github.com/qunhq/qun/api"
)

// Handler returns the HTTP handler of the v1 API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f func(w http.ResponseWriter, r *http.Request) error) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			if err := s.serving(); err != nil {
				writeError(w, r, s.log, err) // memory may hold what the disk does not
				return
			}
			if err := f(w, r); err != nil {
				writeError(w, r, s.log, err)
			}
		})
	}
	h("POST /v1/jobs", s.handleSubmit)
	h("GET /v1/jobs", s.handleListJobs)
	h("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.Job(r.PathValue("id"))
		return reply(w, http.StatusOK, v, err)
	})
	h("POST /v1/jobs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.Cancel(r.PathValue("id"))
		return reply(w, http.StatusOK, v, err)
	})
	h("GET /v1/jobs/{id}/explain", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.Explain(r.PathValue("id"))
		return reply(w, http.StatusOK, v, err)
	})
	h("GET /v1/jobs/{id}/logs", s.handleGetLogs)
	h("POST /v1/jobs/{id}/logs", s.handleAppendLogs)
	h("POST /v1/nodes", s.handleRegister)
	h("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.Nodes()
		return reply(w, http.StatusOK, v, err)
	})
	h("DELETE /v1/nodes/{name}", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.RemoveNode(r.PathValue("name"))
		return reply(w, http.StatusOK, v, err)
	})
	h("POST /v1/nodes/{name}/heartbeat", s.handleHeartbeat)
	h("GET /v1/nodes/{name}/stream", s.handleStream)
	for _, op := range []string{"cordon", "uncordon", "drain"} {
		h("POST /v1/nodes/{name}/"+op, s.handleNodeOp(op)) // nodeops.go
	}
	h("GET /v1/queues", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.QueueList()
		return reply(w, http.StatusOK, v, err)
	})
	h("GET /v1/pool", func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, s.cfg.Pool.Summarize())
		return nil
	})
	mux.Handle("GET /metrics", s.metricsHandler())
	h("GET /v1/usage", s.handleUsage)
	s.registerViews(h, mux) // the dashboard and its views (views.go)
	h("/", func(w http.ResponseWriter, r *http.Request) error {
		return errorf(api.CodeNotFound, "no endpoint %s %s (see the api package documentation)", r.Method, r.URL.Path)
	})
	return mux
}

// reply writes v as the JSON answer, or returns err.
func reply[T any](w http.ResponseWriter, status int, v T, err error) error {
	if err != nil {
		return err
	}
	writeJSON(w, status, v)
	return nil
}

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request) error {
	data, err := readBody(w, r, maxSpecBytes)
	if err != nil {
		return err
	}
	v, want, err := s.submit(data, queueGuard(r)) // authz_early.go
	if err == nil {
		s.auditEarly(r, http.StatusCreated) // authz_early.go: its fsync overlaps the state's
	}
	return reply(w, http.StatusCreated, v, s.answer(want, err))
}

func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v, err := s.Jobs(api.JobState(q.Get("state")), q.Get("queue"))
	return reply(w, http.StatusOK, v, err)
}

func (s *Server) handleGetLogs(w http.ResponseWriter, r *http.Request) error {
	q, err := parseLogQuery(r.URL.Query().Get, false)
	if err != nil {
		return err
	}
	f, err := s.OpenLog(r.PathValue("id"), q)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = io.Copy(w, f)
	if err != nil {
		s.log.Debug("sending a log failed", "err", err)
	}
	return nil
}

func (s *Server) handleAppendLogs(w http.ResponseWriter, r *http.Request) error {
	q, err := parseLogQuery(r.URL.Query().Get, true)
	if err != nil {
		return err
	}
	if err := s.AppendLog(r.PathValue("id"), q, http.MaxBytesReader(w, r.Body, maxLogBytes)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// DecodeRegister strictly decodes a registration request.
func DecodeRegister(data []byte) (api.RegisterRequest, error) {
	var req api.RegisterRequest
	return req, decodeStrict(data, &req)
}

// DecodeHeartbeat strictly decodes and checks a heartbeat request.
func DecodeHeartbeat(data []byte) (api.HeartbeatRequest, error) {
	var req api.HeartbeatRequest
	if err := decodeStrict(data, &req); err != nil {
		return req, err
	}
	return req, validateHeartbeat(&req)
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		return err
	}
	req, err := DecodeRegister(data)
	if err != nil {
		return err
	}
	n, created, err := s.Register(req)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, n)
	return nil
}

func (s *Server) handleHeartbeat(w http.ResponseWriter, r *http.Request) error {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		return err
	}
	req, err := DecodeHeartbeat(data)
	if err != nil {
		return err
	}
	v, err := s.Heartbeat(r.PathValue("name"), req)
	return reply(w, http.StatusOK, v, err)
}

// QueueList returns the queues with their usage: declared queues, every
// queue a job names and every queue with fair-share history (decayed usage
// as of the last scheduling cycle).
func (s *Server) QueueList() (api.QueueList, error) {
	s.mu.Lock()
	out := s.queueList()
	want := s.observed()
	s.mu.Unlock()
	return out, s.await(want)
}

// queueList is QueueList under mu.
func (s *Server) queueList() api.QueueList {
	t := s.cfg.Pool
	qs := map[string]*api.Queue{}
	get := func(name string) *api.Queue {
		if q, ok := qs[name]; ok {
			return q
		}
		q := &api.Queue{Name: name, Weight: 1}
		if i := strings.LastIndexByte(name, '/'); i > 0 {
			q.Parent = name[:i]
		}
		qs[name] = q
		return q
	}
	for _, d := range s.cfg.Queues {
		q := get(d.Name)
		q.Parent, q.Weight, q.Guaranteed = d.Parent, d.Weight, d.Guaranteed
	}
	for _, j := range s.active {
		q := get(j.Queue)
		switch {
		case j.State == api.JobPending:
			q.Pending++
		case j.holds():
			q.Running++
			for _, c := range j.claims {
				for _, g := range c.Grants {
					if q.InUse == nil {
						q.InUse = map[string]int64{}
					}
					q.InUse[t.Kinds[t.ChipKind(g.Chip)].Name] += int64(g.Milli)
				}
			}
		}
	}
	for name, u := range s.fair.usage {
		get(name).UsageChipSeconds = u
	}
	out := api.QueueList{Queues: []api.Queue{}}
	for _, q := range qs {
		out.Queues = append(out.Queues, *q)
	}
	sort.Slice(out.Queues, func(a, b int) bool { return out.Queues[a].Name < out.Queues[b].Name })
	return out
}

// queueDeclared reports whether a job may name queue. Callers need not hold
// mu: the declared queues never change.
func (s *Server) queueDeclared(queue string) bool {
	for _, q := range s.cfg.Queues {
		if q.Name == queue {
			return true
		}
	}
	return false
}

func (s *Server) queueNames() []string {
	var out []string
	for _, q := range s.cfg.Queues {
		out = append(out, q.Name)
	}
	return out
}
