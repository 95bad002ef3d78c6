package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/qunhq/qun/api"
)

func TestRenderJobHistory(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	back := t0.Add(12 * time.Second)
	j := &api.Job{ID: "j-000007", Name: "train", Queue: "default", State: api.JobRunning, Attempt: 1, SubmittedAt: t0,
		History: []api.Attempt{{Attempt: 0, Cause: "node-lost", Detail: "node lab/n1 lost", DetectedAt: t0, RecoveredAt: &back,
			Path: "re-place", Replaced: []api.RankMove{{Rank: 1, From: "lab/n1", To: "lab/n3"}}}}}
	var b bytes.Buffer
	if err := renderJob(&b, j); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"attempt 1: running", "ATTEMPT", "node-lost", "2026-01-02T03:00:00Z", "(+12s)", "re-place", "rank 1 lab/n1→lab/n3"} {
		if !strings.Contains(out, want) {
			t.Errorf("job status lacks %q:\n%s", want, out)
		}
	}
}
