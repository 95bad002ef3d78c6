package place

import (
	"fmt"
	"sort"
)

// ParseOptions reads Options from a scheduler profile's arguments:
// fragWeight (Options.FragWeight), maxEvalChips and defaultBlockWeight, all
// optional non-negative numbers.
func ParseOptions(args map[string]any) (Options, error) {
	var o Options
	keys := make([]string, 0, len(args))
	for k := range args {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, ok := number(args[k])
		if !ok || v < 0 {
			return Options{}, fmt.Errorf("argument %s: %v is not a non-negative number", k, args[k])
		}
		switch k {
		case "fragWeight":
			o.FragWeight = v
		case "maxEvalChips":
			o.MaxEvalChips = int(v)
		case "defaultBlockWeight":
			o.DefaultBlockWeight = v
		default:
			return Options{}, fmt.Errorf("unknown argument %q (allowed: defaultBlockWeight, fragWeight, maxEvalChips)", k)
		}
	}
	return o, nil
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
