package main

import (
	"math"
	"math/rand/v2"
)

// dataset is a logistic-regression problem: X is samples×features, row
// major; Y holds labels 0 or 1.
type dataset struct {
	X        []float64
	Y        []float64
	Samples  int
	Features int
}

// generate makes the data set for seed. Every rank calls it with the same
// arguments and gets the same data, bit for bit: a PCG source seeded from
// seed draws the true weights, then each sample's features and label.
func generate(seed uint64, samples, features int) dataset {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	trueW := make([]float64, features)
	for j := range trueW {
		trueW[j] = rng.NormFloat64()
	}
	trueB := 0.5 * rng.NormFloat64()
	d := dataset{X: make([]float64, samples*features), Y: make([]float64, samples), Samples: samples, Features: features}
	for i := range samples {
		z := trueB
		row := d.X[i*features : (i+1)*features]
		for j := range row {
			row[j] = rng.NormFloat64()
			z += row[j] * trueW[j]
		}
		if rng.Float64() < sigmoid(z) {
			d.Y[i] = 1
		}
	}
	return d
}

// shard returns the contiguous block of samples rank owns: samples
// [rank·n/world, (rank+1)·n/world). Shard sizes differ by at most one; when
// n is not a multiple of world the extra samples fall to the higher ranks.
func shard(n, rank, world int) (lo, hi int) {
	return rank * n / world, (rank + 1) * n / world
}

// gradInto adds to out the gradient of the summed log-loss over samples
// [lo, hi) at params (weights then bias) and returns the summed loss. out
// has len(params) elements.
func (d *dataset) gradInto(out, params []float64, lo, hi int) float64 {
	f := d.Features
	w, b := params[:f], params[f]
	loss := 0.0
	for i := lo; i < hi; i++ {
		row := d.X[i*f : (i+1)*f]
		z := b
		for j, x := range row {
			z += x * w[j]
		}
		y := d.Y[i]
		loss += softplus(z) - y*z
		r := sigmoid(z) - y
		for j, x := range row {
			out[j] += r * x
		}
		out[f] += r
	}
	return loss
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

// softplus is log(1+e^z), computed without overflow.
func softplus(z float64) float64 {
	return math.Max(z, 0) + math.Log1p(math.Exp(-math.Abs(z)))
}
