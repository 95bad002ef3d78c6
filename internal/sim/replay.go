package sim

import (
	"container/heap"
	"fmt"
	"maps"
	"math/rand"
	rand2 "math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/score"
	"github.com/qunhq/qun/internal/sim/trace"
	"github.com/qunhq/qun/internal/state"
)

// ReplayOptions configures Replay.
type ReplayOptions struct {
	Policy string
	// Profile, when set, is run instead of the profile Policy names
	// (Policy is then only the label).
	Profile  *sched.Profile
	Seed     int64
	Samples  int // utilisation samples over the run; 0 means 200
	Progress func(done, total int)
}

// ReplayResult is one replay: utilisation over time, waiting and completion
// times, overall and per tenant. Times are in seconds.
type ReplayResult struct {
	Policy       string         `json:"policy"`
	Seed         int64          `json:"seed"`
	Jobs         int            `json:"jobs"`
	Started      int            `json:"started"`
	Completed    int            `json:"completed"`
	NeverStarted int            `json:"never_started"`
	Cycles       int            `json:"cycles"`
	SpanSeconds  int64          `json:"span_seconds"`
	MeanUtil     float64        `json:"mean_util"` // time-weighted allocated GPU share, percent
	Util         []UtilSample   `json:"util"`
	Wait         Dist           `json:"wait"`
	JCT          Dist           `json:"jct"`
	WaitCDF      []CDFPoint     `json:"wait_cdf"`
	Tenants      []TenantResult `json:"tenants"`
	WallSeconds  float64        `json:"wall_seconds"`
}

// UtilSample is the allocated GPU share (percent) at a time.
type UtilSample struct {
	T    int64   `json:"t"`
	Util float64 `json:"util"`
}

// CDFPoint is a point of an empirical distribution: share P of the values
// are at most V.
type CDFPoint struct {
	V float64 `json:"v"`
	P float64 `json:"p"`
}

// Dist summarises a distribution.
type Dist struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// TenantResult is one tenant's share of a replay.
type TenantResult struct {
	Tenant string `json:"tenant"`
	Jobs   int    `json:"jobs"`
	Wait   Dist   `json:"wait"`
	JCT    Dist   `json:"jct"`
}

type event struct {
	t    int64
	kind int // 0 completion, 1 arrival, 2 end of a grace period: completions first at one time
	seq  int
	job  int
	gen  int // completion: the run of the job it ends (a preempted run's completion is stale)
}

type events []event

func (e events) Len() int { return len(e) }
func (e events) Less(a, b int) bool {
	if e[a].t != e[b].t {
		return e[a].t < e[b].t
	}
	if e[a].kind != e[b].kind {
		return e[a].kind < e[b].kind
	}
	return e[a].seq < e[b].seq
}
func (e events) Swap(a, b int) { e[a], e[b] = e[b], e[a] }
func (e *events) Push(x any)   { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}

