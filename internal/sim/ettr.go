package sim

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/lifecycle"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/plugins"
	"github.com/qunhq/qun/internal/state"
)

// Recovery policies of the ETTR experiment.
const (
	// RecoveryQun is Qun: fast detection from the agent, survivors told to
	// stop at once, the lifecycle's recovery (in place for a crashed rank,
	// re-placement through the scheduler for a broken node or chip),
	// in-memory checkpoints.
	RecoveryQun = "qun"
	// RecoveryBaseline is a Kubernetes-style operator: detection after the
	// node-loss eviction delay or a collective timeout, every pod deleted
	// and recreated (the whole gang placed from scratch on any fault), a
	// checkpoint loaded from shared storage.
	RecoveryBaseline = "baseline"
)

// Costs are the times recovery takes, outside the scheduler's own work.
// Every default has its source in docs/faults-sim.md.
type Costs struct {
	DetectCrash     time.Duration `json:"detect_crash_s"`     // a rank's process exits
	DetectUnhealthy time.Duration `json:"detect_unhealthy_s"` // a chip turns unhealthy
	DetectNodeLost  time.Duration `json:"detect_node_lost_s"` // a host stops answering
	DetectStraggler time.Duration `json:"detect_straggler_s"` // a chip runs slow
	Stop            time.Duration `json:"stop_s"`             // survivors stopped
	Replace         time.Duration `json:"replace_s"`          // placement decided → ranks handed to their hosts
	Restart         time.Duration `json:"restart_s"`          // process start and framework/communicator init
	CkptLoad        time.Duration `json:"checkpoint_load_s"`  // the last checkpoint read back
	CkptWrite       time.Duration `json:"checkpoint_write_s"` // δ: training blocked per checkpoint
}

// MarshalJSON writes the costs in seconds.
func (c Costs) MarshalJSON() ([]byte, error) {
	type seconds struct {
		DetectCrash     float64 `json:"detect_crash_s"`
		DetectUnhealthy float64 `json:"detect_unhealthy_s"`
		DetectNodeLost  float64 `json:"detect_node_lost_s"`
		DetectStraggler float64 `json:"detect_straggler_s"`
		Stop            float64 `json:"stop_s"`
		Replace         float64 `json:"replace_s"`
		Restart         float64 `json:"restart_s"`
		CkptLoad        float64 `json:"checkpoint_load_s"`
		CkptWrite       float64 `json:"checkpoint_write_s"`
	}
	return json.Marshal(seconds{c.DetectCrash.Seconds(), c.DetectUnhealthy.Seconds(), c.DetectNodeLost.Seconds(),
		c.DetectStraggler.Seconds(), c.Stop.Seconds(), c.Replace.Seconds(), c.Restart.Seconds(), c.CkptLoad.Seconds(),
		c.CkptWrite.Seconds()})
}

// DefaultCosts returns a recovery policy's costs (docs/faults-sim.md).
func DefaultCosts(recovery string) Costs {
	if recovery == RecoveryBaseline {
		return Costs{
			DetectCrash:     10 * time.Second,  // the pod's failure reaches the operator through the API server
			DetectUnhealthy: 600 * time.Second, // no device health: survivors hang until the NCCL timeout (PyTorch 10 min)
			DetectNodeLost:  340 * time.Second, // node-monitor-grace-period 40 s + NoExecute toleration 300 s
			DetectStraggler: time.Hour,         // no straggler signal: an operator notices (assumed)
			Stop:            30 * time.Second,  // terminationGracePeriodSeconds
			Replace:         180 * time.Second, // every pod recreated: "several minutes" at ≥ 1,000 nodes (JobSet KEP-467)
			Restart:         70 * time.Second,  // MindCluster: restart ≈ 70 s
			CkptLoad:        6 * time.Second,   // 405B × 14 B from shared storage at 1 TB/s (qun plan's defaults)
			CkptWrite:       6 * time.Second,   // the same bytes written synchronously
		}
	}
	return Costs{
		DetectCrash:     time.Second,      // the agent reports the exit in its next heartbeat (1 s)
		DetectUnhealthy: 5 * time.Second,  // device health polled with the heartbeat; MindCluster < 5 s
		DetectNodeLost:  10 * time.Second, // qun server --node-timeout default
		DetectStraggler: 90 * time.Second, // 3 anomalous 30 s windows (MindCluster slow-node scoring)
		Stop:            10 * time.Second, // SIGTERM, SIGKILL after the 10 s default grace
		Replace:         5 * time.Second,  // one scheduling cycle and the next heartbeat (assumed)
		Restart:         70 * time.Second, // MindCluster: restart ≈ 70 s
		CkptLoad:        3 * time.Second,  // MindCluster: load ≈ 3 s; in memory or from a peer
		CkptWrite:       2 * time.Second,  // in-memory snapshot: GPU → host in seconds (MegaScale, Gemini)
	}
}

