package sched

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/pool"
)

// TestStaticMemoDiesWithTopology: the static answers of a topology go when
// the topology does, and one topology keeps at most maxStaticAnswers.
func TestStaticMemoDiesWithTopology(t *testing.T) {
	load := func() *pool.Topology {
		topo, err := pool.LoadFile("testdata/pools/tiny910.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	before := liveMemos()
	for range 20 {
		topo := load()
		for cpu := range 3 {
			NeverFits(topo, &Job{ID: "j", Ranks: 1, RankMilli: 8000, CPUMilli: int64(cpu)})
		}
	}
	// Cleanups run after a collection finds the topologies unreachable.
	for i := 0; i < 200 && liveMemos() > before; i++ {
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if n := liveMemos(); n > before {
		t.Errorf("%d memos of dropped topologies are still held", n-before)
	}

	topo := load()
	for cpu := range maxStaticAnswers + 100 {
		NeverFits(topo, &Job{ID: fmt.Sprint(cpu), Ranks: 1, RankMilli: 1000, CPUMilli: int64(cpu + 1)})
	}
	m := memoOf(topo)
	m.mu.Lock()
	n := len(m.ans)
	m.mu.Unlock()
	if n > maxStaticAnswers {
		t.Errorf("one topology's memo holds %d answers, want at most %d", n, maxStaticAnswers)
	}
	runtime.KeepAlive(topo)
}
