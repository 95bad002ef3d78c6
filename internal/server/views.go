package server

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/comm"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/web"
)

// This file holds the read-only views the dashboard draws (web/): the
// aggregated pool map, a job's placement and modelled communication, usage
// history and log tails, and serves the dashboard itself at /.

// Limits of the map view: depth counts levels below the domain (a leaf's
// chips count as one level); a window of more domains is refused, so a
// response stays small enough to draw at once.
const (
	maxMapDepth   = 4
	maxMapDomains = 20000
	// maxUsageBuckets bounds a usage history.
	maxUsageBuckets = 1440
	// maxTailBytes bounds a log tail.
	maxTailBytes = 1 << 20
)

// routeFunc registers one API route (Handler's helper).
type routeFunc func(pattern string, f func(w http.ResponseWriter, r *http.Request) error)

// registerViews registers the dashboard and the API routes it needs.
func (s *Server) registerViews(h routeFunc, mux *http.ServeMux) {
	ui := web.Handler()
	mux.Handle("GET /{$}", ui)
	mux.Handle("GET /ui/", ui)
	h("GET /v1/pool/map", func(w http.ResponseWriter, r *http.Request) error {
		q, err := ParseMapQuery(r.URL.Query().Get, s.cfg.Pool)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.PoolMap(q))
		return nil
	})
	h("GET /v1/jobs/{id}/placement", func(w http.ResponseWriter, r *http.Request) error {
		v, err := s.JobPlacement(r.PathValue("id"))
		return reply(w, http.StatusOK, v, err)
	})
	h("GET /v1/usage/history", func(w http.ResponseWriter, r *http.Request) error {
		q, err := ParseUsageQuery(r.URL.Query().Get)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.UsageHistory(q))
		return nil
	})
	h("GET /v1/jobs/{id}/logs/tail", s.handleLogTail)
}

// MapQuery selects a pool map window: a domain and how many levels below it.
type MapQuery struct {
	Domain pool.DomainID
	Depth  int
}

// ParseMapQuery reads domain (an ID, default the root) and depth (default
// 2) and checks the window is small enough.
func ParseMapQuery(get func(string) string, t *pool.Topology) (MapQuery, error) {
	q := MapQuery{Depth: 2}
	var probs []api.Problem
	if v := get("domain"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n >= t.NumDomains() {
			return q, &api.Error{Code: api.CodeBadData, Message: "invalid pool map query", Problems: []api.Problem{{Field: "domain",
				Message: fmt.Sprintf("%q is not a domain ID of pool %s (0 to %d)", v, t.Name, t.NumDomains()-1)}}}
		}
		q.Domain = pool.DomainID(n)
	}
	if v := get("depth"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxMapDepth {
			probs = append(probs, api.Problem{Field: "depth", Message: fmt.Sprintf("%q is not a depth (0 to %d)", v, maxMapDepth)})
		} else {
			q.Depth = n
		}
	}
	if len(probs) == 0 {
		if n := windowSize(t, q.Domain, q.Depth); n > maxMapDomains {
			probs = append(probs, api.Problem{Field: "depth", Message: fmt.Sprintf(
				"depth %d below domain %d (%s) spans %d domains and chips; at most %d: ask less depth or a smaller domain",
				q.Depth, q.Domain, t.Path(q.Domain), n, maxMapDomains)})
		}
	}
	if len(probs) > 0 {
		return q, &api.Error{Code: api.CodeBadData, Message: "invalid pool map query", Problems: probs}
	}
	return q, nil
}

// windowSize counts the domains (and leaf chips) within depth levels below
// d, stopping as soon as the count exceeds maxMapDomains.
func windowSize(t *pool.Topology, d pool.DomainID, depth int) int {
	n := 1
	var walk func(d pool.DomainID, left int)
	walk = func(d pool.DomainID, left int) {
		if left == 0 || n > maxMapDomains {
			return
		}
		if t.IsLeaf(d) {
			n += t.Size(d)
		}
		for _, c := range t.Children(d) {
			n++
			walk(c, left-1)
		}
	}
	walk(d, depth)
	return n
}

// Chip states of the map.
const (
	chipFree  = "free"
	chipAlloc = "alloc"
	chipDown  = "down"
)