// field returns the cost that name (as --cost takes it) names, or nil.
func (c *Costs) field(name string) *time.Duration {
	switch name {
	case "detect-crash":
		return &c.DetectCrash
	case "detect-unhealthy":
		return &c.DetectUnhealthy
	case "detect-node-lost":
		return &c.DetectNodeLost
	case "detect-straggler":
		return &c.DetectStraggler
	case "stop":
		return &c.Stop
	case "replace":
		return &c.Replace
	case "restart":
		return &c.Restart
	case "checkpoint-load":
		return &c.CkptLoad
	case "checkpoint-write":
		return &c.CkptWrite
	}
	return nil
}

// CostNames lists the names SetCost takes.
var CostNames = []string{"detect-crash", "detect-unhealthy", "detect-node-lost", "detect-straggler", "stop", "replace",
	"restart", "checkpoint-load", "checkpoint-write"}

// SetCost sets one cost by name ("restart=90s").
func (c *Costs) SetCost(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("--cost %q: want NAME=DURATION (names: %s)", kv, strings.Join(CostNames, ", "))
	}
	f := c.field(k)
	if f == nil {
		return fmt.Errorf("--cost %q: unknown cost %q (allowed: %s)", kv, k, strings.Join(CostNames, ", "))
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > 30*24*time.Hour {
		return fmt.Errorf("--cost %q: %q is not a duration from 0 to 720h", kv, v)
	}
	*f = d
	return nil
}

// Breakdown is where the time lost to faults went, in seconds.
type Breakdown struct {
	Detect   float64 `json:"detect"`   // fault → detected (the job hangs)
	Stop     float64 `json:"stop"`     // detected → every survivor stopped
	Replace  float64 `json:"replace"`  // stopped → placed (backoff, scheduling, handing ranks out)
	Restart  float64 `json:"restart"`  // placed → every rank running (init, checkpoint load)
	Rework   float64 `json:"rework"`   // work since the last checkpoint, done again
	Waiting  float64 `json:"waiting"`  // no room for the job until a repair
	Straggle float64 `json:"straggle"` // running slow behind a straggler
}

// Sum is the total.
func (b Breakdown) Sum() float64 {
	return b.Detect + b.Stop + b.Replace + b.Restart + b.Rework + b.Waiting + b.Straggle
}

func (b *Breakdown) add(o Breakdown, f float64) {
	b.Detect += f * o.Detect
	b.Stop += f * o.Stop
	b.Replace += f * o.Replace
	b.Restart += f * o.Restart
	b.Rework += f * o.Rework
	b.Waiting += f * o.Waiting
	b.Straggle += f * o.Straggle
}

// ETTROptions is one run of the ETTR experiment.
type ETTROptions struct {
	Pool     *pool.Topology
	JobChips int
	Span     time.Duration
	Seed     int64
	Recovery string
	Costs    Costs
	// Interval is the checkpoint interval in training time; 0 means none
	// (a fault restarts the job from the beginning).
	Interval time.Duration
	// Spares are hosts set aside that only recovery may take; Outside are
	// hosts left out of the experiment (neither the job's nor spares).
	Spares   []pool.DomainID
	Faults   *FaultModel
	Drawn    []Fault // the pool's faults over Span (DrawFaults)
	Progress func(at time.Duration)
	Timeline bool // record the progress timeline (for plots)
}

