package planner

import "math"

// YoungInterval is Young's (1974) first-order optimal checkpoint interval
// √(2δM) for checkpoint write time delta and mean time between failures m
// (same unit); 0 without a write cost.
func YoungInterval(delta, m float64) float64 {
	if delta <= 0 || m <= 0 || math.IsInf(m, 1) {
		return 0
	}
	return math.Sqrt(2 * delta * m)
}

// Spares is the spare-host count that covers the hosts out for repair with
// probability p. By Little's law the mean number out is meanDown = failure
// rate × mean repair time; with failures arriving as a Poisson process the
// number out at any moment is Poisson with that mean whatever the repair
// time distribution (an M/G/∞ queue), so the count is the p-quantile of
// Poisson(meanDown): the smallest n with P(N ≤ n) ≥ p.
func Spares(meanDown, p float64) int {
	if meanDown <= 0 || p <= 0 {
		return 0
	}
	term := math.Exp(-meanDown) // P(N = 0)
	if term == 0 {
		// Past float range: the normal approximation is exact enough.
		return int(math.Ceil(meanDown + math.Sqrt(meanDown)*normalQuantile(p)))
	}
	cdf := term
	n := 0
	for cdf < p && n < 10_000_000 {
		n++
		term *= meanDown / float64(n)
		cdf += term
	}
	return n
}

// normalQuantile is the standard normal quantile (Acklam's rational
// approximation, relative error below 1.2e-9).
func normalQuantile(p float64) float64 {
	a := []float64{-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00}
	b := []float64{-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01}
	c := []float64{-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00}
	d := []float64{7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00}
	const lo = 0.02425
	switch {
	case p < lo:
		q := math.Sqrt(-2 * math.Log(p))
		return (((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	case p > 1-lo:
		q := math.Sqrt(-2 * math.Log(1-p))
		return -(((((c[0]*q+c[1])*q+c[2])*q+c[3])*q+c[4])*q + c[5]) / ((((d[0]*q+d[1])*q+d[2])*q+d[3])*q + 1)
	}
	q := p - 0.5
	r := q * q
	return (((((a[0]*r+a[1])*r+a[2])*r+a[3])*r+a[4])*r + a[5]) * q / (((((b[0]*r+b[1])*r+b[2])*r+b[3])*r+b[4])*r + 1)
}
