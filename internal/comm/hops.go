package comm

// This file holds the contention model shared by every collective: the hops of
// a set of paths that run at the same time, and the bandwidth each hop gets.

// evalHops evaluates the hops of the paths order[starts[i]:starts[i+1]],
// all running at the same time. A path of n slots has n-1 hops, plus one from
// its last slot back to its first when closed (a ring). The hop leaving the
// slot at index k of order is stored at index k of e.hopLvl, e.hopAlpha and
// e.hopBW; indices without a hop get level -1.
//
// A hop between slots a and b uses their lowest common level h: latency
// alpha[h] and at most bw[h]. On its way it leaves a's domains at every level
// l from h+1 inward, down to the chip itself (level nl). The link leaving a
// domain d of level l is shared: it offers cnt(d)*up[l] bytes per second (the
// job's chips in d times their fair share of the parent level's
// oversubscribed bandwidth), split evenly among the hops that leave d. A hop
// gets the minimum over the links it leaves.
func (e *Estimator) evalHops(order, starts []int32, closed bool) {
	m := len(order)
	e.hopLvl = grow(e.hopLvl, m)
	e.hopAlpha = grow(e.hopAlpha, m)
	e.hopBW = grow(e.hopBW, m)
	nl := e.nl
	for g := 0; g+1 < len(starts); g++ {
		lo, hi := int(starts[g]), int(starts[g+1])
		for k := lo; k < hi; k++ {
			next := k + 1
			if next == hi {
				next = lo
				if !closed || hi-lo < 2 {
					e.hopLvl[k] = -1
					continue
				}
			}
			a := order[k]
			h := e.lcl(a, order[next])
			e.hopLvl[k] = int32(h)
			for l := h + 1; l < nl; l++ {
				if d := e.dom[l][a]; d >= 0 {
					e.flow[l][d]++
				}
			}
			e.flow[nl][a]++
		}
	}
	for k := range m {
		h := int(e.hopLvl[k])
		if h < 0 {
			continue
		}
		a := order[k]
		b := e.bw[h]
		for l := h + 1; l < nl; l++ {
			if d := e.dom[l][a]; d >= 0 {
				if x := float64(e.cnt[l][d]) * e.up[l] / float64(e.flow[l][d]); x < b {
					b = x
				}
			}
		}
		if x := e.up[nl] / float64(e.flow[nl][a]); x < b {
			b = x
		}
		e.hopAlpha[k] = e.alpha[h]
		e.hopBW[k] = b
	}
	for l := range nl + 1 {
		clear(e.flow[l])
	}
}

// worst returns the largest wa*alpha + wb/bandwidth over the hops stored at
// indices [lo, hi), and the outermost level among them (-1 if there is none).
// A zero wb drops the bandwidth term, so an empty message costs latency only.
func (e *Estimator) worst(lo, hi int, wa, wb float64) (sec float64, outer int) {
	outer = -1
	for k := lo; k < hi; k++ {
		h := int(e.hopLvl[k])
		if h < 0 {
			continue
		}
		t := wa * e.hopAlpha[k]
		if wb != 0 {
			t += wb / e.hopBW[k]
		}
		if t > sec {
			sec = t
		}
		if outer < 0 || h < outer {
			outer = h
		}
	}
	return sec, outer
}