// mapSnap is what a pool map reads, copied under mu so that the map is
// computed without it.
type mapSnap struct {
	t         *pool.Topology
	st        *pool.State
	ready     []bool // per domain: a host with a ready agent
	unhealthy map[pool.ChipID]bool
	owner     map[pool.ChipID]int // index into jobs
	jobs      []ownerJob
}

type ownerJob struct{ id, queue string }

func (s *Server) mapSnapshot() *mapSnap {
	t := s.cfg.Pool
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &mapSnap{t: t, st: s.st.Clone(), ready: make([]bool, t.NumDomains()), unhealthy: map[pool.ChipID]bool{}, owner: map[pool.ChipID]int{}}
	for _, n := range s.nodes {
		if n.State != api.NodeReady {
			continue
		}
		m.ready[n.host] = true
		for _, d := range n.Devices {
			if !d.Healthy {
				if c, ok := chipAt(t, n.host, d.Index); ok {
					m.unhealthy[c] = true
				}
			}
		}
	}
	ids := make([]string, 0, len(s.placed))
	for id := range s.placed {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return cmpID(ids[a], ids[b]) < 0 })
	for _, id := range ids {
		j := s.placed[id]
		m.jobs = append(m.jobs, ownerJob{id: j.ID, queue: j.Queue})
		for _, c := range j.claims {
			for _, g := range c.Grants {
				if _, taken := m.owner[g.Chip]; !taken {
					m.owner[g.Chip] = len(m.jobs) - 1
				}
			}
		}
	}
	return m
}

func (m *mapSnap) chipState(c pool.ChipID) uint8 {
	switch {
	case m.st.ChipFree(c) < pool.Full:
		return stAlloc
	case !m.ready[m.t.ChipHost(c)] || len(m.unhealthy) > 0 && m.unhealthy[c]:
		return stDown
	}
	return stFree
}

// Chip states in mapAgg.state.
const (
	stFree uint8 = iota
	stAlloc
	stDown
)

var stateNames = [...]string{stFree: chipFree, stAlloc: chipAlloc, stDown: chipDown}

// mapAgg holds the state of every chip and the aggregates of every domain.
type mapAgg struct {
	state []uint8 // per chip

	free, alloc, down, largest []int32
	kfree                      []int32 // domain*kinds + kind: free chips of the kind
	end                        []int32 // the subtree of d is [d, end[d])
}

func (m *mapSnap) aggregate() *mapAgg {
	t := m.t
	n, nk := t.NumDomains(), len(t.Kinds)
	a := &mapAgg{state: make([]uint8, t.NumChips()), free: make([]int32, n), alloc: make([]int32, n), down: make([]int32, n), largest: make([]int32, n),
		kfree: make([]int32, n*nk), end: make([]int32, n)}
	for c := pool.ChipID(0); int(c) < t.NumChips(); c++ {
		d := t.ChipLeaf(c)
		st := m.chipState(c)
		a.state[c] = st
		switch st {
		case stFree:
			a.free[d]++
			a.kfree[int(d)*nk+int(t.ChipKind(c))]++
		case stAlloc:
			a.alloc[d]++
		default:
			a.down[d]++
		}
	}
	childMax := make([]int32, n)
	for i := n - 1; i >= 0; i-- {
		d := pool.DomainID(i)
		size := int32(t.Size(d))
		switch {
		case a.free[d] == size:
			a.largest[d] = size
		case t.IsLeaf(d) && a.free[d] > 0:
			a.largest[d] = max(1, childMax[d])
		default:
			a.largest[d] = childMax[d]
		}
		if a.end[d] == 0 {
			a.end[d] = int32(i + 1)
		}
		p := t.Parent(d)
		if p == pool.NoDomain {
			continue
		}
		a.free[p] += a.free[d]
		a.alloc[p] += a.alloc[d]
		a.down[p] += a.down[d]
		for k := 0; k < nk; k++ {
			a.kfree[int(p)*nk+k] += a.kfree[int(d)*nk+k]
		}
		childMax[p] = max(childMax[p], a.largest[d])
		a.end[p] = max(a.end[p], a.end[d], int32(p)+1)
	}
	return a
}

