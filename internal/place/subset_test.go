package place

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/pool"
)

const subsetPool = `apiVersion: qun/v1
kind: Pool
name: subset
levels:
  - {name: cluster, bandwidthGBps: 12.5, latencyUs: 10, oversubscription: 2}
  - {name: rack, bandwidthGBps: 50, latencyUs: 5}
  - {name: host, host: true, bandwidthGBps: 450, latencyUs: 1}
templates:
  host: {level: host, cpuMilli: 64000, memoryMiB: 262144, chips: {kind: H100, count: 4}}
root:
  name: c
  level: cluster
  children:
    - {level: rack, name: r0, SPARES children: [{template: host, count: 4, name: "h{i}"}]}
    - {level: rack, name: r1, children: [{template: host, count: 4, name: "h{i}"}]}
`

// TestDecideSubset: the lost rank goes next to the survivors — to the
// rack's spare when there is one, else the first host of the rack — never
// to the other rack; a full rack is ReasonNoRoomNear. Survivors' claims are
// unchanged.
func TestDecideSubset(t *testing.T) {
	for _, tc := range []struct {
		name   string
		spares string
		busy   []string // hosts taken by others
		want   string   // host of the lost rank; "" for no room
	}{
		{"first free host of the rack", "", nil, "r0/h2"},
		{"the spare first", "spares: 1,", nil, "r0/h3"},
		{"the spare when the rack's other free host is taken", "spares: 1,", []string{"r0/h2"}, "r0/h3"},
		{"full rack: no room, though the other rack is free", "", []string{"r0/h2", "r0/h3"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := []byte(strings.ReplaceAll(subsetPool, "SPARES ", tc.spares+" "))
			topo, err := pool.Load("subset.yaml", src, pool.DefaultCatalog())
			if err != nil {
				t.Fatal(err)
			}
			st := pool.NewState(topo)
			claim := func(name string) pool.Claim {
				h, ok := topo.HostByName(name)
				if !ok {
					t.Fatalf("no host %s", name)
				}
				lo, _ := topo.ChipRange(h)
				return pool.WholeChipClaim(h, []pool.ChipID{lo, lo + 1, lo + 2, lo + 3}, 0, 0)
			}
			keep := []pool.Claim{claim("r0/h0"), {Host: pool.NoDomain}}
			lostFrom, _ := topo.HostByName("r0/h1")
			for _, b := range tc.busy {
				if err := st.Allocate(claim(b)); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Allocate(keep[0]); err != nil {
				t.Fatal(err)
			}
			// r0/h1 is down: its chips are taken, as the scheduler fences them.
			if err := st.Allocate(claim("r0/h1")); err != nil {
				t.Fatal(err)
			}
			before := st.Clone()
			d := New(Options{}).DecideSubset(&Request{ID: "j", Ranks: 2, RankMilli: 4000},
				Subset{Keep: keep, Lost: []int{1}, From: []pool.DomainID{lostFrom}, Spares: topo.Spares()}, st, Env{})
			if tc.want == "" {
				if d.Placed || d.Status == nil || d.Status.Reason != ReasonNoRoomNear {
					t.Fatalf("placed %v status %v; want %s", d.Placed, d.Status, ReasonNoRoomNear)
				}
				return
			}
			if !d.Placed {
				t.Fatalf("not placed: %v", d.Status)
			}
			got := []string{topo.Path(d.Placement.Ranks[0].Host), topo.Path(d.Placement.Ranks[1].Host)}
			if diff := cmp.Diff([]string{"r0/h0", tc.want}, got); diff != "" {
				t.Errorf("hosts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(keep[0], d.Placement.Ranks[0]); diff != "" {
				t.Errorf("survivor's claim changed (-want +got):\n%s", diff)
			}
			if err := st.Allocate(d.Placement.Ranks[1]); err != nil {
				t.Errorf("the new claim does not fit the state: %v", err)
			}
			if err := before.Allocate(d.Placement.Ranks[1]); err != nil {
				t.Errorf("DecideSubset changed the state it read: %v", err)
			}
		})
	}
}
