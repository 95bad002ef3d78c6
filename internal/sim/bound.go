package sim

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"
)

// MaxBoundPatterns is the most packing patterns ShareBound enumerates
// before it gives up.
const MaxBoundPatterns = 200_000

// ShareBound returns a lower bound on the number of bins of the given
// capacity that the items (sizes in milli, one entry per item) need: the
// value of the LP relaxation of the cutting-stock formulation of Gilmore and
// Gomory (1961), "A linear programming approach to the cutting-stock
// problem", Operations Research 9(6).
//
// Equal sizes are grouped (b_i items of size s_i). A pattern p is a bin's
// content, a_ip items of size i with Σ_i a_ip·s_i ≤ capacity and a_ip ≤ b_i.
// The bound is
//
//	min Σ_p x_p  s.t.  Σ_p a_ip·x_p ≥ b_i for every size i,  x ≥ 0,
//
// solved with gonum's simplex (lp.Simplex) in standard form, one surplus
// variable per size. Only maximal patterns (no further item of any size
// fits) are enumerated: in the covering form a pattern can be replaced by a
// maximal one containing it without losing feasibility or raising the
// objective. The homogeneous patterns (as many items of one size as fit)
// are added as well; they give the simplex its initial feasible basis and
// do not change the optimum. The LP optimum is at least Σ sizes / capacity
// and at most the optimal number of bins; it is usually within one bin of
// the latter (the conjectured modified integer round-up property).
//
// It returns an error for a size ≤ 0 or above capacity, when more than
// MaxBoundPatterns patterns would be needed, or when the simplex fails
// numerically. No items need no bins.
func ShareBound(milli []int, capacity int) (float64, error) {
	if capacity <= 0 {
		return 0, fmt.Errorf("share bound: capacity %d is not positive", capacity)
	}
	counts := map[int]int{}
	var total int64
	for _, m := range milli {
		if m <= 0 || m > capacity {
			return 0, fmt.Errorf("share bound: item size %d is outside (0, %d]", m, capacity)
		}
		counts[m]++
		total += int64(m)
	}
	if len(counts) == 0 {
		return 0, nil
	}
	// Sizes in decreasing order, with their counts.
	sizes := make([]int, 0, len(counts))
	for s := range counts {
		sizes = append(sizes, s)
	}
	slices.Sort(sizes)
	slices.Reverse(sizes)
	b := make([]int, len(sizes))
	for i, s := range sizes {
		b[i] = counts[s]
	}
	pats, err := maximalPatterns(sizes, b, capacity, MaxBoundPatterns)
	if err != nil {
		return 0, err
	}
	v, err := coverLP(sizes, b, capacity, pats)
	if err != nil {
		return 0, err
	}
	// The LP optimum can be no lower than the total size in bins; below it
	// the simplex went wrong.
	if trivial := float64(total) / float64(capacity); v < trivial-1e-6 {
		return 0, fmt.Errorf("share bound: simplex returned %.6f, below the trivial bound %.6f", v, trivial)
	}
	return v, nil
}

// maximalPatterns enumerates the maximal packing patterns of sizes
// (decreasing) with at most b[i] items of size i, in one flat slice of
// len(sizes) counts per pattern. It stops with an error past limit
// patterns.
func maximalPatterns(sizes, b []int, capacity, limit int) ([]int32, error) {
	n := len(sizes)
	// rest[k] is the total size of all items of sizes k and after: what
	// could still be added from there on.
	rest := make([]int64, n+1)
	for k := n - 1; k >= 0; k-- {
		rest[k] = rest[k+1] + int64(sizes[k])*int64(b[k])
	}
	var out []int32
	count := 0
	a := make([]int32, n)
	var tooMany bool
	// dfs decides the count of size k with free capacity left; skipped is
	// the smallest size decided so far whose items are not all in the
	// pattern (a pattern is maximal when, at the end, free < skipped).
	var dfs func(k, free, skipped int)
	dfs = func(k, free, skipped int) {
		if tooMany {
			return
		}
		// Even taking every remaining item leaves room for a skipped one:
		// no maximal pattern below.
		if int64(free)-rest[k] >= int64(skipped) {
			return
		}
		if k == n {
			count++
			if count > limit {
				tooMany = true
				return
			}
			out = append(out, a...)
			return
		}
		most := min(b[k], free/sizes[k])
		for c := most; c >= 0; c-- {
			a[k] = int32(c)
			sk := skipped
			if c < b[k] {
				sk = min(sk, sizes[k])
			}
			dfs(k+1, free-c*sizes[k], sk)
			if tooMany {
				return
			}
		}
		a[k] = 0
	}
	dfs(0, capacity, math.MaxInt)
	if tooMany {
		return nil, fmt.Errorf("share bound: more than %d packing patterns (%d sizes); the bound is not computed", limit, n)
	}
	return out, nil
}

// coverLP solves min Σ x_p s.t. Σ_p a_ip x_p ≥ b_i, x ≥ 0 over the given
// patterns and the homogeneous ones, in gonum's standard form
// [P | H | −I]·[x; h; s] = b.
func coverLP(sizes, b []int, capacity int, pats []int32) (float64, error) {
	m := len(sizes)
	np := len(pats) / m
	cols := np + m + m // patterns, homogeneous patterns, surplus
	A := mat.NewDense(m, cols, nil)
	raw := A.RawMatrix()
	for p := range np {
		for i := range m {
			if v := pats[p*m+i]; v != 0 {
				raw.Data[i*raw.Stride+p] = float64(v)
			}
		}
	}
	basic := make([]int, m)
	for i := range m {
		raw.Data[i*raw.Stride+np+i] = float64(min(b[i], capacity/sizes[i]))
		raw.Data[i*raw.Stride+np+m+i] = -1
		basic[i] = np + i
	}
	c := make([]float64, cols)
	for j := range np + m {
		c[j] = 1
	}
	rhs := make([]float64, m)
	for i := range m {
		rhs[i] = float64(b[i])
	}
	opt, _, err := lp.Simplex(c, A, rhs, 1e-10, basic)
	if err != nil {
		return 0, fmt.Errorf("share bound: simplex over %d patterns: %w", np, err)
	}
	return opt, nil
}
