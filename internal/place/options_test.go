package place_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/place"
)

func TestParseOptions(t *testing.T) {
	got, err := place.ParseOptions(map[string]any{"fragWeight": 0.2, "maxEvalChips": 1000, "defaultBlockWeight": 1})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(place.Options{FragWeight: 0.2, MaxEvalChips: 1000, DefaultBlockWeight: 1}, got); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	for name, args := range map[string]map[string]any{
		"unknown":  {"nope": 1},
		"string":   {"fragWeight": "x"},
		"negative": {"fragWeight": -1.0},
	} {
		if _, err := place.ParseOptions(args); err == nil {
			t.Errorf("%s: args %v accepted", name, args)
		}
	}
}
