package bench

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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

// TestAPICompareProcesses drives the comparison with a fake runner: the
// runs alternate off, on, on, off; the medians, ratios and the bootstrap
// interval are of the runs' figures.
func TestAPICompareProcesses(t *testing.T) {
	var order []bool
	i := 0
	run := func(_ context.Context, secure bool) (*APIResult, error) {
		order = append(order, secure)
		i++
		rate := 1000.0 + float64(i)
		if secure {
			rate -= 100
		}
		return &APIResult{Auth: secure, SubmissionsPerSec: rate, CPUPerSubmissionUs: map[bool]float64{false: 100, true: 125}[secure], Gang32SubmitToRun: 20}, nil
	}
	c, err := APICompareProcesses(context.Background(), run, 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]bool{false, true, true, false, false, true}, order); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	// Off runs are 1, 4, 5 (rates 1001, 1004, 1005); on runs 2, 3, 6 (902, 903, 906).
	if c.OffSubmissionsPerSec != 1004 || c.OnSubmissionsPerSec != 903 {
		t.Errorf("medians off %g on %g; want 1004 and 903", c.OffSubmissionsPerSec, c.OnSubmissionsPerSec)
	}
	if want := 903.0 / 1004; c.SubmissionsRatio != want {
		t.Errorf("ratio %g, want %g", c.SubmissionsRatio, want)
	}
	lo, hi := c.SubmissionsRatio90[0], c.SubmissionsRatio90[1]
	if !(lo <= c.SubmissionsRatio && c.SubmissionsRatio <= hi) || lo < 902.0/1005 || hi > 906.0/1001 {
		t.Errorf("90%% interval [%g, %g] does not hold the ratio %g within the runs' extremes", lo, hi, c.SubmissionsRatio)
	}
	if c.CPUPerSubmissionRatio != 0.8 || c.Gang32Ratio != 1 {
		t.Errorf("CPU ratio %g, gang ratio %g; want 0.8 and 1", c.CPUPerSubmissionRatio, c.Gang32Ratio)
	}
	if again := bootstrapRatio(figures(c.Off, (*APIResult).rate), figures(c.On, (*APIResult).rate), bootstrapResamples); again != c.SubmissionsRatio90 {
		t.Errorf("the bootstrap of the same runs gave %v, then %v", c.SubmissionsRatio90, again)
	}
	bad := func(context.Context, bool) (*APIResult, error) { return &APIResult{Auth: true}, nil }
	if _, err := APICompareProcesses(context.Background(), bad, 1, nil); err == nil {
		t.Error("a run reporting the other mode was accepted")
	}
}
