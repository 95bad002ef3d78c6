package metrics

import (
	"fmt"
	"io"
	"slices"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ParseText reads a /metrics response in Prometheus's text format.
func ParseText(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: parse exposition: %w", err)
	}
	return fams, nil
}

// Describe lists the families whose names start with prefix, one line each,
// sorted: "name type [label,…] help", the labels being those any sample
// carries. Golden tests of metric names and types compare it.
func Describe(fams map[string]*dto.MetricFamily, prefix string) string {
	var lines []string
	for name, f := range fams {
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		var ls []string
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if !slices.Contains(ls, l.GetName()) {
					ls = append(ls, l.GetName())
				}
			}
		}
		slices.Sort(ls)
		lines = append(lines, fmt.Sprintf("%s %s [%s] %s", name, strings.ToLower(f.GetType().String()), strings.Join(ls, ","), f.GetHelp()))
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n") + "\n"
}
