package pool

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// chipsOn returns the chips at the given device indices of host number h.
func chipsOn(topo *Topology, h int, idx ...int) []ChipID {
	lo, _ := topo.ChipRange(topo.Hosts()[h])
	out := make([]ChipID, len(idx))
	for i, x := range idx {
		out[i] = lo + ChipID(x)
	}
	return out
}

func TestAscend910RingRule(t *testing.T) {
	topo := mustLoad(t, "../../examples/pools/ascend910-cluster.yaml")
	// Devices 0-3 are ring0, 4-7 ring1.
	tests := map[string]struct {
		devices []int
		ok      bool
	}{
		"one chip":                {[]int{5}, true},
		"two in one ring":         {[]int{0, 3}, true},
		"two across rings":        {[]int{3, 4}, false},
		"four in one ring":        {[]int{4, 5, 6, 7}, true},
		"four across rings":       {[]int{0, 1, 4, 5}, false},
		"eight":                   {[]int{0, 1, 2, 3, 4, 5, 6, 7}, true},
		"three is not allowed":    {[]int{0, 1, 2}, false},
		"six is not allowed":      {[]int{0, 1, 2, 3, 4, 5}, false},
		"two hosts are never one": {nil, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			chips := chipsOn(topo, 0, tc.devices...)
			if tc.devices == nil {
				chips = append(chipsOn(topo, 0, 0), chipsOn(topo, 1, 0)...)
			}
			err := topo.CheckShape(chips)
			if got := err == nil; got != tc.ok {
				t.Errorf("CheckShape(%v) = %v, want ok=%v", tc.devices, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrShape) {
				t.Errorf("error %v does not wrap ErrShape", err)
			}
		})
	}
}

func TestA3ModuleRule(t *testing.T) {
	topo := mustLoad(t, "testdata/a3-dies.yaml")
	// Modules are device pairs (0,1), (2,3), ...
	tests := map[string]struct {
		devices []int
		ok      bool
	}{
		"one die":                    {[]int{7}, true},
		"two dies of one module":     {[]int{2, 3}, true},
		"two dies of two modules":    {[]int{1, 2}, false},
		"four as two whole modules":  {[]int{0, 1, 6, 7}, true},
		"four splitting modules":     {[]int{0, 1, 2, 4}, false},
		"sixteen":                    {[]int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}, true},
		"three is odd and over one":  {[]int{0, 1, 2}, false},
		"six as three whole modules": {[]int{4, 5, 8, 9, 14, 15}, true},
		"six with a broken module":   {[]int{4, 5, 8, 9, 14, 13}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := topo.CheckShape(chipsOn(topo, 0, tc.devices...))
			if got := err == nil; got != tc.ok {
				t.Errorf("CheckShape(%v) = %v, want ok=%v", tc.devices, err, tc.ok)
			}
		})
	}
}

func TestSelectChipsPrefersTightestRing(t *testing.T) {
	topo := mustLoad(t, "../../examples/pools/ascend910-cluster.yaml")
	k, _ := topo.KindID("910")
	h := topo.Hosts()[0]
	s := NewState(topo)
	lo, _ := topo.ChipRange(h)
	// ring0 has 3 used (1 free), ring1 is all free.
	take := func(devs ...int) {
		c := Claim{Host: h}
		for _, d := range devs {
			c.Grants = append(c.Grants, Grant{lo + ChipID(d), Full})
		}
		if err := s.Allocate(c); err != nil {
			t.Fatal(err)
		}
	}
	take(0, 1, 2)
	tests := []struct {
		n    int
		want []int // device indices, nil when impossible
	}{
		{1, []int{3}},          // the ring with one free chip first
		{2, []int{4, 5}},       // ring0 cannot hold two
		{4, []int{4, 5, 6, 7}}, // a whole ring
		{8, nil},               // not 8 free
		{3, nil},               // never allowed
	}
	for _, tc := range tests {
		got := s.SelectChips(h, k, tc.n)
		var gotIdx []int
		for _, c := range got {
			gotIdx = append(gotIdx, topo.ChipIndex(c))
		}
		if diff := cmp.Diff(tc.want, gotIdx); diff != "" {
			t.Errorf("SelectChips(%d) (-want +got):\n%s", tc.n, diff)
		}
	}
}

func TestSelectChipsA3WholeModules(t *testing.T) {
	topo := mustLoad(t, "testdata/a3-dies.yaml")
	k, _ := topo.KindID("910C-die")
	h := topo.Hosts()[0]
	s := NewState(topo)
	lo, _ := topo.ChipRange(h)
	// Break modules 0 and 1 by taking one die of each.
	if err := s.Allocate(Claim{Host: h, Grants: []Grant{{lo, Full}, {lo + 2, Full}}}); err != nil {
		t.Fatal(err)
	}
	got := s.SelectChips(h, k, 4)
	var idx []int
	for _, c := range got {
		idx = append(idx, topo.ChipIndex(c))
	}
	if diff := cmp.Diff([]int{4, 5, 6, 7}, idx); diff != "" {
		t.Errorf("4 dies should take whole modules 2 and 3 (-want +got):\n%s", diff)
	}
	if one := s.SelectChips(h, k, 1); len(one) != 1 || topo.ChipIndex(one[0]) != 1 {
		t.Errorf("one die should fill a broken module first, got %v", one)
	}
}

func TestRankFits(t *testing.T) {
	topo := mustLoad(t, "../../examples/pools/ascend910-cluster.yaml")
	k, _ := topo.KindID("910")
	for n, ok := range map[int]bool{1: true, 2: true, 3: false, 4: true, 8: true, 16: false} {
		err := topo.RankFits(n, []KindID{k})
		if (err == nil) != ok {
			t.Errorf("RankFits(%d) = %v, want ok=%v", n, err, ok)
		}
	}
}

func TestFullestHost(t *testing.T) {
	topo := mustLoad(t, "../../examples/pools/ascend910-cluster.yaml")
	k, _ := topo.KindID("910")
	s := NewState(topo)
	// Take 7 chips of every host but rack1/n3, which keeps 5 free.
	want, _ := topo.HostByName("rack1/n3")
	var claims []Claim
	for _, h := range topo.Hosts() {
		lo, _ := topo.ChipRange(h)
		n := 7
		if h == want {
			n = 3
		}
		c := Claim{Host: h}
		for x := lo; x < lo+ChipID(n); x++ {
			c.Grants = append(c.Grants, Grant{x, Full})
		}
		claims = append(claims, c)
	}
	if err := s.Allocate(claims...); err != nil {
		t.Fatal(err)
	}
	if h, n := s.FullestHost([]KindID{k}); h != want || n != 5 {
		t.Errorf("FullestHost = %s with %d, want rack1/n3 with 5", topo.Path(h), n)
	}
	if h, n := s.FullestHost(nil); h != NoDomain || n != 0 {
		t.Errorf("FullestHost(no kinds) = %d, %d; want NoDomain, 0", h, n)
	}
}
