package agent

import (
	"fmt"
	"slices"
	"strings"

	"github.com/qunhq/qun/internal/device"
)

// ParseDevices builds the discoverers named by specs, each a comma-separated
// list of plugins: "nvidia", "ascend", "fake:KIND:COUNT". A token that does
// not start with a plugin name continues the previous fake spec, so
// "fake:H100:8,H20:2" is one fake plugin of ten devices and
// "fake:910B:8,nvidia" is two plugins. "none" (or no spec) means no devices.
// A plugin may be named once.
func ParseDevices(specs []string, opts ...device.Option) ([]device.Discoverer, error) {
	type item struct{ name, arg string }
	var items []item
	for _, spec := range specs {
		for tok := range strings.SplitSeq(spec, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "" || tok == "none" {
				continue
			}
			name, arg, _ := strings.Cut(tok, ":")
			if slices.Contains(device.Names(), name) {
				items = append(items, item{name, arg})
				continue
			}
			if n := len(items); n > 0 && items[n-1].name == "fake" {
				items[n-1].arg += "," + tok
				continue
			}
			return nil, fmt.Errorf("device plugin %q: want one of %s (fake as fake:KIND:COUNT, e.g. fake:910B:8)",
				tok, strings.Join(device.Names(), ", "))
		}
	}
	var out []device.Discoverer
	seen := map[string]bool{}
	for _, it := range items {
		if seen[it.name] {
			return nil, fmt.Errorf("device plugin %s given twice; give it once (fake: one spec such as fake:H100:8,H20:2)", it.name)
		}
		seen[it.name] = true
		if it.name != "fake" && it.arg != "" {
			return nil, fmt.Errorf("device plugin %s takes no argument (got %q)", it.name, it.arg)
		}
		d, err := device.New(it.name, it.arg, opts...)
		if err != nil {
			return nil, fmt.Errorf("device plugin %s: %w", it.name, err)
		}
		out = append(out, d)
	}
	return out, nil
}
