package job_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/strictyaml"
)

// base returns a minimal valid spec as a user would write it.
func base() job.Spec {
	return job.Spec{APIVersion: job.APIVersion, Kind: job.Kind, Name: "t", Command: []string{"true"}}
}

func with(f func(s *job.Spec)) job.Spec {
	s := base()
	f(&s)
	return s
}

type shape struct {
	Chips, Ranks int
	PerRank      job.Milli
	TotalMilli   int64
	Plan         job.Parallelism
}

func TestNormalize(t *testing.T) {
	plan := func(tp, pp, dp, ep int) job.Parallelism {
		return job.Parallelism{Tensor: tp, Pipeline: pp, Data: dp, Expert: ep}
	}
	tests := map[string]struct {
		spec job.Spec
		want shape
	}{
		"nothing given": {base(), shape{1, 1, 1000, 1000, plan(1, 1, 1, 1)}},
		"chips only": {with(func(s *job.Spec) { s.Chips = 8 }),
			shape{8, 8, 1000, 8000, plan(1, 1, 8, 1)}},
		"chips and chipsPerRank": {with(func(s *job.Spec) { s.Chips, s.ChipsPerRank = 64, 8000 }),
			shape{64, 8, 8000, 64000, plan(1, 1, 64, 1)}},
		"chips and ranks derive chipsPerRank": {with(func(s *job.Spec) { s.Chips, s.Ranks = 64, 8 }),
			shape{64, 8, 8000, 64000, plan(1, 1, 64, 1)}},
		"chips and more ranks derive a fraction": {with(func(s *job.Spec) { s.Chips, s.Ranks = 1, 4 }),
			shape{1, 4, 250, 1000, plan(1, 1, 4, 1)}},
		"all three agree": {with(func(s *job.Spec) { s.Chips, s.Ranks, s.ChipsPerRank = 64, 8, 8000 }),
			shape{64, 8, 8000, 64000, plan(1, 1, 64, 1)}},
		"ranks only": {with(func(s *job.Spec) { s.Ranks = 3 }),
			shape{3, 3, 1000, 3000, plan(1, 1, 3, 1)}},
		"quarter chips": {with(func(s *job.Spec) { s.Ranks, s.ChipsPerRank = 4, 250 }),
			shape{1, 4, 250, 1000, plan(1, 1, 4, 1)}},
		"fractional total is not whole": {with(func(s *job.Spec) { s.Ranks, s.ChipsPerRank = 3, 250 }),
			shape{0, 3, 250, 750, plan(1, 1, 3, 1)}},
		"data derived": {with(func(s *job.Spec) {
			s.Chips, s.ChipsPerRank = 512, 8000
			s.Parallelism = job.Parallelism{Tensor: 8, Pipeline: 4}
		}), shape{512, 64, 8000, 512000, plan(8, 4, 16, 1)}},
		"data given": {with(func(s *job.Spec) {
			s.Chips = 16
			s.Parallelism = job.Parallelism{Tensor: 2, Data: 8, Expert: 4}
		}), shape{16, 16, 1000, 16000, plan(2, 1, 8, 4)}},
		"data not derivable stays 0": {with(func(s *job.Spec) {
			s.Chips = 8
			s.Parallelism = job.Parallelism{Tensor: 3}
		}), shape{8, 8, 1000, 8000, plan(3, 1, 0, 1)}},
		"chips not dividing leaves ranks 0": {with(func(s *job.Spec) { s.Chips, s.ChipsPerRank = 10, 4000 }),
			shape{10, 0, 4000, 0, plan(1, 1, 0, 1)}},
		"disagreeing chips are kept": {with(func(s *job.Spec) { s.Chips, s.Ranks, s.ChipsPerRank = 64, 8, 4000 }),
			shape{64, 8, 4000, 32000, plan(1, 1, 32, 1)}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := tc.spec
			// The helpers apply defaults on the fly, so they agree before and after Normalize.
			before := shape{0, s.RankCount(), job.Milli(s.RankMilli()), s.TotalChipsMilli(), s.Plan()}
			s.Normalize()
			got := shape{s.Chips, s.Ranks, s.ChipsPerRank, s.TotalChipsMilli(), s.Parallelism}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("after Normalize (-want +got):\n%s", diff)
			}
			before.Chips = tc.want.Chips
			if diff := cmp.Diff(tc.want, before); diff != "" {
				t.Errorf("helpers before Normalize (-want +got):\n%s", diff)
			}
			if s.Queue != job.DefaultQueue {
				t.Errorf("Queue = %q; want %q", s.Queue, job.DefaultQueue)
			}
			again := s
			again.Normalize()
			if diff := cmp.Diff(s, again); diff != "" {
				t.Errorf("Normalize is not idempotent (-first +second):\n%s", diff)
			}
		})
	}
}

