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

// TestAPISideBySide runs both modes at once for two short windows: each
// acknowledges submissions in each window, and the ratios are of those
// counts.
func TestAPISideBySide(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers")
	}
	c, err := APISideBySideRun(context.Background(), 4, 2, 300*time.Millisecond, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Off) != 2 || len(c.On) != 2 || len(c.Ratios) != 2 {
		t.Fatalf("counts off %v on %v ratios %v: want two of each", c.Off, c.On, c.Ratios)
	}
	for i := range c.Off {
		if c.Off[i] <= 0 || c.On[i] <= 0 || c.Ratios[i] != float64(c.On[i])/float64(c.Off[i]) {
			t.Errorf("round %d: off %d, on %d, ratio %g", i, c.Off[i], c.On[i], c.Ratios[i])
		}
	}
	if want := float64(c.On[0]+c.On[1]) / float64(c.Off[0]+c.Off[1]); c.PooledRatio != want {
		t.Errorf("pooled ratio %g, want %g", c.PooledRatio, want)
	}
	if got := (c.OffPerSec + c.OnPerSec) * c.WindowS * 2; int(got+0.5) != c.Off[0]+c.Off[1]+c.On[0]+c.On[1] {
		t.Errorf("rates off %g on %g over 2 windows of %gs: %g submissions, want %d", c.OffPerSec, c.OnPerSec, c.WindowS, got, c.Off[0]+c.Off[1]+c.On[0]+c.On[1])
	}
}