// ETTRRun is the result of one run. Times are in seconds.
type ETTRRun struct {
	Seed              int64          `json:"seed"`
	Recovery          string         `json:"recovery"`
	IntervalS         float64        `json:"checkpoint_interval_s"`
	Spares            int            `json:"spares"`
	ETTR              float64        `json:"ettr"`
	Faults            int            `json:"faults"`      // faults that interrupted the job
	PoolFaults        int            `json:"pool_faults"` // every fault drawn in the pool
	MeanLossPerFaultS float64        `json:"mean_loss_per_fault_s"`
	LossBreakdownS    Breakdown      `json:"loss_breakdown_s"`
	CheckpointS       float64        `json:"checkpoint_s"` // blocked writing checkpoints
	StartupS          float64        `json:"startup_s"`    // the first start
	ProductiveS       float64        `json:"productive_s"`
	WallS             float64        `json:"wall_s"`
	WaitingS          float64        `json:"waiting_for_capacity_s"`
	SparesUsed        int            `json:"spares_used"` // most spare hosts the job held at once
	SpareTakes        int            `json:"spare_takes"` // times a spare host joined the job
	Paths             map[string]int `json:"recovery_paths"`
	Placements        int            `json:"placements"` // scheduler cycles that placed the job
	ByKind            map[string]int `json:"faults_by_kind"`
	Timeline          []Point        `json:"-"`
	FaultHours        []float64      `json:"-"`
	WallSeconds       float64        `json:"wall_seconds"`
}

// Point is the job's productive time (hours) at a wall time (hours).
type Point struct{ T, Work float64 }

// phase is what the job is doing; every wall second goes to one.
type phase int

const (
	phStartup phase = iota
	phRunning
	phDetect
	phStop
	phReplace
	phWaiting
	phRestart
)

type evKind int

const (
	evFault evKind = iota
	evRepair
	evDetected
	evStopped
	evTick
	evPlaced
	evUp
	evStragglerFound
	evLostAtStart
)

type fevent struct {
	at   time.Duration
	seq  int
	kind evKind
	gen  int // job events: the interruption they belong to
	i    int // fault index, host
}

type faultQueue []fevent

func (q faultQueue) Len() int { return len(q) }
func (q faultQueue) Less(a, b int) bool {
	if q[a].at != q[b].at {
		return q[a].at < q[b].at
	}
	return q[a].seq < q[b].seq
}
func (q faultQueue) Swap(a, b int) { q[a], q[b] = q[b], q[a] }
func (q *faultQueue) Push(x any)   { *q = append(*q, x.(fevent)) }
func (q *faultQueue) Pop() any     { o := *q; e := o[len(o)-1]; *q = o[:len(o)-1]; return e }

// ettr is one run's state.
type ettr struct {
	o       ETTROptions
	t       *pool.Topology
	st      *pool.State
	prof    *sched.Profile
	rng     *rand.Rand
	q       faultQueue
	seq     int
	now     time.Duration
	gen     int
	lc      lifecycle.Job
	sj      *sched.Job
	hosts   []pool.DomainID // the job's host per rank (empty when released)
	rankOf  map[pool.DomainID]int
	down    map[pool.DomainID]time.Duration
	spare   map[pool.DomainID]bool
	outside map[pool.DomainID]bool

	ph           phase
	slow         float64 // step-time factor while a straggler runs (1: none)
	slowHost     pool.DomainID
	sinceCkpt    float64 // training seconds since the last checkpoint
	ckptLeft     float64 // seconds left of a checkpoint write
	pendingFault int     // the fault being recovered (index into Drawn)
	pendingPlace *pool.Placement
	stopping     []int

	res ETTRRun
}

