package server

import (
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/job/jobtest"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched/plugins"
)

// benchPool returns a pool of nodes 8-chip hosts in racks of 64.
func benchPool(b *testing.B, nodes int) *pool.Topology {
	b.Helper()
	y := fmt.Sprintf(`apiVersion: qun/v1
kind: Pool
name: bench-%d
levels:
  - {name: cluster, bandwidthGBps: 50, latencyUs: 5}
  - {name: rack, bandwidthGBps: 100, latencyUs: 2}
  - {name: node, host: true, bandwidthGBps: 450, latencyUs: 1}
templates:
  box:
    level: node
    cpuMilli: 64000
    memoryMiB: 524288
    chips: {kind: H100, count: 8}
  rack:
    level: rack
    children:
      - {template: box, count: 64, name: "n{i}"}
root:
  name: dc
  level: cluster
  children:
    - {template: rack, count: %d, name: "r{i}"}
`, nodes, nodes/64)
	t, err := pool.Load("bench.yaml", []byte(y), pool.DefaultCatalog())
	if err != nil {
		b.Fatal(err)
	}
	return t
}

// heartbeatFleet is a server on a pool of n nodes, every node registered
// and running 8 ranks of a 512-rank gang of one chip per rank (one per rack), with each node's
// steady heartbeat (every rank running) prepared.
type heartbeatFleet struct {
	srv   *Server
	names []string
	beats []api.HeartbeatRequest
}

func newHeartbeatFleet(b *testing.B, n int) *heartbeatFleet {
	b.Helper()
	topo := benchPool(b, n)
	srv, err := New(Config{Pool: topo, Profile: plugins.DefaultProfile(), DataDir: b.TempDir(),
		NodeTimeout: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close() })
	f := &heartbeatFleet{srv: srv}
	for _, h := range topo.Hosts() {
		f.names = append(f.names, topo.Path(h))
	}
	f.beats = make([]api.HeartbeatRequest, len(f.names))
	// Concurrently, as a fleet coming up does: the registrations share
	// commits.
	parallel(b, len(f.names), func(i int) error {
		f.beats[i] = api.HeartbeatRequest{BootID: "boot-" + f.names[i]}
		_, _, err := srv.Register(api.RegisterRequest{Name: f.names[i], BootID: f.beats[i].BootID})
		return err
	})
	gang := jobtest.Make("gang").Chips("", 512).Command("sleep", "3600").JSON(b)
	for range n / 64 {
		if _, err := srv.Submit(gang); err != nil {
			b.Fatal(err)
		}
	}
	for range 10 {
		srv.Cycle()
		if len(srv.placedJobs()) == n/64 {
			break
		}
	}
	if got := len(srv.placedJobs()); got != n/64 {
		b.Fatalf("%d of %d gangs placed", got, n/64)
	}
	parallel(b, len(f.names), func(i int) error {
		r, err := srv.Heartbeat(f.names[i], f.beats[i])
		if err != nil {
			return err
		}
		if len(r.Assignments) != 8 {
			return fmt.Errorf("node %s: %d assignments, want 8", f.names[i], len(r.Assignments))
		}
		f.beats[i].Ranks = running(r.Assignments)
		_, err = srv.Heartbeat(f.names[i], f.beats[i])
		return err
	})
	return f
}

// placedJobs lists the placed jobs' IDs (for the benchmarks' setup).
func (s *Server) placedJobs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.placed {
		out = append(out, id)
	}
	return out
}

func parallel(b *testing.B, n int, fn func(i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	next := make(chan int)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// BenchmarkHeartbeat measures the heartbeat path (Server.Heartbeat, what
// every transport calls) in steady state: each node reports its 8 running
// ranks and gets its assignments back; nothing durable changes, so nothing
// is written. Serial: one heartbeat at a time, the cost of one. Parallel:
// heartbeats from GOMAXPROCS goroutines at once, contending for the lock.
func BenchmarkHeartbeat(b *testing.B) {
	for _, n := range []int{1024, 16384} {
		b.Run(fmt.Sprintf("nodes=%d/serial", n), func(b *testing.B) {
			f := newHeartbeatFleet(b, n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := f.srv.Heartbeat(f.names[i], f.beats[i]); err != nil {
					b.Fatal(err)
				}
				i = (i + 1) % n
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/parallel", n), func(b *testing.B) {
			f := newHeartbeatFleet(b, n)
			b.ReportAllocs()
			var mu sync.Mutex
			next := 0
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				mu.Lock()
				i := next * 7919 % n
				next++
				mu.Unlock()
				for pb.Next() {
					if _, err := f.srv.Heartbeat(f.names[i], f.beats[i]); err != nil {
						b.Error(err)
						return
					}
					i = (i + 1) % n
				}
			})
		})
	}
}

// BenchmarkSubmit measures Server.Submit from 128 concurrent callers
// without HTTP: validation, the change under the lock and the wait for
// the group commit (bbolt, fsync) that makes it durable.
func BenchmarkSubmit(b *testing.B) {
	srv, err := New(Config{Pool: benchPool(b, 64), Profile: plugins.DefaultProfile(), DataDir: b.TempDir(),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	spec := jobtest.Make("one").Chips("", 1).Command("sleep", "3600").JSON(b)
	b.ReportAllocs()
	b.SetParallelism(64) // 128 callers on 2 cores
	before := srv.CommitStats()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := srv.Submit(spec); err != nil {
				b.Error(err)
				return
			}
		}
	})
	cs := srv.CommitStats()
	if n := cs.Batches - before.Batches; n > 0 {
		b.ReportMetric(float64(cs.Records-before.Records)/float64(n), "records/commit")
		b.ReportMetric(float64(cs.Time-before.Time)/float64(n)/1e6, "ms/commit")
	}
}
