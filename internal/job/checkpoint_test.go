package job_test

import (
	"strings"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/job"
)

// `checkpoint.interval: auto` becomes Daly's interval for the job's size:
// 16,384 chips at 50,700 chip-hours each → M = 3.094 h; δ = 2 s →
// √(2·2·11,140) · (1 + …) − 2 ≈ 210 s.
func TestCheckpointIntervalAuto(t *testing.T) {
	spec := func(size, interval string) string {
		return "apiVersion: qun/v1\nkind: Job\nname: big\n" + size + "\ncheckpoint:\n  interval: " + interval +
			"\n  dir: /ckpt/big\ncommand: [python3, train.py]\n"
	}
	cases := []struct {
		size string
		want time.Duration
	}{
		{"ranks: 2048\nchipsPerRank: 8", 210 * time.Second},
		{"chips: 1024", 843 * time.Second},
		{"chips: 8", 9552 * time.Second},
	}
	for _, c := range cases {
		s, err := job.Load("big.yaml", []byte(spec(c.size, "auto")), nil)
		if err != nil {
			t.Fatalf("%s: %v", c.size, err)
		}
		if got := time.Duration(s.Checkpoint.Interval); got != c.want {
			t.Errorf("%s: interval %s, want %s", c.size, got, c.want)
		}
	}
	if s, err := job.Load("big.yaml", []byte(spec("chips: 8", "20m")), nil); err != nil || time.Duration(s.Checkpoint.Interval) != 20*time.Minute {
		t.Fatalf("a given interval stays: %v %v", s, err)
	}
	_, err := job.Load("big.yaml", []byte(strings.Replace(spec("chips: 8", "auto"), "  dir: /ckpt/big\n", "", 1)), nil)
	if err == nil || !strings.Contains(err.Error(), "checkpoint.dir") {
		t.Fatalf("auto without a directory: %v", err)
	}
	_, err = job.Load("big.yaml", []byte(spec("chips: 8", "soon")), nil)
	if err == nil || !strings.Contains(err.Error(), "checkpoint.interval") {
		t.Fatalf("interval soon: %v", err)
	}
}
