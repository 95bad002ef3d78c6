package place

import (
	"testing"

	"github.com/qunhq/qun/internal/pool"
)

// BenchmarkDecideSubset2048 re-places one lost rank of a 2,048-rank gang
// (one rank of 8 H100 per host, 16,384 chips) on the 16k H100 example pool,
// as the ETTR experiment does after a chip fault: the survivors hold their
// hosts, the lost rank's host is fenced, and 19 spare hosts are spread
// round robin over the pods, each pod giving its last hosts first.
func BenchmarkDecideSubset2048(b *testing.B) {
	t := loadBenchPool(b, "h100-roce-16k")
	st := pool.NewState(t)
	// Spares: round robin over the pods, last hosts first.
	pods := t.DomainsAt(1)
	var spares []pool.DomainID
	spare := map[pool.DomainID]bool{}
	for i := 0; len(spares) < 19; i++ {
		hs := hostsUnder(t, pods[i%len(pods)])
		h := hs[len(hs)-1-i/len(pods)]
		spares, spare[h] = append(spares, h), true
	}
	const ranks = 2048
	j := benchGang(ranks, 8, bigPlan)
	j.Plan.Tensor, j.Plan.Pipeline, j.Plan.Data, j.Plan.Expert = 0, 0, 0, 0
	keep := make([]pool.Claim, 0, ranks)
	var used []pool.DomainID
	for _, h := range t.Hosts() {
		if len(keep) == ranks {
			break
		}
		if spare[h] {
			continue
		}
		lo, hi := t.ChipRange(h)
		var chips []pool.ChipID
		for c := lo; c < hi; c++ {
			chips = append(chips, c)
		}
		c := pool.WholeChipClaim(h, chips, 0, 0)
		if err := st.Allocate(c); err != nil {
			b.Fatal(err)
		}
		keep, used = append(keep, c), append(used, h)
	}
	// Rank 700's host is lost; its chips stay fenced.
	lost := 700
	from := keep[lost].Host
	keep[lost] = pool.Claim{Host: pool.NoDomain}
	inJob := map[pool.DomainID]bool{}
	for _, h := range used {
		inJob[h] = true
	}
	env := Env{HostOK: func(h pool.DomainID) bool { return inJob[h] || spare[h] }}
	sub := Subset{Keep: keep, Lost: []int{lost}, From: []pool.DomainID{from}, Spares: spares}
	pl := New(Options{})
	d := pl.DecideSubset(j, sub, st, env)
	if !d.Placed {
		b.Fatalf("not placed: %v", d.Status)
	}
	if !spare[d.Placement.Ranks[lost].Host] {
		b.Fatalf("rank %d went to %s, not a spare", lost, t.Path(d.Placement.Ranks[lost].Host))
	}
	for b.Loop() {
		pl.DecideSubset(j, sub, st, env)
	}
}