// RunETTR runs one job of JobChips chips for Span under the drawn faults.
func RunETTR(o ETTROptions) (*ETTRRun, error) {
	start := time.Now()
	t := o.Pool
	r := &ettr{o: o, t: t, st: pool.NewState(t), prof: plugins.DefaultProfile(),
		rng:  rand.New(rand.NewPCG(uint64(o.Seed), 0x51f15eed)),
		down: map[pool.DomainID]time.Duration{}, spare: map[pool.DomainID]bool{}, outside: map[pool.DomainID]bool{},
		rankOf: map[pool.DomainID]int{}, slow: 1, slowHost: pool.NoDomain}
	for _, h := range o.Spares {
		r.spare[h] = true
	}
	r.res = ETTRRun{Seed: o.Seed, Recovery: o.Recovery, IntervalS: o.Interval.Seconds(), Spares: len(o.Spares),
		PoolFaults: len(o.Drawn), Paths: map[string]int{}, ByKind: map[string]int{}}
	per, kind, err := hostShape(t)
	if err != nil {
		return nil, err
	}
	if o.JobChips <= 0 || o.JobChips%per != 0 {
		return nil, fmt.Errorf("--job-chips %d: allowed: a positive multiple of the %d chips of a host", o.JobChips, per)
	}
	maxRestarts := job.MaxMaxRestarts
	r.lc = lifecycle.New(job.RestartPolicy{MaxRestarts: &maxRestarts,
		On: []job.Cause{job.CauseNodeLost, job.CauseDeviceUnhealthy, job.CauseRankFailed}})
	r.sj = &sched.Job{ID: "train", Queue: "default", Ranks: o.JobChips / per, RankMilli: per * pool.Full,
		Kinds: []string{kind}, Submitted: Epoch, CheckpointInterval: o.Interval}
	for i, f := range o.Drawn {
		r.push(fevent{at: f.At, kind: evFault, i: i})
	}
	// The first placement: spares are kept out; what the job does not take
	// is left out of the experiment.
	pl := r.schedule(true)
	if pl == nil {
		return nil, fmt.Errorf("the job of %d chips does not fit pool %s beside %d spare hosts", o.JobChips, t.Name, len(o.Spares))
	}
	used := map[pool.DomainID]bool{}
	for _, cl := range pl.Ranks {
		used[cl.Host] = true
	}
	for _, h := range t.Hosts() {
		if !used[h] && !r.spare[h] {
			r.outside[h] = true
		}
	}
	r.ph = phStartup
	r.pendingPlace = pl
	r.place()
	end := o.Span
	nextProgress := 24 * time.Hour
	for r.q.Len() > 0 {
		ev := heap.Pop(&r.q).(fevent)
		if ev.at > end {
			break
		}
		r.advance(ev.at)
		if o.Progress != nil && ev.at >= nextProgress {
			o.Progress(ev.at)
			nextProgress += 24 * time.Hour
		}
		if err := r.handle(ev); err != nil {
			return nil, fmt.Errorf("%s at %s: %w", r.t.Name, ev.at, err)
		}
	}
	r.advance(end)
	r.finish()
	r.res.WallSeconds = time.Since(start).Seconds()
	out := r.res // a copy: the run's pool state and queues are garbage now
	return &out, nil
}

// hostShape returns the chips of every host and their kind; the experiment
// needs hosts alike.
func hostShape(t *pool.Topology) (int, string, error) {
	hosts := t.Hosts()
	if len(hosts) == 0 {
		return 0, "", fmt.Errorf("pool %s has no hosts", t.Name)
	}
	per := t.Size(hosts[0])
	kinds := t.DomainKinds(hosts[0])
	for _, h := range hosts {
		if t.Size(h) != per || len(t.DomainKinds(h)) != 1 || len(kinds) != 1 {
			return 0, "", fmt.Errorf("pool %s: the ETTR experiment needs every host to hold the same number of chips of one kind", t.Name)
		}
	}
	for k := range kinds {
		return per, t.Kinds[k].Name, nil
	}
	return 0, "", fmt.Errorf("pool %s: a host without chips", t.Name)
}

func (r *ettr) push(e fevent) {
	r.seq++
	e.seq = r.seq
	heap.Push(&r.q, e)
}

