package bench

import (
	"context"
	"testing"
	"time"
)

// TestAPICompareAuthRunsBothModes runs a small comparison: each round has
// one run without and one with authentication (TLS, tokens, mTLS agents,
// audit), and the ratios are of those runs.
func TestAPICompareAuthRunsBothModes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts four servers")
	}
	c, err := APICompareAuth(context.Background(), 40, 8, 1, 10*time.Millisecond, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Off) != 1 || len(c.On) != 1 || c.Off[0].Auth || !c.On[0].Auth {
		t.Fatalf("runs off %+v on %+v: want one of each, flagged", c.Off, c.On)
	}
	if want := c.On[0].SubmissionsPerSec / c.Off[0].SubmissionsPerSec; c.SubmissionsRatio != want || want <= 0 {
		t.Errorf("submissions ratio %g, want on/off %g", c.SubmissionsRatio, want)
	}
	if c.On[0].Gang32SubmitToRun <= 0 || c.Gang32Ratio <= 0 {
		t.Errorf("gang figures: on %g ms, ratio %g", c.On[0].Gang32SubmitToRun, c.Gang32Ratio)
	}
}
