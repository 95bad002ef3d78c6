package jobtest_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/job/jobtest"
)

func TestMake(t *testing.T) {
	tests := map[string]struct {
		got  *job.Spec
		want *job.Spec
	}{
		"minimal": {
			got: jobtest.Make("a").Valid(t),
			want: &job.Spec{APIVersion: "qun/v1", Kind: "Job", Name: "a", Queue: "default",
				Chips: 1, Ranks: 1, ChipsPerRank: 1000, Parallelism: job.Parallelism{Tensor: 1, Pipeline: 1, Data: 1, Expert: 1},
				Command: []string{"true"}},
		},
		"brief example": {
			got: jobtest.Make("train").Queue("research").Chips("910C", 64).Ranks(8).Priority(5).
				Duration(time.Hour).Plan(8, 1, 8, 1).Valid(t),
			want: &job.Spec{APIVersion: "qun/v1", Kind: "Job", Name: "train", Queue: "research", Priority: 5,
				Chips: 64, Ranks: 8, ChipsPerRank: 8000, Accept: job.Accept{Kinds: []string{"910C"}},
				Parallelism: job.Parallelism{Tensor: 8, Pipeline: 1, Data: 8, Expert: 1},
				Duration:    job.Duration(time.Hour), Command: []string{"true"}},
		},
		"fractional": {
			got: jobtest.Make("serve").Ranks(4).ChipsPerRank(250).MinHBM(32).Resources(2000, 4096).
				Command("python", "serve.py").Env("MODEL", "m").Checkpoint(time.Minute, "/c").Valid(t),
			want: &job.Spec{APIVersion: "qun/v1", Kind: "Job", Name: "serve", Queue: "default",
				Chips: 1, Ranks: 4, ChipsPerRank: 250, Accept: job.Accept{MinHBMGiB: 32},
				CPUMilliPerRank: 2000, MemoryMiBPerRank: 4096,
				Parallelism: job.Parallelism{Tensor: 1, Pipeline: 1, Data: 4, Expert: 1},
				Checkpoint:  job.Checkpoint{Interval: job.CheckpointInterval(time.Minute), Dir: "/c"},
				Command:     []string{"python", "serve.py"}, Env: map[string]string{"MODEL": "m"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestObjIsACopy(t *testing.T) {
	w := jobtest.Make("a").Kinds("H20").Env("A", "1")
	first := w.Obj()
	first.Accept.Kinds[0] = "changed"
	first.Env["A"] = "changed"
	second := w.Env("B", "2").Obj()
	if diff := cmp.Diff([]string{"H20"}, second.Accept.Kinds); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"A": "1", "B": "2"}, second.Env); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
	if _, ok := first.Env["B"]; ok {
		t.Error("a later Env call changed an earlier Obj")
	}
}

func TestObjDoesNotValidate(t *testing.T) {
	s := jobtest.Make("a").Chips("", 3).Ranks(2).Obj()
	if probs := s.Validate(nil, nil); len(probs) != 1 || probs[0].Field != "chips" {
		t.Errorf("Validate = %v; want one problem with chips", probs)
	}
}

// TestJSONRoundTrip: the JSON a test submits decodes back to the spec.
func TestJSONRoundTrip(t *testing.T) {
	w := jobtest.Make("quick").Queue("research").Chips("", 2).Command("sleep", "1")
	var got job.Spec
	if err := json.Unmarshal(w.JSON(t), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w.Obj(), &got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