// jobAt schedules an event of the current interruption.
func (r *ettr) jobAt(d time.Duration, k evKind, i int) {
	r.push(fevent{at: r.now + d, kind: k, gen: r.gen, i: i})
}

// advance charges the wall time up to at to the current phase.
func (r *ettr) advance(at time.Duration) {
	if at <= r.now {
		return
	}
	dt := (at - r.now).Seconds()
	b := &r.res.LossBreakdownS
	switch r.ph {
	case phStartup:
		r.res.StartupS += dt
	case phRunning:
		r.run(dt)
	case phDetect:
		b.Detect += dt
	case phStop:
		b.Stop += dt
	case phReplace:
		b.Replace += dt
	case phWaiting:
		b.Waiting += dt
	case phRestart:
		b.Restart += dt
	}
	r.now = at
	r.mark()
}

// run accrues dt seconds of running: training at 1/slow speed, with a
// blocking checkpoint write after every Interval of training.
func (r *ettr) run(dt float64) {
	tau, delta := r.o.Interval.Seconds(), r.o.Costs.CkptWrite.Seconds()
	for dt > 1e-12 {
		if r.ckptLeft > 0 {
			x := math.Min(dt, r.ckptLeft)
			r.res.CheckpointS += x
			r.ckptLeft -= x
			dt -= x
			if r.ckptLeft <= 1e-12 {
				r.ckptLeft, r.sinceCkpt = 0, 0
			}
			continue
		}
		x := dt
		if tau > 0 {
			x = math.Min(dt, (tau-r.sinceCkpt)*r.slow)
		}
		w := x / r.slow
		r.res.ProductiveS += w
		r.res.LossBreakdownS.Straggle += x - w
		r.sinceCkpt += w
		dt -= x
		if tau > 0 && r.sinceCkpt >= tau-1e-9 {
			if delta > 0 {
				r.ckptLeft = delta
			} else {
				r.sinceCkpt = 0
			}
		}
	}
}

func (r *ettr) mark() {
	if r.o.Timeline {
		r.res.Timeline = append(r.res.Timeline, Point{T: r.now.Hours(), Work: r.res.ProductiveS / 3600})
	}
}

func (r *ettr) handle(ev fevent) error {
	switch ev.kind {
	case evFault:
		return r.fault(ev.i)
	case evRepair:
		if until, ok := r.down[pool.DomainID(ev.i)]; ok && until <= r.now {
			delete(r.down, pool.DomainID(ev.i))
			if r.ph == phWaiting {
				r.tryPlace()
			}
		}
		return nil
	}
	if ev.gen != r.gen {
		return nil // an interruption overtook it
	}
	switch ev.kind {
	case evDetected:
		return r.detected(ev.i)
	case evStragglerFound:
		return r.stragglerFound()
	case evStopped:
		return r.apply(lifecycle.Event{Kind: lifecycle.EvRankGone, At: r.at(), Ranks: r.stopping})
	case evLostAtStart:
		return r.report(pool.DomainID(ev.i), NodeLost)
	case evTick:
		return r.apply(lifecycle.Event{Kind: lifecycle.EvTick, At: r.at()})
	case evPlaced:
		return r.placed()
	case evUp:
		return r.up()
	}
	return nil
}

// at is the virtual clock as the lifecycle sees it.
func (r *ettr) at() time.Time { return Epoch.Add(r.now) }

// struck returns the hosts a fault takes.
func (r *ettr) struck(f Fault) []pool.DomainID {
	k := r.o.Faults.Kinds[f.Kind]
	h := r.t.ChipHost(f.Chip)
	switch k.Scope {
	case ScopeChip, ScopeHost:
		return []pool.DomainID{h}
	}
	lv, _ := r.t.LevelIndex(k.Scope)
	d := r.t.ChipAncestor(f.Chip, lv)
	if d == pool.NoDomain {
		return []pool.DomainID{h}
	}
	var out []pool.DomainID
	lo, hi := r.t.ChipRange(d)
	for c := lo; c < hi; c += pool.ChipID(r.t.Size(r.t.ChipHost(c))) {
		out = append(out, r.t.ChipHost(c))
	}
	return out
}