// PoolMap returns the map window q (see api.PoolMap).
func (s *Server) PoolMap(q MapQuery) api.PoolMap {
	m := s.mapSnapshot()
	t := m.t
	a := m.aggregate()
	out := api.PoolMap{Pool: t.Name, HostLevel: t.HostLevel, Depth: q.Depth}
	for _, l := range t.Levels {
		out.Levels = append(out.Levels, l.Name)
	}
	var path []pool.DomainID
	for d := q.Domain; d != pool.NoDomain; d = t.Parent(d) {
		path = append(path, d)
	}
	for i := len(path) - 1; i >= 0; i-- {
		d := path[i]
		out.Path = append(out.Path, api.MapCrumb{ID: int(d), Name: t.DomainName(d), Level: t.LevelOf(d)})
	}

	// Queue and job counts of the window's domains.
	base := t.LevelOf(q.Domain)
	lo, hi := t.ChipRange(q.Domain)
	queues := map[pool.DomainID]map[string]int{}
	jobs := map[pool.DomainID]map[string]int{}
	for c, ji := range m.owner {
		if c < lo || c >= hi {
			continue
		}
		for d := t.ChipLeaf(c); d != pool.NoDomain && t.LevelOf(d) >= base; d = t.Parent(d) {
			if t.LevelOf(d)-base > q.Depth {
				continue
			}
			if queues[d] == nil {
				queues[d], jobs[d] = map[string]int{}, map[string]int{}
			}
			queues[d][m.jobs[ji].queue]++
			jobs[d][m.jobs[ji].id]++
		}
	}
	var build func(d pool.DomainID, left int) api.MapDomain
	build = func(d pool.DomainID, left int) api.MapDomain {
		md := api.MapDomain{ID: int(d), Name: t.DomainName(d), Level: t.LevelOf(d), Chips: t.Size(d),
			Free: int(a.free[d]), Alloc: int(a.alloc[d]), Down: int(a.down[d]), Largest: int(a.largest[d]),
			Queues: queues[d], Jobs: topJobs(jobs[d], 4)}
		if md.Free > 0 {
			md.Frag = round3(1 - float64(md.Largest)/float64(md.Free))
		}
		kids := t.Children(d)
		if left == 0 {
			md.More = len(kids) > 0 || t.IsLeaf(d)
			return md
		}
		for _, c := range kids {
			md.Children = append(md.Children, build(c, left-1))
		}
		if t.IsLeaf(d) {
			clo, chi := t.ChipRange(d)
			for c := clo; c < chi; c++ {
				mc := api.MapChip{Index: t.ChipIndex(c), Kind: t.Kinds[t.ChipKind(c)].Name, State: stateNames[a.state[c]],
					Healthy: !m.unhealthy[c], UsedMilli: pool.Full - m.st.ChipFree(c)}
				if ji, ok := m.owner[c]; ok {
					mc.Job, mc.Queue = m.jobs[ji].id, m.jobs[ji].queue
				}
				md.ChipList = append(md.ChipList, mc)
			}
		}
		return md
	}
	out.Domain = build(q.Domain, q.Depth)

	// Chips by kind and state.
	kinds := make([]api.MapKind, len(t.Kinds))
	for c := lo; c < hi; c++ {
		mk := &kinds[t.ChipKind(c)]
		mk.Chips++
		switch a.state[c] {
		case stFree:
			mk.Free++
		case stAlloc:
			mk.Alloc++
		default:
			mk.Down++
		}
	}
	out.Kinds = []api.MapKind{}
	for k, mk := range kinds {
		if mk.Chips > 0 {
			mk.Kind = t.Kinds[k].Name
			out.Kinds = append(out.Kinds, mk)
		}
	}
	sort.Slice(out.Kinds, func(i, j int) bool { return out.Kinds[i].Kind < out.Kinds[j].Kind })

	// Per level statistics over the subtree.
	nk := len(t.Kinds)
	deepest := max(base, t.HostLevel)
	stats := make([]api.MapLevel, 0, deepest-base+1)
	for l := base; l <= deepest && l < len(t.Levels); l++ {
		stats = append(stats, api.MapLevel{Level: t.Levels[l].Name, LargestGang: map[string]int{}})
	}
	whollyFreeChips := make([]int, len(stats))
	for i := int(q.Domain); i < int(a.end[q.Domain]); i++ {
		d := pool.DomainID(i)
		l := t.LevelOf(d) - base
		if l >= len(stats) {
			continue
		}
		ls := &stats[l]
		ls.Domains++
		if a.free[d] == int32(t.Size(d)) {
			ls.WhollyFree++
			whollyFreeChips[l] += int(a.free[d])
		}
		for k := 0; k < nk; k++ {
			if f := int(a.kfree[i*nk+k]); f > ls.LargestGang[t.Kinds[k].Name] {
				ls.LargestGang[t.Kinds[k].Name] = f
			}
		}
	}
	total := int(a.free[q.Domain])
	for l := range stats {
		if total > 0 {
			stats[l].Fragmentation = round3(1 - float64(whollyFreeChips[l])/float64(total))
		}
		for k := range stats[l].LargestGang {
			if stats[l].LargestGang[k] == 0 {
				delete(stats[l].LargestGang, k)
			}
		}
	}
	out.LevelStats = stats
	return out
}