// TestValidateWithoutPositions checks specs built in Go (or from JSON):
// problems name the field only, and zero means "not given".
func TestValidateWithoutPositions(t *testing.T) {
	tests := map[string]struct {
		spec job.Spec
		want []string // "field: message prefix"
	}{
		"valid minimal":       {spec: base()},
		"zero means default":  {spec: with(func(s *job.Spec) { s.Ranks, s.ChipsPerRank, s.Chips = 0, 0, 0 })},
		"nothing given":       {spec: job.Spec{}, want: []string{"apiVersion: required", "command: required", "kind: required", "name: required"}},
		"negative ranks":      {spec: with(func(s *job.Spec) { s.Ranks = -1 }), want: []string{"ranks: -1 is out of range"}},
		"too many ranks":      {spec: with(func(s *job.Spec) { s.Ranks = job.MaxRanks + 1 }), want: []string{"ranks: 1000001 is out of range"}},
		"too many chips":      {spec: with(func(s *job.Spec) { s.Chips = job.MaxTotalChips + 1 }), want: []string{"chips: 1048577 is out of range"}},
		"largest job":         {spec: with(func(s *job.Spec) { s.Chips, s.ChipsPerRank = job.MaxTotalChips, 64000 })},
		"one chip too many":   {spec: with(func(s *job.Spec) { s.Ranks, s.ChipsPerRank = 16385, 64000 }), want: []string{"ranks: 16385 ranks × 64 chips per rank = 1048640 chips"}},
		"65 chips per rank":   {spec: with(func(s *job.Spec) { s.ChipsPerRank = 65000 }), want: []string{"chipsPerRank: 65 is not allowed"}},
		"1.5 chips per rank":  {spec: with(func(s *job.Spec) { s.ChipsPerRank = 1500 }), want: []string{"chipsPerRank: 1.5 is not allowed"}},
		"derived 1.5":         {spec: with(func(s *job.Spec) { s.Chips, s.Ranks = 3, 2 }), want: []string{"chips: 3 chips over 2 ranks is 1.5 chips per rank"}},
		"derived 128":         {spec: with(func(s *job.Spec) { s.Chips, s.Ranks = 256, 2 }), want: []string{"chips: 256 chips over 2 ranks is 128 chips per rank"}},
		"derived ranks > max": {spec: with(func(s *job.Spec) { s.Chips, s.ChipsPerRank = 1001, 1 }), want: []string{"chips: 1001 chips in ranks of 0.001 chips is 1001000 ranks"}},
		"not dividing":        {spec: with(func(s *job.Spec) { s.Chips, s.ChipsPerRank = 10, 4000 }), want: []string{"chips: 10 chips do not divide into ranks of 4 chips"}},
		"fractional plan counts ranks": {spec: with(func(s *job.Spec) {
			s.Ranks, s.ChipsPerRank = 4, 250
			s.Parallelism.Tensor = 4
		})},
		"fractional plan mismatch": {spec: with(func(s *job.Spec) {
			s.Ranks, s.ChipsPerRank = 4, 250
			s.Parallelism.Data = 2
		}), want: []string{"parallelism: tensor × pipeline × data = 1 × 1 × 2 = 2, but the job has 4 ranks"}},
		"negative tensor":   {spec: with(func(s *job.Spec) { s.Parallelism.Tensor = -2 }), want: []string{"parallelism.tensor: -2 is out of range"}},
		"huge plan":         {spec: with(func(s *job.Spec) { s.Parallelism = job.Parallelism{Tensor: 1 << 20, Pipeline: 1 << 20, Data: 1 << 20} }), want: []string{"parallelism: tensor × pipeline × data = 1048576 × 1048576 × 1048576 = 1152921504606846976, but the job has 1 chips"}},
		"expert too big":    {spec: with(func(s *job.Spec) { s.Chips, s.Parallelism.Expert = 8, 16 }), want: []string{"parallelism.expert: 16 does not divide data = 8"}},
		"NaN HBM":           {spec: with(func(s *job.Spec) { s.Accept.MinHBMGiB = nan() }), want: []string{"accept.minHBMGiB: NaN is out of range"}},
		"duplicate kind":    {spec: with(func(s *job.Spec) { s.Accept.Kinds = []string{"H20", "H20"} }), want: []string{"accept.kinds[1]: chip kind \"H20\" is listed twice"}},
		"HBM of any kind":   {spec: with(func(s *job.Spec) { s.Accept.MinHBMGiB = 141 })},
		"HBM beyond all":    {spec: with(func(s *job.Spec) { s.Accept.MinHBMGiB = 1000 }), want: []string{"accept.minHBMGiB: no accepted chip kind has 1000 GiB of HBM (the most is 144 GiB, on 950DT)"}},
		"NaN bytes":         {spec: with(func(s *job.Spec) { s.Communication.TensorBytes = nan() }), want: []string{"communication.tensorBytes: NaN is out of range"}},
		"negative interval": {spec: with(func(s *job.Spec) { s.Checkpoint.Interval = -1 }), want: []string{"checkpoint.interval: -1ns is negative"}},
		"dir only":          {spec: with(func(s *job.Spec) { s.Checkpoint.Dir = "/ckpt" })},
		"NUL in args":       {spec: with(func(s *job.Spec) { s.Args = []string{"ok", "a\x00b"} }), want: []string{"args[1]: contains a NUL byte"}},
		"NUL in env value":  {spec: with(func(s *job.Spec) { s.Env = map[string]string{"A": "\x00"} }), want: []string{"env.A: the value contains a NUL byte"}},
		"env keys sorted": {spec: with(func(s *job.Spec) { s.Env = map[string]string{"z-1": "", "A-B": "", "OK_1": ""} }),
			want: []string{"env.A-B: \"A-B\" is not a valid", "env.z-1: \"z-1\" is not a valid"}},
		"long name":      {spec: with(func(s *job.Spec) { s.Name = strings.Repeat("a", 64) }), want: []string{"name: \"" + strings.Repeat("a", 64) + "\" is not a valid name"}},
		"63 is fine":     {spec: with(func(s *job.Spec) { s.Name = strings.Repeat("a", 63) })},
		"queue path":     {spec: with(func(s *job.Spec) { s.Queue = "org/team/project" })},
		"queue trailing": {spec: with(func(s *job.Spec) { s.Queue = "org/" }), want: []string{"queue: \"org/\" is not a valid queue path"}},
		"priority edge":  {spec: with(func(s *job.Spec) { s.Priority = job.MinPriority })},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			probs := tc.spec.Validate(nil, nil)
			if len(tc.want) == 0 && probs != nil {
				t.Fatalf("Validate = %v; want no problems", probs)
			}
			var got []string
			for i, p := range probs {
				if p.File != "" || p.Line != 0 {
					t.Errorf("problem %q has a position without positions given", p)
				}
				s := p.String()
				if i < len(tc.want) && strings.HasPrefix(s, tc.want[i]) {
					s = tc.want[i] // compare prefixes only
				}
				got = append(got, s)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if probs == nil {
				n := tc.spec
				n.Normalize()
				if again := n.Validate(nil, nil); again != nil {
					t.Errorf("normalized spec is invalid: %v", again)
				}
			}
		})
	}
}