func (r *ettr) takeDown(hosts []pool.DomainID, repair time.Duration) {
	if repair <= 0 {
		return
	}
	for _, h := range hosts {
		if until := r.now + repair; until > r.down[h] {
			r.down[h] = until
			r.push(fevent{at: until, kind: evRepair, i: int(h)})
		}
	}
}

// active reports whether a fault on the job's hosts interrupts it now: it
// is running or starting, not already recovering from a fault.
func (r *ettr) active() bool { return r.ph == phRunning || r.ph == phRestart || r.ph == phStartup }

func (r *ettr) fault(i int) error {
	f := r.o.Drawn[i]
	k := r.o.Faults.Kinds[f.Kind]
	hosts := r.struck(f)
	hit := false
	if len(r.hosts) > 0 {
		for _, h := range hosts {
			if _, ok := r.rankOf[h]; ok {
				hit = true
				break
			}
		}
	}
	if k.Effect == Straggler {
		if !hit || r.ph != phRunning || r.slow > 1 {
			return nil // a slow chip outside the job, or already slow
		}
		r.slow, r.slowHost = k.Slowdown, hosts[0]
		r.pendingFault = i
		r.count(i)
		r.jobAt(r.o.Costs.DetectStraggler, evStragglerFound, i)
		return nil
	}
	if k.Effect != Crash {
		r.takeDown(hosts, f.Repair)
	}
	if !hit || !r.active() {
		return nil // not the job's, or the job is already recovering
	}
	r.count(i)
	r.interrupt()
	r.pendingFault = i
	d := r.o.Costs.DetectNodeLost
	switch {
	case k.Effect == Crash:
		d = r.o.Costs.DetectCrash
	case k.Effect == Unhealthy:
		d = r.o.Costs.DetectUnhealthy
	}
	r.jobAt(d, evDetected, i)
	return nil
}

func (r *ettr) count(i int) {
	r.res.Faults++
	r.res.ByKind[r.o.Faults.Kinds[r.o.Drawn[i].Kind].Name]++
	r.res.FaultHours = append(r.res.FaultHours, r.now.Hours())
}

// interrupt stops the job's progress: the work since the last checkpoint
// is lost, a straggler ends with it (its host goes to repair).
func (r *ettr) interrupt() {
	if r.ph == phRunning {
		r.res.ProductiveS -= r.sinceCkpt
		r.res.LossBreakdownS.Rework += r.sinceCkpt
	}
	r.sinceCkpt, r.ckptLeft = 0, 0
	if r.slow > 1 {
		r.endStraggler()
	}
	r.gen++
	r.ph = phDetect
	r.mark()
}

func (r *ettr) endStraggler() {
	h := r.slowHost
	r.slow, r.slowHost = 1, pool.NoDomain
	if f := r.o.Drawn[r.pendingFault]; h != pool.NoDomain {
		r.takeDown([]pool.DomainID{h}, f.Repair)
	}
}

func (r *ettr) stragglerFound() error {
	i := r.pendingFault
	h := r.slowHost
	r.interrupt()
	r.pendingFault = i
	return r.report(h, Unhealthy)
}

func (r *ettr) detected(i int) error {
	f := r.o.Drawn[i]
	k := r.o.Faults.Kinds[f.Kind]
	var h pool.DomainID = pool.NoDomain
	for _, x := range r.struck(f) {
		if _, ok := r.rankOf[x]; ok {
			h = x
			break
		}
	}
	if h == pool.NoDomain {
		return fmt.Errorf("fault %d detected on no host of the job", i)
	}
	return r.report(h, k.Effect)
}

