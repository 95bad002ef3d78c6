package place

import (
	"fmt"
	"sort"

	"github.com/qunhq/qun/internal/sched"
)

// Factory builds the plugin from a profile's arguments: fragWeight
// (Options.FragWeight), maxEvalChips and defaultBlockWeight, all optional.
func Factory(args map[string]any) (sched.Plugin, error) {
	var o Options
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := number(args[k])
		if !ok || v < 0 {
			return nil, fmt.Errorf("argument %s: %v is not a non-negative number", k, args[k])
		}
		switch k {
		case "fragWeight":
			o.FragWeight = v
		case "maxEvalChips":
			o.MaxEvalChips = int(v)
		case "defaultBlockWeight":
			o.DefaultBlockWeight = v
		default:
			return nil, fmt.Errorf("unknown argument %q (allowed: defaultBlockWeight, fragWeight, maxEvalChips)", k)
		}
	}
	return New(o), nil
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}