// topJobs keeps the n jobs holding the most chips.
func topJobs(m map[string]int, n int) map[string]int {
	if len(m) <= n {
		return m
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool {
		if m[ids[a]] != m[ids[b]] {
			return m[ids[a]] > m[ids[b]]
		}
		return cmpID(ids[a], ids[b]) < 0
	})
	out := make(map[string]int, n)
	for _, id := range ids[:n] {
		out[id] = m[id]
	}
	return out
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// finiteOr returns x, or v when x is infinite or NaN (JSON cannot carry
// them).
func finiteOr(x, v float64) float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return v
	}
	return x
}

// viewPlacer models communication for the job view; it memoises lower
// bounds per topology.
var viewPlacer = place.New(place.Options{})

// commCache keeps the communication model of a job's attempt (its
// placement does not change within an attempt), so that a job page polled
// every 2 s costs one model; it is emptied when it holds maxCommCache.
var commCache struct {
	sync.Mutex
	m map[commKey]*api.CommModel
}

// commKey names a job's attempt by the job's own spec record, which no
// other job or server shares.
type commKey struct {
	spec    *job.Spec
	attempt int
}

const maxCommCache = 4096

// JobPlacement returns where a job's chips are and its modelled
// communication. A job that never ran has no chips.
func (s *Server) JobPlacement(id string) (api.JobPlacement, error) {
	t := s.cfg.Pool
	s.mu.Lock()
	j, ok := s.jobs[id]
	if !ok {
		s.mu.Unlock()
		return api.JobPlacement{}, errorf(api.CodeNotFound, "no job %q", id)
	}
	spec, pl := j.spec, append([]api.RankPlacement(nil), j.Placement...)
	sj := *j.sj
	key := commKey{spec: j.spec, attempt: j.Attempt}
	s.mu.Unlock()

	out := api.JobPlacement{JobID: id, Domains: []int{}, Hosts: []int{}, Enclosing: -1, Chips: []api.PlacedChip{}}
	claims, err := claimsOf(t, spec, pl)
	if err != nil || len(claims) == 0 {
		return out, nil
	}
	doms := map[pool.DomainID]bool{}
	var chips []pool.ChipID
	for r, c := range claims {
		for _, g := range c.Grants {
			chips = append(chips, g.Chip)
			out.Chips = append(out.Chips, api.PlacedChip{Rank: r, Host: int(c.Host), Leaf: int(t.ChipLeaf(g.Chip)), Node: t.Path(c.Host), Device: t.ChipIndex(g.Chip)})
			for d := t.ChipLeaf(g.Chip); d != pool.NoDomain && !doms[d]; d = t.Parent(d) {
				doms[d] = true
			}
		}
		doms[c.Host] = true
	}
	for d := range doms {
		out.Domains = append(out.Domains, int(d))
		if t.HostOf(d) == d {
			out.Hosts = append(out.Hosts, int(d))
		}
	}
	sort.Ints(out.Domains)
	sort.Ints(out.Hosts)
	// The smallest enclosing domain is the deepest domain holding every chip.
	if len(chips) > 0 {
		best := pool.DomainID(0)
		for _, d := range out.Domains {
			lo, hi := t.ChipRange(pool.DomainID(d))
			all := true
			for _, c := range chips {
				all = all && c >= lo && c < hi
			}
			if all && t.LevelOf(pool.DomainID(d)) >= t.LevelOf(best) {
				best = pool.DomainID(d)
			}
		}
		out.Enclosing = int(best)
	}
	commCache.Lock()
	cm, ok := commCache.m[key]
	commCache.Unlock()
	if !ok {
		cm = commModel(t, &sj, chips)
		commCache.Lock()
		if commCache.m == nil || len(commCache.m) >= maxCommCache {
			commCache.m = map[commKey]*api.CommModel{}
		}
		commCache.m[key] = cm
		commCache.Unlock()
	}
	out.Comm = cm
	return out, nil
}