// report tells the lifecycle what the control plane saw. The baseline's
// operator knows no grades: every fault deletes every pod, so it reports
// the whole gang's chips broken and the lifecycle places the gang anew.
func (r *ettr) report(h pool.DomainID, e Effect) error {
	r.ph = phStop
	ev := lifecycle.Event{At: r.at(), Node: r.t.Path(h)}
	switch {
	case r.o.Recovery == RecoveryBaseline:
		ev.Kind, ev.Ranks, ev.Detail = lifecycle.EvDeviceUnhealthy, allRanks(len(r.hosts)), "the operator deletes every pod"
	case e == NodeLost:
		ev.Kind = lifecycle.EvNodeLost
	case e == Crash:
		code := 1
		ev.Kind, ev.Rank, ev.ExitCode = lifecycle.EvRankExited, r.rankOf[h], &code
	default:
		ev.Kind, ev.Ranks = lifecycle.EvDeviceUnhealthy, []int{r.rankOf[h]}
	}
	return r.apply(ev)
}

// apply runs one lifecycle event and carries out its actions, as a driver
// does; every recovery decision is the lifecycle's.
func (r *ettr) apply(ev lifecycle.Event) error {
	before := len(r.lc.History)
	a, err := r.lc.Apply(ev)
	if err != nil {
		return err
	}
	if len(r.lc.History) > before {
		r.res.Paths[string(r.lc.History[len(r.lc.History)-1].Path)]++
	}
	if len(a.ReleaseRanks) > 0 && !a.Release && r.sj.Placement != nil {
		r.releaseRanks(a.ReleaseRanks)
	}
	if a.Release {
		r.release()
	}
	switch {
	case len(a.Stop) > 0:
		r.ph, r.stopping = phStop, a.Stop
		r.jobAt(r.o.Costs.Stop, evStopped, 0)
	case a.Place != nil:
		r.ph = phReplace
		r.tryPlace()
	case a.Launch:
		r.launch()
	case a.Done:
		return fmt.Errorf("the job ended %s: %s", r.lc.State, r.lc.Reason)
	case r.lc.State == lifecycle.Recovering:
		r.ph = phReplace // backoff
		if wait := r.lc.RestartAt.Sub(r.at()); wait > 0 {
			r.jobAt(wait, evTick, 0)
		}
	}
	return nil
}

func (r *ettr) release() {
	if r.sj.Placement != nil {
		_ = r.st.Release(r.sj.Placement.Ranks...)
	}
	if r.sj.Recover != nil {
		_ = r.st.Release(r.sj.Recover.Held()...)
	}
	r.sj.Placement, r.sj.Recover, r.hosts = nil, nil, nil
	clear(r.rankOf)
}

// releaseRanks gives back the lost ranks' claims for a subset
// re-placement (graded recovery): the survivors keep theirs, as
// sched.Job.Recover tells the scheduler.
func (r *ettr) releaseRanks(ranks []int) {
	pl := r.sj.Placement
	rec := &sched.Recovery{Keep: make([]pool.Claim, len(pl.Ranks))}
	var give []pool.Claim
	for i, c := range pl.Ranks {
		if slices.Contains(ranks, i) {
			give = append(give, c)
			rec.Keep[i] = pool.Claim{Host: pool.NoDomain}
			rec.Lost = append(rec.Lost, i)
			if !slices.Contains(rec.From, c.Host) {
				rec.From = append(rec.From, c.Host)
			}
			continue
		}
		rec.Keep[i] = c
	}
	_ = r.st.Release(give...)
	r.sj.Placement, r.sj.Recover = nil, rec
}

// schedule runs one scheduling cycle for the job (the server's default
// profile) and commits its placement; nil when it does not fit now.
func (r *ettr) schedule(first bool) *pool.Placement {
	var notReady []pool.DomainID
	for _, h := range r.t.Hosts() {
		if r.outside[h] || r.down[h] > r.now || first && r.spare[h] {
			notReady = append(notReady, h)
		}
	}
	j := *r.sj
	j.Placement, j.Reserved = nil, r.lc.Reserved
	snap := &sched.Snapshot{Pool: r.st, Pending: []*sched.Job{&j}, NotReady: notReady}
	plan, _ := sched.Schedule(snap, r.at(), rand.New(rand.NewPCG(r.rng.Uint64(), 1)), r.prof)
	if len(plan.Start) == 0 {
		return nil
	}
	if err := state.ApplyToPool(r.st, &sched.Plan{Start: plan.Start[:1]}, oneJob{&j}, state.ApplyOptions{}); err != nil {
		return nil
	}
	r.res.Placements++
	p := plan.Start[0].Placement
	return &p
}

