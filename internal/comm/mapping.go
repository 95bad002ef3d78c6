package comm

import (
	"cmp"
	"slices"
)

// MapRanks returns chips reordered so that rank r of a job with plan p runs on
// out[r]. It packs, innermost domain first:
//
//  1. chips into tensor-parallel groups of p.Tensor, each inside the
//     innermost domain that can hold it;
//  2. those groups into expert groups of p.Expert, the same way;
//  3. expert groups into pipeline stages of p.Data/p.Expert;
//
// then orders the stages by their place in the tree, so that adjacent stages
// are as close as the chips allow and every stage's data-parallel groups
// span as few domains as possible.
//
// The result depends only on the set of chips, not on their order in the
// argument, and is deterministic. If p does not fit len(chips) the chips are
// returned in topology order. chips is not modified.
func MapRanks(f Fabric, chips []int32, p Plan) []int32 {
	nl := len(f.Levels())
	items := make([]unit, len(chips))
	for i, c := range chips {
		u := unit{chips: []int32{c}, path: make([]int32, nl)}
		for l := range nl {
			u.path[l] = f.Domain(c, l)
		}
		items[i] = u
	}
	sortUnits(items)
	if p.Validate(len(chips)) != nil {
		return flatten(items)
	}
	q := p.norm()
	for _, k := range []int{q.Tensor, q.Expert, q.Data / q.Expert} {
		if k > 1 {
			items = pack(items, k, nl)
			sortUnits(items)
		}
	}
	return flatten(items)
}

// unit is a set of chips placed together and the domain path of their lowest
// common ancestor (-1 below it).
type unit struct {
	chips []int32
	path  []int32
}

// sortUnits orders units by their path, a unit without a domain at some
// level (one that spans that level's domains) after the units inside them,
// then by first chip.
func sortUnits(us []unit) {
	key := func(d int32) uint32 { return uint32(d) } // -1 becomes the largest
	slices.SortStableFunc(us, func(a, b unit) int {
		for l := range a.path {
			if c := cmp.Compare(key(a.path[l]), key(b.path[l])); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.chips[0], b.chips[0])
	})
}

func flatten(us []unit) []int32 {
	var out []int32
	for _, u := range us {
		out = append(out, u.chips...)
	}
	return out
}

// pack merges units (sorted in topology order) into groups of k units each,
// forming groups inside the innermost domains first and merging each
// domain's leftovers, in order, in its parent.
func pack(items []unit, k, nl int) []unit {
	full, left := packLevel(items, k, 0, nl)
	if len(left) > 0 { // unreachable when len(items) is a multiple of k
		full = append(full, merge(left, nl))
	}
	return full
}

func packLevel(items []unit, k, lvl, nl int) (full, left []unit) {
	if lvl == nl {
		return nil, items
	}
	var pool []unit
	for lo := 0; lo < len(items); {
		hi := lo + 1
		for hi < len(items) && items[hi].path[lvl] == items[lo].path[lvl] {
			hi++
		}
		f, l := packLevel(items[lo:hi], k, lvl+1, nl)
		full = append(full, f...)
		pool = append(pool, l...)
		lo = hi
	}
	for len(pool) >= k {
		full = append(full, merge(pool[:k], nl))
		pool = pool[k:]
	}
	return full, pool
}

// merge joins units into one whose path is their common prefix.
func merge(us []unit, nl int) unit {
	m := unit{path: slices.Clone(us[0].path)}
	for _, u := range us {
		m.chips = append(m.chips, u.chips...)
		for l := range nl {
			if m.path[l] != u.path[l] {
				for ; l < nl; l++ {
					m.path[l] = -1
				}
				break
			}
		}
	}
	return m
}
