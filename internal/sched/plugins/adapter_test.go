package plugins

import (
	"testing"

	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/sched"
)

// TestPlaceCodesMatchSched: the adapter gives each of place's status codes
// the scheduler's code of the same name, and an unknown one is an Error.
func TestPlaceCodesMatchSched(t *testing.T) {
	for _, c := range []place.Code{place.Unschedulable, place.Unresolvable, place.Code(9)} {
		got := placeStatus("topology", &place.Status{Code: c, Reason: "r"})
		want := c.String()
		if c == 9 {
			want = sched.Error.String()
		}
		if got.Code.String() != want || got.Plugin != "topology" || got.Reason != "r" {
			t.Errorf("place code %v adapted to %+v, want code %s", c, got, want)
		}
	}
	if placeStatus("topology", nil) != nil {
		t.Error("a nil placement status adapted to a failure")
	}
}
