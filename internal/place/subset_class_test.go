package place

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/pool"
)

// subsetByScoringAll is DecideSubset's choice without classes: every
// candidate host scored, spares first, then the shorter step, then topology
// order. It returns the hosts of the lost ranks.
func subsetByScoringAll(p *Placer, j *Request, sub Subset, st *pool.State, env Env) []pool.DomainID {
	t := st.Topology()
	k, _ := j.WholeChips()
	g, err := newGang(j, t.Kinds[0].HBMGiB)
	if err != nil {
		panic(err)
	}
	info := p.info(t)
	est := info.estimator()
	defer info.release(est)
	scratch := st.Clone()
	spare := map[pool.DomainID]bool{}
	for _, h := range sub.Spares {
		spare[h] = true
	}
	claims := append([]pool.Claim(nil), sub.Keep...)
	var out []pool.DomainID
	for _, r := range sub.Lost {
		best, bestSpare, bestSec, found := pool.Claim{}, false, math.Inf(1), false
		for _, h := range t.Hosts() {
			if env.HostOK != nil && !env.HostOK(h) {
				continue
			}
			if room, _ := scratch.RankRoom(h, j.CPUMilli, j.MemoryMiB); room < 1 {
				continue
			}
			chips := scratch.SelectChips(h, 0, k)
			if chips == nil {
				continue
			}
			c := pool.WholeChipClaim(h, chips, j.CPUMilli, j.MemoryMiB)
			if scratch.CanAllocate(c) != nil {
				continue
			}
			claims[r] = c
			sec := stepOf(est, claims, g).Seconds
			if !found || spare[h] && !bestSpare || spare[h] == bestSpare && sec < bestSec {
				best, bestSpare, bestSec, found = c, spare[h], sec, true
			}
		}
		if !found {
			return nil
		}
		claims[r] = best
		if err := scratch.Allocate(best); err != nil {
			panic(err)
		}
		out = append(out, best.Host)
	}
	return out
}

// TestDecideSubsetClassesExact: scoring one candidate per class picks the
// hosts that scoring every candidate picks, for a 2,048-rank gang on the
// 16k H100 pool whose free hosts are spread as after repairs — spare
// hosts at the end of every pod, freed hosts inside full racks and pods —
// with one to four lost ranks, with and without spares.
func TestDecideSubsetClassesExact(t *testing.T) {
	if testing.Short() {
		t.Skip("scores a 2,048-rank gang some hundred times")
	}
	topo, err := pool.LoadFile("../../examples/pools/h100-roce-16k.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pods := topo.DomainsAt(1)
	free := map[pool.DomainID]bool{}
	var spares []pool.DomainID
	for i := 0; len(spares) < 19; i++ {
		hs := hostsUnder(topo, pods[i%len(pods)])
		h := hs[len(hs)-1-i/len(pods)]
		spares, free[h] = append(spares, h), true
	}
	// Hosts back from repair, no longer the gang's.
	for _, name := range []string{"pod0/r3/s1", "pod1/r50/s0", "pod1/r51/s0", "pod2/r100/s1", "pod4/r7/s0", "pod5/r10/s1"} {
		h, ok := topo.HostByName(name)
		if !ok {
			t.Fatalf("no host %s", name)
		}
		free[h] = true
	}
	const ranks = 2048
	j := &Request{ID: "big", Ranks: ranks, RankMilli: 8 * pool.Full}
	for _, tc := range []struct {
		name   string
		lost   []int
		spares bool
	}{
		{"one rank, spares", []int{700}, true},
		{"one rank, no spares", []int{700}, false},
		{"a rack's two ranks, no spares", []int{10, 11}, false},
		{"four ranks across pods, spares", []int{5, 400, 1300, 2000}, true},
		{"four ranks across pods, no spares", []int{5, 400, 1300, 2000}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := pool.NewState(topo)
			keep := make([]pool.Claim, 0, ranks)
			for _, h := range topo.Hosts() {
				if len(keep) == ranks {
					break
				}
				if free[h] {
					continue
				}
				lo, hi := topo.ChipRange(h)
				var chips []pool.ChipID
				for c := lo; c < hi; c++ {
					chips = append(chips, c)
				}
				c := pool.WholeChipClaim(h, chips, 0, 0)
				if err := st.Allocate(c); err != nil {
					t.Fatal(err)
				}
				keep = append(keep, c)
			}
			sub := Subset{Keep: keep, Lost: tc.lost}
			for _, r := range tc.lost {
				sub.From = append(sub.From, keep[r].Host) // fenced: its chips stay taken
				keep[r] = pool.Claim{Host: pool.NoDomain}
			}
			if tc.spares {
				sub.Spares = spares
			}
			p := New(Options{})
			want := subsetByScoringAll(p, j, sub, st, Env{})
			d := p.DecideSubset(j, sub, st, Env{})
			if !d.Placed {
				t.Fatalf("not placed: %v", d.Status)
			}
			var got []pool.DomainID
			for _, r := range tc.lost {
				got = append(got, d.Placement.Ranks[r].Host)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("hosts of the lost ranks (-every candidate scored +classes):\n%s", diff)
			}
		})
	}
}