// commModel models the step communication of a whole-chip job on chips
// against its lower bound, or returns nil when there is nothing to model.
func commModel(t *pool.Topology, sj *sched.Job, chips []pool.ChipID) *api.CommModel {
	if _, whole := sj.WholeChips(); !whole || len(chips) < 2 {
		return nil
	}
	sj.Placement = nil
	d := viewPlacer.Decide(plugins.PlaceRequest(sj), pool.NewState(t), place.Env{})
	if d.Plan.Ranks() != len(chips) {
		return nil
	}
	c32 := make([]int32, len(chips))
	for i, c := range chips {
		c32[i] = int32(c)
	}
	est := comm.EstimateStep(viewPlacer.Fabric(t), c32, d.Plan, d.Volumes)
	if math.IsInf(est.Seconds, 0) {
		return nil
	}
	p := d.Plan
	cm := &api.CommModel{
		Plan:    fmt.Sprintf("tp%d pp%d dp%d ep%d", max(p.Tensor, 1), max(p.Pipeline, 1), max(p.Data, 1), max(p.Expert, 1)),
		Seconds: est.Seconds, LowerBound: finiteOr(d.LowerBound.Seconds, -1), Defaulted: d.VolumesDefaulted, Kind: d.Kind,
		Volumes: map[string]int64{"tensor": int64(d.Volumes.TensorBytes), "pipeline": int64(d.Volumes.PipelineBytes),
			"data": int64(d.Volumes.DataBytes), "expert": int64(d.Volumes.ExpertBytes)},
		Items: []api.CommItem{},
	}
	cm.Ratio = 1
	if cm.LowerBound > 0 {
		cm.Ratio = round3(cm.Seconds / cm.LowerBound)
	}
	bound := map[string]comm.Item{}
	for _, it := range d.LowerBound.Items {
		bound[it.Collective] = it
	}
	for _, it := range est.Items {
		b := bound[it.Collective]
		cm.Items = append(cm.Items, api.CommItem{Collective: it.Collective, Algorithm: it.Algorithm, Level: it.Level,
			Seconds: finiteOr(it.Seconds, -1), BoundLevel: b.Level, BoundSeconds: finiteOr(b.Seconds, -1)})
	}
	return cm
}

// UsageQuery selects a usage history: Window back from now in buckets of
// Step.
type UsageQuery struct {
	Window, Step time.Duration
}

