package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qunhq/qun/internal/pool"
)

// Snapshot is the part of the server's state the pool collector reports,
// copied under the server's lock so that every gauge of one scrape agrees
// with the others. It is plain data the collector only reads.
type Snapshot struct {
	State  *pool.State                 // the allocation state (a clone)
	Hosts  map[pool.DomainID]HostFacts // registered hosts; hosts absent here are down
	Jobs   []JobFacts                  // jobs not in a terminal state
	Queues []QueueFacts                // every queue the server knows
}

// HostFacts is what the server knows of a registered host.
type HostFacts struct {
	Ready     bool         // its agent heartbeats
	Drain     bool         // it takes no new work
	Unhealthy map[int]bool // device indexes the agent reports faulty
}

// JobFacts is one active job.
type JobFacts struct {
	Queue   string
	Pending bool
	Holding bool   // holds an allocation (starting, running, stopping)
	Reason  string // pending jobs: the reason code of the scheduler's latest record
}

// QueueFacts is one queue's guarantee and current use, in thousandths of a
// chip per kind name.
type QueueFacts struct {
	Name       string
	Guaranteed map[string]int64
	InUse      map[string]int64
}

// PoolCollector computes the server's state gauges at scrape time from the
// snapshot its function returns. The function must be cheap and do no I/O:
// it runs under the server's lock.
type PoolCollector struct {
	snapshot func() Snapshot

	pending, running, chips, nodes            *prometheus.Desc
	domainFree, fragmentation, largestGang    *prometheus.Desc
	queueUsage, queueGuarantee, queueBorrowed *prometheus.Desc
}

// NewPoolCollector returns a collector over snapshot.
func NewPoolCollector(snapshot func() Snapshot) *PoolCollector {
	d := prometheus.NewDesc
	return &PoolCollector{
		snapshot:       snapshot,
		pending:        d("qun_pending_jobs", "Pending jobs by queue and the reason code of the scheduler's latest record for them.", []string{"queue", "reason"}, nil),
		running:        d("qun_running_jobs", "Jobs holding an allocation (starting, running or stopping) by queue.", []string{"queue"}, nil),
		chips:          d("qun_chips", "Chips by kind and Slurm state word: idle, alloc (any share allocated), drain, down (no ready agent or a device fault).", []string{"kind", "state"}, nil),
		nodes:          d("qun_nodes", "Hosts of the pool by Slurm state word: idle, mix, alloc, drain, down.", []string{"state"}, nil),
		domainFree:     d("qun_domain_free_chips", "Chips in fully free domains of the level.", []string{"level"}, nil),
		fragmentation:  d("qun_fragmentation_ratio", "1 − Σ largest free aligned block / Σ free chips over the level's domains; 0 when nothing is free.", []string{"level"}, nil),
		largestGang:    d("qun_largest_placeable_gang_chips", "Most fully free chips of the kind inside one domain of the level.", []string{"level", "kind"}, nil),
		queueUsage:     d("qun_queue_usage_chips", "Chips a queue's jobs hold, by kind (fractions for shared chips).", []string{"queue", "kind"}, nil),
		queueGuarantee: d("qun_queue_guarantee_chips", "Chips guaranteed to a queue, by kind.", []string{"queue", "kind"}, nil),
		queueBorrowed:  d("qun_queue_borrowed_chips", "Chips a queue uses beyond its guarantee, by kind.", []string{"queue", "kind"}, nil),
	}
}

// Describe sends every metric's description.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pending, c.running, c.chips, c.nodes, c.domainFree, c.fragmentation,
		c.largestGang, c.queueUsage, c.queueGuarantee, c.queueBorrowed} {
		ch <- d
	}
}

// Collect takes a snapshot and sends every gauge computed from it.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snapshot()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	type ql struct{ queue, reason string }
	pending := map[ql]int{}
	running := map[string]int{}
	for _, q := range s.Queues {
		running[q.Name] = 0
	}
	for _, j := range s.Jobs {
		switch {
		case j.Pending:
			pending[ql{j.Queue, j.Reason}]++
		case j.Holding:
			running[j.Queue]++
		}
	}
	for k, n := range pending {
		gauge(c.pending, float64(n), k.queue, k.reason)
	}
	for q, n := range running {
		gauge(c.running, float64(n), q)
	}
	for _, q := range s.Queues {
		kinds := map[string]bool{}
		for k := range q.Guaranteed {
			kinds[k] = true
		}
		for k := range q.InUse {
			kinds[k] = true
		}
		for k := range kinds {
			use, g := float64(q.InUse[k])/pool.Full, float64(q.Guaranteed[k])/pool.Full
			gauge(c.queueUsage, use, q.Name, k)
			gauge(c.queueGuarantee, g, q.Name, k)
			gauge(c.queueBorrowed, max(0, use-g), q.Name, k)
		}
	}
	if s.State == nil {
		return
	}
	chips, nodes := ChipAndNodeStates(s)
	for kind, byState := range chips {
		for _, st := range ChipStates {
			gauge(c.chips, float64(byState[st]), kind, st)
		}
	}
	for _, st := range NodeStates {
		gauge(c.nodes, float64(nodes[st]), st)
	}
	for _, l := range PoolFigures(s.State) {
		gauge(c.domainFree, float64(l.FreeChips), l.Level)
		gauge(c.fragmentation, l.Fragmentation, l.Level)
		kinds := make([]string, 0, len(l.LargestGang))
		for k := range l.LargestGang {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			gauge(c.largestGang, float64(l.LargestGang[k]), l.Level, k)
		}
	}
}

// ChipAndNodeStates counts the chips per kind and state word, and the hosts
// per state word. A chip is down when its host has no ready agent or its
// device is faulty, drain when its host takes no new work, alloc when any
// share of it is allocated, else idle.
func ChipAndNodeStates(s Snapshot) (chips map[string]map[string]int, nodes map[string]int) {
	t := s.State.Topology()
	chips = map[string]map[string]int{}
	for _, k := range t.Kinds {
		chips[k.Name] = map[string]int{}
	}
	nodes = map[string]int{}
	for _, h := range t.Hosts() {
		hf, registered := s.Hosts[h]
		ready := registered && hf.Ready
		lo, hi := t.ChipRange(h)
		used := 0
		for c := lo; c < hi; c++ {
			kind := t.Kinds[t.ChipKind(c)].Name
			alloc := s.State.ChipFree(c) < pool.Full
			if alloc {
				used++
			}
			switch {
			case !ready || hf.Unhealthy[t.ChipIndex(c)]:
				chips[kind][StateDown]++
			case hf.Drain:
				chips[kind][StateDrain]++
			case alloc:
				chips[kind][StateAlloc]++
			default:
				chips[kind][StateIdle]++
			}
		}
		nodes[SlurmNodeState(ready, hf.Drain, used, int(hi-lo))]++
	}
	return chips, nodes
}
