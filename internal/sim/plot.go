package sim

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// Series is one line of a chart.
type Series struct {
	Name string
	X, Y []float64
}

// Chart is a line chart written as SVG: no dependencies, text that stays
// sharp, readable in any browser and in Markdown viewers.
type Chart struct {
	Title, XLabel, YLabel string
	Series                []Series
	// LogX plots x on a log10 scale (values ≤ 0 are dropped).
	LogX bool
	// Marks are x positions marked by short red ticks along the bottom
	// (faults on a timeline); MarkLabel names them in the legend.
	Marks     []float64
	MarkLabel string
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// SVG renders the chart.
func (c *Chart) SVG() []byte {
	const w, h, left, right, top, bottom = 720.0, 420.0, 70.0, 170.0, 40.0, 50.0
	pw, ph := w-left-right, h-top-bottom
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	tx := func(x float64) float64 {
		if c.LogX {
			return math.Log10(x)
		}
		return x
	}
	for _, s := range c.Series {
		for i := range s.X {
			if c.LogX && s.X[i] <= 0 || math.IsNaN(s.Y[i]) {
				continue
			}
			x := tx(s.X[i])
			xmin, xmax = math.Min(xmin, x), math.Max(xmax, x)
			ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
		}
	}
	if math.IsInf(xmin, 0) {
		xmin, xmax, ymin, ymax = 0, 1, 0, 1
	}
	if xmax == xmin {
		xmax = xmin + 1
	}
	if ymax == ymin {
		ymax = ymin + 1
	}
	ylo, yhi, ystep := niceRange(ymin, ymax)
	xlo, xhi, xstep := niceRange(xmin, xmax)
	if c.LogX {
		xlo, xhi, xstep = math.Floor(xmin), math.Ceil(xmax), 1
		if xhi == xlo {
			xhi++
		}
	}
	px := func(x float64) float64 { return left + (x-xlo)/(xhi-xlo)*pw }
	py := func(y float64) float64 { return top + ph - (y-ylo)/(yhi-ylo)*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="22" font-size="15" text-anchor="middle">%s</text>`+"\n", left+pw/2, html.EscapeString(c.Title))
	for y := ylo; y <= yhi+ystep/2; y += ystep {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`, left, py(y), left+pw, py(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-6, py(y)+4, tick(y, ystep))
	}
	for x := xlo; x <= xhi+xstep/2; x += xstep {
		label := tick(x, xstep)
		if c.LogX {
			label = tick(math.Pow(10, x), math.Pow(10, x))
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`, px(x), top, px(x), top+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(x), top+ph+16, label)
	}
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle">%s</text>`+"\n", left+pw/2, h-10, html.EscapeString(c.XLabel))
	fmt.Fprintf(&b, `<text transform="translate(16 %.0f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", top+ph/2, html.EscapeString(c.YLabel))
	for i, s := range c.Series {
		col := palette[i%len(palette)]
		var pts []string
		for k := range s.X {
			if c.LogX && s.X[k] <= 0 || math.IsNaN(s.Y[k]) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(tx(s.X[k])), py(s.Y[k])))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.8" points="%s"/>`+"\n", col, strings.Join(pts, " "))
		ly := top + 14 + float64(i)*18
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="%s" stroke-width="3"/>`, left+pw+12, ly-4, left+pw+32, ly-4, col)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f">%s</text>`+"\n", left+pw+38, ly, html.EscapeString(s.Name))
	}
	if len(c.Marks) > 0 && !c.LogX {
		for _, m := range c.Marks {
			if m < xlo || m > xhi {
				continue
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d62728" stroke-width="1"/>`, px(m), top+ph, px(m), top+ph-10)
		}
		b.WriteString("\n")
		ly := top + 14 + float64(len(c.Series))*18
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#d62728" stroke-width="1"/>`, left+pw+22, ly+2, left+pw+22, ly-10)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.1f">%s</text>`+"\n", left+pw+38, ly, html.EscapeString(c.MarkLabel))
	}
	b.WriteString("</svg>\n")
	return []byte(b.String())
}

// niceRange widens [lo, hi] to round ticks, about five of them.
func niceRange(lo, hi float64) (float64, float64, float64) {
	span := hi - lo
	raw := span / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	return math.Floor(lo/step) * step, math.Ceil(hi/step) * step, step
}

func tick(v, step float64) string {
	if math.Abs(step) >= 1 || v == 0 {
		return fmt.Sprintf("%.0f", v)
	}
	d := int(math.Ceil(-math.Log10(math.Abs(step))))
	return fmt.Sprintf("%.*f", d, v)
}