// Replay runs a trace on the virtual clock: jobs arrive at their submit
// time and leave when their duration has run (a job without one runs to the
// end). The control plane is the in-memory store, sched.Schedule and the
// store's plan applier, one cycle at every time something happens; jobs
// that do not fit wait in the queue.
func Replay(nodes []trace.Node, jobs []trace.Job, o ReplayOptions) (*ReplayResult, error) {
	start := time.Now()
	t, err := BuildPool("replay", nodes, DefaultMaxPods)
	if err != nil {
		return nil, err
	}
	prof := o.Profile
	if prof == nil {
		if prof, err = Profile(o.Policy); err != nil {
			return nil, err
		}
	}
	src := rand.New(rand.NewSource(o.Seed))
	rng := rand2.New(src)
	tenants := map[string]bool{}
	for i := range jobs {
		tenants[jobs[i].Tenant] = true
	}
	var queues []sched.Queue
	for _, n := range slices.Sorted(maps.Keys(tenants)) {
		queues = append(queues, sched.Queue{Name: n, Weight: 1})
	}
	store := state.NewMemStore(t, queues, 0)
	// In a replay every fragmentation-aware policy measures against the
	// workload seen so far: nothing else is known.
	hist := score.NewHistory()

	var q events
	for i := range jobs {
		q = append(q, event{t: jobs[i].Submit, kind: 1, seq: i, job: i})
	}
	heap.Init(&q)
	ids := make([]string, len(jobs))
	startAt := make([]int64, len(jobs))
	endAt := make([]int64, len(jobs))
	for i := range jobs {
		ids[i] = fmt.Sprintf("%s#%d", jobs[i].Name, i)
		startAt[i], endAt[i] = -1, -1
	}
	index := make(map[string]int, len(jobs))
	for i, id := range ids {
		index[id] = i
	}
	capacity := float64(t.NumChips()) * pool.Full
	res := &ReplayResult{Policy: o.Policy, Seed: o.Seed, Jobs: len(jobs)}
	var first, last int64
	if len(jobs) > 0 {
		first = q[0].t
	}
	var utilArea float64
	var utilAt int64 = first
	var utilNow float64
	var samples []UtilSample
	done, seq := 0, len(jobs)
	gen := make([]int, len(jobs))
	for q.Len() > 0 {
		now := q[0].t
		for q.Len() > 0 && q[0].t == now {
			ev := heap.Pop(&q).(event)
			if ev.kind == 2 || ev.kind == 0 && ev.gen != gen[ev.job] {
				continue // a grace period ended (Tick below), or a preempted run's completion
			}
			if ev.kind == 0 {
				if err := store.Complete(ids[ev.job], Epoch.Add(time.Duration(now)*time.Second)); err != nil {
					return nil, err
				}
				endAt[ev.job] = now
				res.Completed++
				continue
			}
			j := &jobs[ev.job]
			sj := toSchedJob(j, ids[ev.job])
			if sj.Queue == "" {
				sj.Queue = "default"
			}
			if err := store.Submit(sj); err != nil {
				return nil, err
			}
			hist.Observe(sj)
			done++
		}
		at := Epoch.Add(time.Duration(now) * time.Second)
		store.Tick(at) // evictions whose grace period ended by now
		snap, err := store.Snapshot(at)
		if err != nil {
			return nil, err
		}
		if len(snap.Pending) > 0 {
			snap.Workload = hist.Workload()
			plan, _ := sched.Schedule(snap, at, rng, prof)
			res.Cycles++
			if len(plan.Start) > 0 || len(plan.Evict) > 0 {
				if err := store.Apply(plan, at); err != nil {
					return nil, fmt.Errorf("apply plan at %ds: %w", now, err)
				}
				for _, ev := range plan.Evict {
					i := index[ev.JobID]
					gen[i]++
					if ev.Grace <= 0 {
						snapRelease(snap.Pool, snap.Running, ev.JobID)
					} else {
						heap.Push(&q, event{t: now + int64((ev.Grace+time.Second-1)/time.Second), kind: 2, seq: seq, job: i})
						seq++
					}
				}
				for _, a := range plan.Start {
					i := index[a.JobID]
					if startAt[i] < 0 {
						startAt[i] = now
						res.Started++
					}
					if d := jobs[i].Duration; d > 0 {
						heap.Push(&q, event{t: now + d, kind: 0, seq: seq, job: i, gen: gen[i]})
						seq++
					}
					snapAlloc(snap.Pool, a.Placement.Ranks)
				}
			}
		}
		// Utilisation, time-weighted.
		utilArea += utilNow * float64(now-utilAt)
		utilNow = 100 * float64(capacityUsed(snap.Pool)) / capacity
		utilAt = now
		last = now
		samples = append(samples, UtilSample{T: now, Util: round2(utilNow)})
		if o.Progress != nil && done%1000 == 0 {
			o.Progress(done, len(jobs))
		}
	}
	res.SpanSeconds = last - first
	if res.SpanSeconds > 0 {
		res.MeanUtil = round2(utilArea / float64(res.SpanSeconds))
	}
	res.Util = downsample(samples, o.Samples)
	var waits, jcts []float64
	per := map[string]*[2][]float64{}
	for i := range jobs {
		if startAt[i] < 0 {
			res.NeverStarted++
			continue
		}
		w := float64(startAt[i] - jobs[i].Submit)
		waits = append(waits, w)
		p := per[jobs[i].Tenant]
		if p == nil {
			p = &[2][]float64{}
			per[jobs[i].Tenant] = p
		}
		p[0] = append(p[0], w)
		if endAt[i] >= 0 {
			c := float64(endAt[i] - jobs[i].Submit)
			jcts = append(jcts, c)
			p[1] = append(p[1], c)
		}
	}
	res.Wait, res.JCT = dist(waits), dist(jcts)
	res.WaitCDF = cdf(waits, 100)
	for _, tn := range slices.Sorted(maps.Keys(tenants)) {
		p := per[tn]
		tr := TenantResult{Tenant: tn}
		for i := range jobs {
			if jobs[i].Tenant == tn {
				tr.Jobs++
			}
		}
		if p != nil {
			tr.Wait, tr.JCT = dist(p[0]), dist(p[1])
		}
		res.Tenants = append(res.Tenants, tr)
	}
	res.WallSeconds = time.Since(start).Seconds()
	return res, nil
}

// snapAlloc keeps the cycle's snapshot in step with the plan just applied,
// so utilisation is read without another snapshot.
func snapAlloc(st *pool.State, claims []pool.Claim) { _ = st.Allocate(claims...) }

// snapRelease frees the chips of a job evicted without grace in the
// cycle's snapshot, as the store did (the snapshot only serves the
// utilisation sample).
func snapRelease(st *pool.State, running []*sched.Job, id string) {
	for _, j := range running {
		if j.ID == id && j.Placement != nil {
			_ = st.Release(j.Placement.Ranks...)
		}
	}
}

func capacityUsed(st *pool.State) int64 {
	t := st.Topology()
	return int64(t.NumChips())*pool.Full - st.FreeMilli(0)
}

func downsample(s []UtilSample, n int) []UtilSample {
	if n <= 0 {
		n = 200
	}
	if len(s) <= n {
		return s
	}
	out := make([]UtilSample, 0, n)
	for i := range n {
		out = append(out, s[i*(len(s)-1)/(n-1)])
	}
	return out
}

func quantile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

func dist(v []float64) Dist {
	if len(v) == 0 {
		return Dist{}
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	var sum float64
	for _, x := range s {
		sum += x
	}
	return Dist{N: len(s), Mean: round2(sum / float64(len(s))), P50: quantile(s, 0.5), P90: quantile(s, 0.9),
		P99: quantile(s, 0.99), Max: s[len(s)-1]}
}

// cdf returns up to n points of the empirical distribution of v.
func cdf(v []float64, n int) []CDFPoint {
	if len(v) == 0 {
		return nil
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	var out []CDFPoint
	for i := 1; i <= n; i++ {
		k := i*len(s)/n - 1
		if k < 0 {
			continue
		}
		out = append(out, CDFPoint{V: s[k], P: round2(float64(k+1) / float64(len(s)))})
	}
	return out
}
