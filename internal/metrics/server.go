package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// Version is the version qun_build_info reports; set at link time with
// -ldflags "-X github.com/qunhq/qun/internal/metrics.Version=v1.2.3".
var Version = "dev"

// Server holds the server's event metrics: the values that are observed
// when something happens rather than computed from the state at scrape
// time. A nil *Server ignores every observation, so code paths and tests
// that run without metrics need no checks.
type Server struct {
	admissionWait *prometheus.HistogramVec
	cycle         prometheus.Histogram
	restarts      *prometheus.CounterVec
	recovery      *prometheus.HistogramVec
}

// waitBuckets spans one second to a day: admission waits of batch pools.
var waitBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400}

// cycleBuckets spans 100 µs to 10 s.
var cycleBuckets = prometheus.ExponentialBucketsRange(0.0001, 10, 16)

// recoveryBuckets spans one second to an hour.
var recoveryBuckets = []float64{1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 3600}

// NewServer creates the server's event metrics and registers them, with
// qun_build_info and the Go and process collectors, on reg.
func NewServer(reg prometheus.Registerer) *Server {
	m := &Server{
		admissionWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "qun_admission_wait_time_seconds",
			Help:    "Time from a job's submission to its first admission (placement), observed when it is placed.",
			Buckets: waitBuckets,
		}, []string{"queue"}),
		cycle: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "qun_scheduling_cycle_duration_seconds",
			Help:    "Wall time of one scheduling cycle: snapshot, scheduler and plan applier.",
			Buckets: cycleBuckets,
		}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "qun_job_restarts_total",
			Help: "Job restarts (a new attempt of a job that had been placed), by cause.",
		}, []string{"cause"}),
		recovery: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "qun_recovery_duration_seconds",
			Help:    "Time from a fault to the job running again, by cause.",
			Buckets: recoveryBuckets,
		}, []string{"cause"}),
	}
	reg.MustRegister(m.admissionWait, m.cycle, m.restarts, m.recovery, BuildInfo())
	return m
}

// BuildInfo returns the qun_build_info gauge (always 1).
func BuildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "qun_build_info",
		Help: "Always 1; the labels say which build of Qun runs.",
	}, []string{"version", "goversion"})
	g.WithLabelValues(Version, runtime.Version()).Set(1)
	return g
}

// AdmissionWait observes the wait of a job of queue that was just placed.
func (m *Server) AdmissionWait(queue string, seconds float64) {
	if m == nil {
		return
	}
	m.admissionWait.WithLabelValues(queue).Observe(max(seconds, 0))
}

// CycleDuration observes one scheduling cycle's wall time.
func (m *Server) CycleDuration(seconds float64) {
	if m == nil {
		return
	}
	m.cycle.Observe(seconds)
}

// JobRestarted counts one restart of a job for cause (a short word such as
// "node-lost", "rank-failed" or "preempted").
func (m *Server) JobRestarted(cause string) {
	if m == nil {
		return
	}
	m.restarts.WithLabelValues(cause).Inc()
}

// ObserveRecovery observes the time a job took to recover from a fault of
// cause: from the fault to the job running again.
func (m *Server) ObserveRecovery(cause string, seconds float64) {
	if m == nil {
		return
	}
	m.recovery.WithLabelValues(cause).Observe(max(seconds, 0))
}
