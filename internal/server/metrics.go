package server

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/metrics"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// observability holds the server's Prometheus registry and event metrics.
// The state gauges are computed at scrape time (scrapeSnapshot).
type observability struct {
	reg *prometheus.Registry
	m   *metrics.Server
	// reserved holds the jobs whose estStart the last cycle set. Guarded
	// by the server's mu.
	reserved map[string]bool
}

func newObservability(s *Server) *observability {
	reg := prometheus.NewRegistry()
	o := &observability{reg: reg, m: metrics.NewServer(reg), reserved: map[string]bool{}}
	reg.MustRegister(metrics.NewPoolCollector(s.scrapeSnapshot),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return o
}

// Metrics returns the server's event metrics, for the code that observes
// restarts and recoveries (metrics.Server's JobRestarted, ObserveRecovery).
func (s *Server) Metrics() *metrics.Server { return s.obs.m }

// metricsHandler serves /metrics in the Prometheus exposition formats.
func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.obs.reg, promhttp.HandlerOpts{ErrorLog: slogPrinter{s}})
}

type slogPrinter struct{ s *Server }

func (p slogPrinter) Println(v ...any) { p.s.log.Warn("metrics", "err", v) }

// scrapeSnapshot copies what the pool collector reports. It holds mu only
// to copy memory (a clone of the allocation state and small per-job facts)
// and to fence hosts without a ready agent, as the scheduler's snapshot
// does; the gauges are computed after it returns.
func (s *Server) scrapeSnapshot() metrics.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.cfg.Pool
	snap := metrics.Snapshot{State: s.st.Clone(), Hosts: map[pool.DomainID]metrics.HostFacts{}}
	for _, n := range s.nodes {
		hf := metrics.HostFacts{Ready: n.State == api.NodeReady, Drain: n.Cordoned}
		for _, d := range n.Devices {
			if !d.Healthy {
				if hf.Unhealthy == nil {
					hf.Unhealthy = map[int]bool{}
				}
				hf.Unhealthy[d.Index] = true
			}
		}
		snap.Hosts[n.host] = hf
	}
	// As the scheduler sees it: hosts without a ready agent offer nothing,
	// so their chips count in no free figure.
	for _, h := range t.Hosts() {
		if !snap.Hosts[h].Ready {
			sched.FenceHost(snap.State, h)
		}
	}
	queues := map[string]*metrics.QueueFacts{}
	get := func(name string) *metrics.QueueFacts {
		if q, ok := queues[name]; ok {
			return q
		}
		q := &metrics.QueueFacts{Name: name, InUse: map[string]int64{}}
		queues[name] = q
		return q
	}
	for _, d := range s.cfg.Queues {
		get(d.Name).Guaranteed = d.Guaranteed
	}
	for _, j := range s.active {
		q := get(j.Queue)
		f := metrics.JobFacts{Queue: j.Queue, Pending: j.State == api.JobPending, Holding: j.holds()}
		if f.Pending {
			f.Reason = sched.ReasonNotConsidered
			if len(j.expl) > 0 {
				f.Reason = j.expl[len(j.expl)-1].Reason
			}
		}
		for _, c := range j.claims {
			for _, g := range c.Grants {
				q.InUse[t.Kinds[t.ChipKind(g.Chip)].Name] += int64(g.Milli)
			}
		}
		snap.Jobs = append(snap.Jobs, f)
	}
	for _, q := range queues {
		snap.Queues = append(snap.Queues, *q)
	}
	return snap
}

// noteCycle records what an applied plan tells the metrics and the API:
// the admission wait of jobs placed for the first time, and the estimated
// start of every job the cycle reserved for. Callers hold mu.
func (s *Server) noteCycle(plan *sched.Plan, now time.Time) {
	for _, a := range plan.Start {
		if j := s.jobs[a.JobID]; j != nil && j.Attempt == 0 {
			s.obs.m.AdmissionWait(j.Queue, now.Sub(j.SubmittedAt).Seconds())
		}
	}
	for id := range s.obs.reserved {
		if j := s.jobs[id]; j != nil {
			j.estStart = time.Time{}
		}
	}
	clear(s.obs.reserved)
	for _, r := range plan.Reservations {
		if j := s.active[r.JobID]; j != nil && j.State == api.JobPending {
			j.estStart = r.At
			s.obs.reserved[r.JobID] = true
		}
	}
}

// observeCycle observes the wall time of a cycle that began at start.
func (s *Server) observeCycle(start time.Time) {
	s.obs.m.CycleDuration(time.Since(start).Seconds())
}
