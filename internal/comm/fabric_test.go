package comm

import "fmt"

// fakeFabric is a Fabric built from a nested-list description: a list is a
// domain at the level of its nesting depth (the outermost list is level 0),
// an int32 is a chip. A chip directly inside a list of depth d has no domain
// at levels deeper than d. Domain IDs are numbered per level in the order
// the lists appear.
type fakeFabric struct {
	levels []Level
	paths  [][]int32 // paths[chip][lvl]; nil for unknown chips
}

var _ Fabric = (*fakeFabric)(nil)

func (f *fakeFabric) Levels() []Level { return f.levels }

func (f *fakeFabric) Domain(chip int32, lvl int) int32 {
	if int(chip) >= len(f.paths) || f.paths[chip] == nil {
		return -1
	}
	return f.paths[chip][lvl]
}

// L is a domain in a nested-list description.
func L(xs ...any) []any { return xs }

// fab builds a fakeFabric from levels and a nested-list description.
func fab(levels []Level, root []any) *fakeFabric {
	f := &fakeFabric{levels: levels}
	next := make([]int32, len(levels))
	path := make([]int32, len(levels))
	var walk func(x []any, depth int)
	walk = func(x []any, depth int) {
		if depth >= len(levels) {
			panic("description deeper than levels")
		}
		path[depth] = next[depth]
		next[depth]++
		for _, c := range x {
			switch v := c.(type) {
			case []any:
				walk(v, depth+1)
			case int:
				p := make([]int32, len(levels))
				for l := range p {
					p[l] = -1
				}
				copy(p, path[:depth+1])
				for len(f.paths) <= v {
					f.paths = append(f.paths, nil)
				}
				f.paths[v] = p
			default:
				panic(fmt.Sprintf("bad element %T", c))
			}
		}
	}
	walk(root, 0)
	return f
}

// uniform builds a regular tree: fanout[i] children per level-i domain (the
// last entry is chips per innermost domain), chips numbered depth-first.
func uniform(levels []Level, fanout ...int) *fakeFabric {
	chip := 0
	var build func(d int) []any
	build = func(d int) []any {
		var xs []any
		for range fanout[d] {
			if d == len(fanout)-1 {
				xs = append(xs, chip)
				chip++
			} else {
				xs = append(xs, build(d+1))
			}
		}
		return xs
	}
	return fab(levels, build(0))
}

// seq returns the chips lo, lo+1, ..., hi-1.
func seq(lo, hi int32) []int32 {
	var out []int32
	for c := lo; c < hi; c++ {
		out = append(out, c)
	}
	return out
}

// twoLevel: a cluster of 2 nodes x 4 chips. Inter-node 25 GB/s and 10 us,
// intra-node 200 GB/s and 2 us, no oversubscription.
func twoLevel() *fakeFabric {
	return uniform([]Level{
		{Name: "cluster", BandwidthGBps: 25, LatencyUs: 10},
		{Name: "node", BandwidthGBps: 200, LatencyUs: 2},
	}, 2, 4)
}

// threeLevel: a cluster of 2 leaves x 2 nodes x 2 chips (chips 0-3 under leaf
// 0, 4-7 under leaf 1). Between leaves 50 GB/s, 10 us, oversubscribed 2:1;
// inside a leaf 50 GB/s, 5 us; inside a node 400 GB/s, 1 us.
func threeLevel() *fakeFabric {
	return uniform([]Level{
		{Name: "cluster", BandwidthGBps: 50, LatencyUs: 10, Oversubscription: 2},
		{Name: "leaf", BandwidthGBps: 50, LatencyUs: 5},
		{Name: "node", BandwidthGBps: 400, LatencyUs: 1},
	}, 2, 2, 2)
}
