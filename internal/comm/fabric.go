package comm

// Level is one tier of a hierarchical fabric. Level 0 is the root (for example
// the cluster); increasing indices go inward (spine, leaf, supernode, node,
// ring ...). Chips are the leaves below the innermost level.
type Level struct {
	Name string
	// BandwidthGBps is the per-chip, one-direction bandwidth in GB/s (1e9
	// bytes per second) for traffic that stays inside one domain of this level.
	BandwidthGBps float64
	// LatencyUs is one hop's latency in microseconds for traffic inside one
	// domain of this level.
	LatencyUs float64
	// Oversubscription is >= 1 (0 means 1): traffic crossing between this
	// level's children gets BandwidthGBps/Oversubscription per chip when all
	// chips of a child send out at once.
	Oversubscription float64
}

// Fabric is the topology the cost model reads. pool.Topology implements it;
// tests use small fakes.
//
// Implementations must be immutable while an Estimator built on them is in
// use, and Domain must be safe to call from the goroutine that calls the
// Estimator.
type Fabric interface {
	// Levels returns the levels from the root (index 0) inward.
	Levels() []Level
	// Domain returns the ID of the domain at level lvl containing chip, or -1
	// if the chip's branch has no domain at that level. IDs are unique within
	// a level (not merely among siblings), and a domain's ancestors are the
	// same for all of its chips.
	Domain(chip int32, lvl int) int32
}

// CommonLevel returns the lowest common level of chips a and b: the innermost
// level whose domain contains both, which is the level their traffic uses. It
// returns 0 (the root) when no level reports a common domain, and -1 when the
// fabric has no levels.
func CommonLevel(f Fabric, a, b int32) int {
	n := len(f.Levels())
	if n == 0 {
		return -1
	}
	for l := n - 1; l > 0; l-- {
		if d := f.Domain(a, l); d >= 0 && d == f.Domain(b, l) {
			return l
		}
	}
	return 0
}

// oversub returns the level's oversubscription with 0 (and anything below
// 1) read as 1.
func (l Level) oversub() float64 {
	if l.Oversubscription < 1 {
		return 1
	}
	return l.Oversubscription
}
