package sched

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"weak"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// This file is the cycle's first stage, static feasibility: questions whose
// answers depend only on the immutable topology and a job's shape, never on
// what runs. Their answers are memoised per topology (staticMemo).

// NeverFits reports why no state of pool t could ever hold job j — no
// accepted chip kind, more chips than the pool has of the accepted kinds,
// or a rank size the shape rules forbid on every host — or nil when some
// state could. The scheduler leaves such a job unresolvable; the server
// and `qun job validate --pool` reject it with the same reason.
func NeverFits(t *pool.Topology, j *Job) *Status {
	kinds := AcceptedKinds(t, j)
	return neverFits(memoOf(t), t, j, kinds, kindsKey(kinds))
}

// neverFits is NeverFits for j's accepted kinds, kk being kindsKey(kinds),
// with m the memo of t.
func neverFits(m *staticMemo, t *pool.Topology, j *Job, kinds []pool.KindID, kk string) *Status {
	if len(kinds) == 0 && j.RankMilli > 0 {
		var have []string
		for _, k := range t.Kinds {
			have = append(have, k.Name)
		}
		return &Status{Code: Unresolvable, Plugin: PluginCycle, Reason: ReasonNoKind,
			Detail: fmt.Sprintf("the pool has no chip kind the job accepts (%s; the pool has %s)", acceptString(j), strings.Join(have, ", "))}
	}
	if j.RankMilli <= 0 {
		return nil
	}
	var total int64
	for _, k := range kinds {
		total += int64(t.KindCount(0, k)) * pool.Full
	}
	if j.TotalMilli() > total {
		return &Status{Code: Unresolvable, Plugin: PluginCycle, Reason: ReasonTooLarge,
			Detail: fmt.Sprintf("needs %s chips; the pool has %s of accepted kinds", job.Milli(j.TotalMilli()), job.Milli(total))}
	}
	if n, whole := j.WholeChips(); whole {
		if err := m.rankFits(t, n, kinds, kk); err != nil {
			return &Status{Code: Unresolvable, Plugin: PluginCycle, Reason: ReasonShape, Detail: err.Error()}
		}
	}
	if j.CPUMilli > 0 || j.MemoryMiB > 0 {
		if reason, err := m.hostHolds(t, j, kinds, kk); err != nil {
			return &Status{Code: Unresolvable, Plugin: PluginCycle, Reason: reason, Detail: err.Error()}
		}
	}
	return nil
}

// acceptString says which kinds a job accepts, for messages.
func acceptString(j *Job) string {
	var parts []string
	if len(j.Kinds) > 0 {
		parts = append(parts, "kinds "+strings.Join(j.Kinds, ", "))
	}
	if j.MinHBMGiB > 0 {
		parts = append(parts, fmt.Sprintf("at least %g GiB HBM", j.MinHBMGiB))
	}
	if len(parts) == 0 {
		return "any kind"
	}
	return "accepts " + strings.Join(parts, " with ")
}

// kindsKey names a list of kinds as a map key ("0,2,").
func kindsKey(ks []pool.KindID) string {
	var buf [32]byte
	return string(appendKindsKey(buf[:0], ks))
}

// appendKindsKey appends kindsKey(ks) to b.
func appendKindsKey(b []byte, ks []pool.KindID) []byte {
	for _, k := range ks {
		b = strconv.AppendUint(b, uint64(k), 10)
		b = append(b, ',')
	}
	return b
}

// staticMemo remembers the answers of rankFits and hostHolds for one
// topology; computing a RankFits answer builds an empty state of the pool.
// It holds at most maxStaticAnswers (a server sees as many distinct CPU and
// memory requests as its users write) and is dropped with its topology.
type staticMemo struct {
	mu  sync.Mutex
	ans map[staticKey]fitsAnswer
}

// maxStaticAnswers bounds a topology's memo; when full it starts afresh.
const maxStaticAnswers = 4096

