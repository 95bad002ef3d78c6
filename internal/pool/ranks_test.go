package pool

import (
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRankRoom(t *testing.T) {
	load := func(maxRanks string) *State {
		t.Helper()
		data := []byte(`apiVersion: qun/v1
kind: Pool
name: room
levels:
  - {name: node, host: true, bandwidthGBps: 450, latencyUs: 1}
root: {level: node, name: n, ` + maxRanks + `cpuMilli: 8000, memoryMiB: 1024, chips: {kind: H100, count: 8}}
`)
		topo, err := Load("room.yaml", data, DefaultCatalog())
		if err != nil {
			t.Fatal(err)
		}
		s := NewState(topo)
		// One rank running: 2000 CPU thousandths and 256 MiB taken.
		if err := s.Allocate(Claim{Host: topo.Hosts()[0], CPUMilli: 2000, MemoryMiB: 256}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	type room struct {
		N   int
		Why RankLimit
	}
	cases := []struct {
		name     string
		maxRanks string
		cpu, mem int64
		want     room
	}{
		{"nothing asked, no rank limit", "", 0, 0, room{math.MaxInt, LimitNone}},
		{"rank limit only", "maxRanks: 4, ", 0, 0, room{3, LimitRanks}},
		{"rank limit reached", "maxRanks: 1, ", 1000, 1, room{0, LimitRanks}},
		{"cpu binds", "maxRanks: 8, ", 3000, 1, room{2, LimitCPU}},
		{"memory binds", "", 1000, 300, room{2, LimitMemory}},
		{"cpu and memory tie: cpu named", "", 3000, 384, room{2, LimitCPU}},
		{"no cpu left for one", "", 7000, 0, room{0, LimitCPU}},
		{"rank limit and cpu tie: rank limit named", "maxRanks: 3, ", 3000, 0, room{2, LimitRanks}},
	}
	for _, c := range cases {
		s := load(c.maxRanks)
		n, why := s.RankRoom(s.Topology().Hosts()[0], c.cpu, c.mem)
		if diff := cmp.Diff(c.want, room{n, why}); diff != "" {
			t.Errorf("%s: RankRoom (-want +got):\n%s", c.name, diff)
		}
	}
}

func TestWholeChipClaim(t *testing.T) {
	got := WholeChipClaim(3, []ChipID{8, 9}, 500, 64)
	want := Claim{Host: 3, CPUMilli: 500, MemoryMiB: 64, Grants: []Grant{{8, Full}, {9, Full}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("WholeChipClaim (-want +got):\n%s", diff)
	}
}
