package comm

// allToAll models a pairwise-exchange all-to-all in every group at once:
// each member sends S/n bytes to each of the other n-1 members. The bytes
// leaving a domain d (any level below the group's lowest common level, down
// to a single chip) are sum over members inside d of S*(n - n_d)/n, where n_d
// is the group's members in d; summed over all groups, they drain through
// d's uplink of cnt(d)*up[l] bytes per second. A group finishes after
// (n-1)*alpha of its lowest common level plus the slowest drain among the
// domains its members sit in.
func (e *Estimator) allToAll(bytes float64) Cost {
	nl := e.nl
	c := Cost{Algorithm: AlgPairwise, Level: -1}
	ng := len(e.starts) - 1
	for g := range ng {
		lo, hi := int(e.starts[g]), int(e.starts[g+1])
		n := hi - lo
		if n < 2 {
			continue
		}
		per := bytes / float64(n)
		for _, s := range e.order[lo:hi] {
			for l := range nl {
				if d := e.dom[l][s]; d >= 0 {
					e.flow[l][d]++
				}
			}
		}
		for _, s := range e.order[lo:hi] {
			for l := range nl {
				if d := e.dom[l][s]; d >= 0 && e.flow[l][d] > 0 {
					in := float64(e.flow[l][d])
					e.out[l][d] += in * (float64(n) - in) * per
					e.flow[l][d] = 0
				}
			}
			e.out[nl][s] += float64(n-1) * per
		}
	}
	for g := range ng {
		lo, hi := int(e.starts[g]), int(e.starts[g+1])
		n := hi - lo
		if n < 2 {
			continue
		}
		first := e.order[lo]
		top := nl
		for _, s := range e.order[lo+1 : hi] {
			top = min(top, e.lcl(first, s))
		}
		drain := 0.0
		for _, s := range e.order[lo:hi] {
			for l := top + 1; l < nl; l++ {
				if d := e.dom[l][s]; d >= 0 && e.out[l][d] > 0 {
					drain = max(drain, e.out[l][d]/(float64(e.cnt[l][d])*e.up[l]))
				}
			}
			if o := e.out[nl][s]; o > 0 {
				drain = max(drain, o/e.up[nl])
			}
		}
		c.Seconds = max(c.Seconds, float64(n-1)*e.alpha[top]+drain)
		if c.Level < 0 || top < c.Level {
			c.Level = top
		}
	}
	for l := range nl + 1 {
		clear(e.out[l])
	}
	return c
}

// pointToPoint models the paths as chains (no wrap-around) whose hops all
// send S bytes at once: each hop costs alpha + S/B of its lowest common level,
// with B reduced by contention, and the slowest hop sets the time.
func (e *Estimator) pointToPoint(bytes float64) Cost {
	e.evalHops(e.order, e.starts, false)
	c := Cost{Algorithm: AlgP2P, Level: -1}
	s, lvl := e.worst(0, len(e.order), 1, bytes)
	c.Seconds, c.Level = s, lvl
	return c
}
