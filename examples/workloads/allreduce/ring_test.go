package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// startRing connects world in-process ranks over loopback TCP.
func startRing(t *testing.T, world int) []*ring {
	t.Helper()
	lns := make([]net.Listener, world)
	addrs := make([]string, world)
	for r := range world {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[r], addrs[r] = ln, ln.Addr().String()
	}
	rings := make([]*ring, world)
	errs := make(chan error, world)
	deadline := time.Now().Add(10 * time.Second)
	for r := range world {
		go func() {
			rg, err := connectRing(lns[r], addrs, r, deadline, 10*time.Second)
			lns[r].Close()
			rings[r] = rg
			errs <- err
		}()
	}
	for range world {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, rg := range rings {
			rg.Close()
		}
	})
	return rings
}

func TestAllReduceSum(t *testing.T) {
	for _, world := range []int{2, 3, 5} {
		rings := startRing(t, world)
		for _, n := range []int{0, 1, 2, 7, 1000} {
			// Small integers are exact in float64, so the sums must be exact
			// whatever order the ring adds them in.
			vecs := make([][]float64, world)
			want := make([]float64, n)
			for r := range world {
				vecs[r] = make([]float64, n)
				for i := range n {
					vecs[r][i] = float64((r+1)*1000 + i)
					want[i] += vecs[r][i]
				}
			}
			errs := make(chan error, world)
			for r := range world {
				go func() { errs <- rings[r].allReduceSum(vecs[r]) }()
			}
			for range world {
				if err := <-errs; err != nil {
					t.Fatalf("world %d n %d: %v", world, n, err)
				}
			}
			for r := range world {
				if diff := cmp.Diff(want, vecs[r]); diff != "" {
					t.Errorf("world %d n %d rank %d (-want +got):\n%s", world, n, r, diff)
				}
			}
		}
	}
}

// TestAllReducePeerGone checks that a rank whose neighbour dies fails with
// an error instead of hanging.
func TestAllReducePeerGone(t *testing.T) {
	rings := startRing(t, 3)
	rings[0].Close()
	rings[1].timeout = 5 * time.Second
	err := rings[1].allReduceSum(make([]float64, 10))
	if err == nil {
		t.Fatal("all-reduce with a dead peer succeeded")
	}
	t.Log(err)
}

func TestFrameRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	vals := []float64{1.5, -0, 3e300, -7}
	if err := writeFrame(w, frameHeader{Kind: frameChunk, Seq: 9, Chunk: 2}, vals); err != nil {
		t.Fatal(err)
	}
	if b.Len() != frameHeaderSize+8*len(vals) {
		t.Errorf("frame is %d bytes", b.Len())
	}
	h, got, err := readFrame(&b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Kind != frameChunk || h.Seq != 9 || h.Chunk != 2 || !slices.Equal(got, vals) {
		t.Errorf("read %+v %v", h, got)
	}
	if _, _, err := readFrame(bytes.NewReader([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), nil); err == nil {
		t.Error("readFrame accepted an HTTP request")
	}
}

func FuzzReadFrame(f *testing.F) {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writeFrame(w, frameHeader{Kind: frameChunk, Seq: 1, Chunk: 0}, []float64{1, 2, 3})
	f.Add(b.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, vals, err := readFrame(bytes.NewReader(in), nil)
		if err != nil {
			return
		}
		if h.Magic != frameMagic || int(h.Count) != len(vals) || len(in) < frameHeaderSize+8*len(vals) {
			t.Fatalf("accepted inconsistent frame %+v with %d values from %d bytes", h, len(vals), len(in))
		}
	})
}

func TestLatestCommon(t *testing.T) {
	cases := []struct {
		lists [][]int
		want  int
	}{
		{nil, 0},
		{[][]int{{}}, 0},
		{[][]int{{50, 100}}, 100},
		{[][]int{{50, 100}, {50, 100, 150}, {100, 150}}, 100},
		{[][]int{{50}, {100}}, 0},
		{[][]int{{100, 100}, {100}}, 100},
	}
	for _, c := range cases {
		if got := latestCommon(c.lists); got != c.want {
			t.Errorf("latestCommon(%v) = %d, want %d", c.lists, got, c.want)
		}
	}
}

func TestCheckpoints(t *testing.T) {
	dir := t.TempDir()
	base := checkpoint{Seed: 3, Samples: 10, Features: 2, Rank: 1}
	for _, s := range []int{10, 20, 30, 40} {
		c := base
		c.Step, c.Weights = s, []float64{float64(s), 0.1, 1.0 / 3}
		if err := saveCheckpoint(dir, c); err != nil {
			t.Fatal(err)
		}
	}
	// An interrupted write leaves only a temp file, which is ignored.
	os.WriteFile(filepath.Join(rankDir(dir, 1), ".tmp-ckpt-50.json-123"), []byte("{"), 0o644)
	os.WriteFile(checkpointPath(dir, 1, 60), []byte("{truncated"), 0o644)
	var warned []string
	warn := func(msg string, args ...any) { warned = append(warned, fmt.Sprint(msg, args)) }
	steps, err := usableCheckpoints(dir, 1, base, warn)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{20, 30, 40}; !slices.Equal(steps, want) {
		t.Errorf("usable steps %v, want %v (last %d kept, broken one skipped)", steps, want, keepCheckpoints)
	}
	if len(warned) != 1 {
		t.Errorf("warnings %q, want one for the broken checkpoint", warned)
	}
	c, err := loadCheckpoint(dir, 1, 40)
	if err != nil || c.Weights[2] != 1.0/3 {
		t.Errorf("load: %+v, %v (weights must round-trip exactly)", c, err)
	}
	other := base
	other.Seed = 4
	if _, err := usableCheckpoints(dir, 1, other, warn); err == nil {
		t.Error("checkpoints of another seed were accepted")
	}
}

func TestShard(t *testing.T) {
	for _, n := range []int{3, 10, 11, 10000} {
		for _, world := range []int{1, 2, 3} {
			next, total := 0, 0
			for r := range world {
				lo, hi := shard(n, r, world)
				if lo != next || hi-lo < n/world || hi-lo > n/world+1 {
					t.Errorf("shard(%d, %d, %d) = [%d,%d)", n, r, world, lo, hi)
				}
				next, total = hi, total+hi-lo
			}
			if total != n {
				t.Errorf("n=%d world=%d: shards cover %d", n, world, total)
			}
		}
	}
}