// staticKey identifies one static question: a rank of chips (of the kinds
// kindsKey lists) under the shape rules, or with host set, also cpu and
// mem on one host.
type staticKey struct {
	kinds    string
	chips    int
	cpu, mem int64
	host     bool
}

type fitsAnswer struct {
	reason string // hostHolds only
	err    error
}

// memos maps each live topology to its memo. The key is weak and a cleanup
// removes the entry once the topology is unreachable, so a memo lives
// exactly as long as its topology.
var memos sync.Map // weak.Pointer[pool.Topology] → *staticMemo

// memoOf returns t's memo, creating it on first use.
func memoOf(t *pool.Topology) *staticMemo {
	wp := weak.Make(t)
	if m, ok := memos.Load(wp); ok {
		return m.(*staticMemo)
	}
	m, loaded := memos.LoadOrStore(wp, &staticMemo{ans: map[staticKey]fitsAnswer{}})
	if !loaded {
		runtime.AddCleanup(t, func(wp weak.Pointer[pool.Topology]) { memos.Delete(wp) }, wp)
	}
	return m.(*staticMemo)
}

// liveMemos returns how many topologies have a memo (for tests).
func liveMemos() int {
	n := 0
	memos.Range(func(any, any) bool { n++; return true })
	return n
}

func (m *staticMemo) load(k staticKey) (fitsAnswer, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.ans[k]
	return a, ok
}

func (m *staticMemo) store(k staticKey, a fitsAnswer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.ans) >= maxStaticAnswers {
		clear(m.ans)
	}
	m.ans[k] = a
}

// rankFits is t.RankFits(n, kinds), memoised; kk is kindsKey(kinds).
func (m *staticMemo) rankFits(t *pool.Topology, n int, kinds []pool.KindID, kk string) error {
	k := staticKey{kinds: kk, chips: n}
	if a, ok := m.load(k); ok {
		return a.err
	}
	err := t.RankFits(n, kinds)
	m.store(k, fitsAnswer{err: err})
	return err
}

// hostHolds returns a reason and an error unless some host has the CPU
// and memory of one of j's ranks and, when j takes chips, as many chips of
// an accepted kind as a rank takes (one for a share). The reason is
// ReasonHostCPU when no such host has the CPU, else ReasonHostMemory.
// Answers are memoised like rankFits; kk is kindsKey(kinds).
func (m *staticMemo) hostHolds(t *pool.Topology, j *Job, kinds []pool.KindID, kk string) (string, error) {
	chips := 0
	if j.RankMilli > 0 {
		chips = max(1, int(j.RankMilli/pool.Full))
	}
	k := staticKey{kinds: kk, chips: chips, cpu: j.CPUMilli, mem: j.MemoryMiB, host: true}
	if a, ok := m.load(k); ok {
		return a.reason, a.err
	}
	var maxCPU, maxMem int64
	ans := fitsAnswer{}
	for _, h := range t.Hosts() {
		have := 0
		for _, kd := range kinds {
			have += t.KindCount(h, kd)
		}
		if have < chips {
			continue
		}
		if t.CPUMilli(h) >= j.CPUMilli && t.MemoryMiB(h) >= j.MemoryMiB {
			m.store(k, ans)
			return "", nil
		}
		maxCPU, maxMem = max(maxCPU, t.CPUMilli(h)), max(maxMem, t.MemoryMiB(h))
	}
	host := t.Levels[t.HostLevel].Name
	ans.reason = ReasonHostMemory
	if maxCPU < j.CPUMilli {
		ans.reason = ReasonHostCPU
	}
	ans.err = fmt.Errorf("a rank needs %d CPU thousandths and %d MiB of memory on one %s; no %s with its chips has both (the most CPU is %d, the most memory %d MiB)",
		j.CPUMilli, j.MemoryMiB, host, host, maxCPU, maxMem)
	m.store(k, ans)
	return ans.reason, ans.err
}