func nan() float64 { z := 0.0; return z / z }

// TestZeroWrittenInYAML checks that with positions an explicit 0 is an
// error, while the same spec without positions takes the default.
func TestZeroWrittenInYAML(t *testing.T) {
	for _, field := range []string{"chips", "ranks", "chipsPerRank", "parallelism:\n  tensor"} {
		doc := "apiVersion: qun/v1\nkind: Job\nname: z\ncommand: [x]\n" + field + ": 0\n"
		var s job.Spec
		pos, err := strictyaml.Decode("z.yaml", []byte(doc), &s)
		if err != nil {
			t.Fatal(err)
		}
		if probs := s.Validate(nil, pos); len(probs) != 1 || !strings.Contains(probs[0].Msg, "0 is ") {
			t.Errorf("%s: 0 with positions: problems %v; want one about the 0", field, probs)
		}
		if probs := s.Validate(nil, nil); probs != nil {
			t.Errorf("%s: 0 without positions: problems %v; want none", field, probs)
		}
	}
}

// TestJSON checks that the YAML and JSON field names are identical, and that
// a spec survives a JSON round trip with unknown fields disallowed.
func TestJSON(t *testing.T) {
	checkTags(t, reflect.TypeOf(job.Spec{}), "Spec")
	s := with(func(s *job.Spec) {
		s.Chips, s.ChipsPerRank = 2, 250
		s.Accept = job.Accept{Kinds: []string{"910B"}, MinHBMGiB: 32, MixFamilies: true}
		s.CPUMilliPerRank, s.MemoryMiBPerRank = 1000, 2048
		s.Parallelism = job.Parallelism{Tensor: 2, Pipeline: 2}
		s.Communication = job.Communication{TensorBytes: 1.5e9, ExpertBytes: 1}
		s.Duration = job.Duration(90 * time.Minute)
		s.Checkpoint = job.Checkpoint{Interval: job.CheckpointInterval(time.Minute), Dir: "/c"}
		s.Env = map[string]string{"A": "b"}
		s.Args, s.Workdir, s.Queue, s.Priority = []string{"-v"}, "/w", "q", -3
	})
	if probs := s.Validate(nil, nil); probs != nil {
		t.Fatalf("test spec invalid: %v", probs)
	}
	s.Normalize()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, frag := range []string{`"chipsPerRank":0.25`, `"duration":"1h30m"`, `"interval":"1m"`, `"minHBMGiB":32`} {
		if !bytes.Contains(b, []byte(frag)) {
			t.Errorf("JSON %s lacks %s", b, frag)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var got job.Spec
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
	// A minimal spec omits everything optional.
	b, err = json.Marshal(base())
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"apiVersion":"qun/v1","kind":"Job","name":"t","command":["true"]}`; string(b) != want {
		t.Errorf("minimal JSON = %s; want %s", b, want)
	}
}

func checkTags(t *testing.T, typ reflect.Type, path string) {
	t.Helper()
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		y, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		j, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if y == "" || y != j {
			t.Errorf("%s.%s: yaml name %q and json name %q differ or are missing", path, f.Name, y, j)
		}
		if y != "" && (y[0] < 'a' || y[0] > 'z' || strings.ContainsAny(y, "_-")) {
			t.Errorf("%s.%s: name %q is not camelCase", path, f.Name, y)
		}
		if f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == typ.PkgPath() {
			checkTags(t, f.Type, path+"."+f.Name)
		}
	}
}