// oneJob is the plan verifier's view of the experiment's one job.
type oneJob struct{ j *sched.Job }

func (v oneJob) Pending(id string) (*sched.Job, bool) { return v.j, id == v.j.ID }
func (v oneJob) Placed(string) (*sched.Job, bool)     { return nil, false }

func (r *ettr) tryPlace() {
	pl := r.schedule(false)
	if pl == nil {
		r.ph = phWaiting
		return
	}
	r.ph = phReplace
	r.pendingPlace = pl
	r.jobAt(r.o.Costs.Replace, evPlaced, 0)
}

// place hands the decided placement to the lifecycle.
func (r *ettr) place() {
	pl := r.pendingPlace
	r.pendingPlace = nil
	r.sj.Placement, r.sj.Recover = pl, nil
	r.hosts = r.hosts[:0]
	clear(r.rankOf)
	nodes := make([]string, len(pl.Ranks))
	spares := 0
	for i, cl := range pl.Ranks {
		r.hosts = append(r.hosts, cl.Host)
		r.rankOf[cl.Host] = i
		nodes[i] = r.t.Path(cl.Host)
		if r.spare[cl.Host] {
			spares++
		}
	}
	if spares > r.res.SparesUsed {
		r.res.SparesUsed = spares
	}
	startup := r.ph == phStartup
	if err := r.applyPlaced(nodes); err != nil {
		panic(err) // the lifecycle refused a placement it asked for: a bug
	}
	if startup {
		r.ph = phStartup
	}
}

func (r *ettr) applyPlaced(nodes []string) error {
	prev := map[string]bool{}
	if n := len(r.lc.History); n > 0 {
		for _, x := range r.lc.History[n-1].Nodes {
			prev[x] = true
		}
	}
	for i, x := range nodes {
		if len(prev) > 0 && !prev[x] && r.spare[r.hosts[i]] {
			r.res.SpareTakes++
		}
	}
	return r.apply(lifecycle.Event{Kind: lifecycle.EvPlaced, At: r.at(), Nodes: nodes})
}

func (r *ettr) placed() error {
	r.place()
	return nil
}

// launch starts the attempt on the chips held: processes and framework
// init, then the checkpoint read back.
func (r *ettr) launch() {
	d := r.o.Costs.Restart
	if r.ph != phStartup {
		r.ph = phRestart
		d += r.o.Costs.CkptLoad
	}
	r.jobAt(d, evUp, 0)
}

func (r *ettr) up() error {
	// A host of the attempt that broke meanwhile never comes up: the
	// control plane sees it lost.
	for _, h := range r.hosts {
		if r.down[h] > r.now {
			r.interrupt()
			r.jobAt(r.o.Costs.DetectNodeLost, evLostAtStart, int(h))
			return nil
		}
	}
	if err := r.apply(lifecycle.Event{Kind: lifecycle.EvRankStarted, At: r.at(), Ranks: allRanks(len(r.hosts))}); err != nil {
		return err
	}
	if r.lc.State != lifecycle.Running {
		return fmt.Errorf("the job is %s after every rank started", r.lc.State)
	}
	r.ph = phRunning
	r.sinceCkpt, r.ckptLeft = 0, 0
	return nil
}

func allRanks(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func (r *ettr) finish() {
	res := &r.res
	res.WallS = r.o.Span.Seconds()
	res.WaitingS = res.LossBreakdownS.Waiting
	if res.WallS > 0 {
		res.ETTR = res.ProductiveS / res.WallS
	}
	if res.Faults > 0 {
		res.MeanLossPerFaultS = res.LossBreakdownS.Sum() / float64(res.Faults)
	}
	slices.Sort(res.FaultHours)
}