// ParseUsageQuery reads window (default 1h) and step (default window/60).
func ParseUsageQuery(get func(string) string) (UsageQuery, error) {
	q := UsageQuery{Window: time.Hour}
	var probs []api.Problem
	dur := func(name string, dst *time.Duration) {
		v := get(name)
		if v == "" {
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 366*24*time.Hour {
			probs = append(probs, api.Problem{Field: name, Message: fmt.Sprintf("%q is not a duration between 1s and 8784h (e.g. 90m, 24h)", v)})
			return
		}
		*dst = d
	}
	dur("window", &q.Window)
	dur("step", &q.Step)
	if len(probs) == 0 {
		if q.Step == 0 {
			q.Step = max(q.Window/60, time.Second)
		}
		if q.Step > q.Window {
			probs = append(probs, api.Problem{Field: "step", Message: fmt.Sprintf("%v is longer than the window %v", q.Step, q.Window)})
		} else if n := (q.Window + q.Step - 1) / q.Step; n > maxUsageBuckets {
			probs = append(probs, api.Problem{Field: "step", Message: fmt.Sprintf("%v makes %d buckets of the window %v; at most %d", q.Step, n, q.Window, maxUsageBuckets)})
		}
	}
	if len(probs) > 0 {
		return q, &api.Error{Code: api.CodeBadData, Message: "invalid usage query", Problems: probs}
	}
	return q, nil
}

// UsageHistory returns chip-hours per queue and kind over q's window
// ending now, from every allocation a job held (one per attempt, kept with
// the job), so restarted and recovered attempts count too.
func (s *Server) UsageHistory(q UsageQuery) api.UsageHistory {
	s.mu.Lock()
	now := s.clock.Now()
	spans := s.heldSpans(now, nil)
	s.mu.Unlock()
	return usageHistory(spans, now, q, s.cfg.Pool.NumChips())
}

func usageHistory(spans []heldSpan, now time.Time, q UsageQuery, chips int) api.UsageHistory {
	n := int((q.Window + q.Step - 1) / q.Step)
	from := now.Add(-time.Duration(n) * q.Step)
	out := api.UsageHistory{From: from, To: now, Step: api.Duration(q.Step), Chips: chips,
		Buckets: make([]api.UsageBucket, n), Totals: map[string]map[string]float64{}}
	for i := range out.Buckets {
		out.Buckets[i] = api.UsageBucket{Start: from.Add(time.Duration(i) * q.Step), ChipHours: map[string]map[string]float64{}}
	}
	add := func(m map[string]map[string]float64, queue, kind string, v float64) {
		if m[queue] == nil {
			m[queue] = map[string]float64{}
		}
		m[queue][kind] += v
	}
	for _, sp := range spans {
		if !sp.end.After(from) || !sp.start.Before(now) {
			continue
		}
		for i := max(0, int(sp.start.Sub(from)/q.Step)); i < n; i++ {
			b := &out.Buckets[i]
			if !sp.end.After(b.Start) {
				break
			}
			sp.chipHours(b.Start, b.Start.Add(q.Step), func(kind string, h float64) {
				add(b.ChipHours, sp.queue, kind, h)
				add(out.Totals, sp.queue, kind, h)
			})
		}
	}
	for i := range out.Buckets {
		b := &out.Buckets[i]
		var sum float64
		for _, ks := range b.ChipHours {
			for _, v := range ks {
				sum += v
			}
		}
		if chips > 0 {
			b.Utilisation = round3(sum / (float64(chips) * q.Step.Hours()))
		}
	}
	return out
}

// handleLogTail answers the last bytes (default 16 KiB) of a rank's log,
// starting after a line break where one is in range.
func (s *Server) handleLogTail(w http.ResponseWriter, r *http.Request) error {
	get := r.URL.Query().Get
	q, err := parseLogQuery(get, false)
	if err != nil {
		return err
	}
	n := int64(16 << 10)
	if v := get("bytes"); v != "" {
		b, err := strconv.ParseInt(v, 10, 64)
		if err != nil || b < 1 || b > maxTailBytes {
			return &api.Error{Code: api.CodeBadData, Message: "invalid log selector",
				Problems: []api.Problem{{Field: "bytes", Message: fmt.Sprintf("%q is not a byte count (1 to %d)", v, maxTailBytes)}}}
		}
		n = b
	}
	f, err := s.OpenLog(r.PathValue("id"), q)
	if err != nil {
		return err
	}
	defer f.Close()
	var data []byte
	if file, ok := f.(*os.File); ok {
		cut := false
		if st, err := file.Stat(); err == nil && st.Size() > n {
			if _, err := file.Seek(st.Size()-n, io.SeekStart); err != nil {
				return err
			}
			cut = true
		}
		data, err = io.ReadAll(io.LimitReader(file, n))
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(data, '\n'); cut && i >= 0 && i < len(data)-1 {
			data = data[i+1:]
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, err = w.Write(data)
	if err != nil {
		s.log.Debug("sending a log tail failed", "err", err)
	}
	return nil
}
