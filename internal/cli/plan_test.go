package cli

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPlanValidateJSON(t *testing.T) {
	code, stdout, stderr := run(t, "plan", "--validate", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	// The contract is a top-level array of rows with these keys.
	var raw []map[string]any
	if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
		t.Fatalf("output is not a JSON array: %v\n%s", err, stdout)
	}
	for i, r := range raw {
		for _, k := range []string{"run", "metric", "predicted", "published", "error_pct", "calibrated"} {
			if _, ok := r[k]; !ok {
				t.Errorf("row %d has no %q: %v", i, k, r)
			}
		}
	}
	var rows []struct {
		Run        string  `json:"run"`
		Metric     string  `json:"metric"`
		ErrorPct   float64 `json:"error_pct"`
		Calibrated bool    `json:"calibrated"`
	}
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil {
		t.Fatal(err)
	}
	uncalibrated := 0
	for _, r := range rows {
		if r.Calibrated {
			continue
		}
		uncalibrated++
		if math.Abs(r.ErrorPct) > 20 {
			t.Errorf("%s %s: error %+.1f%%, want within ±20%%", r.Run, r.Metric, r.ErrorPct)
		}
	}
	if uncalibrated < 2 {
		t.Errorf("%d uncalibrated rows; want at least 2 predictions", uncalibrated)
	}
}

// TestPlanCompare runs the default comparison once (the slowest command).
func TestPlanCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("plans 8 (model, kind) pairs; internal/planner's TestCompareGolden checks the same comparison")
	}
	code, stdout, stderr := run(t, "plan", "--compare")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, s := range []string{"910B", "910C", "H20", "H100", "model dense-70b", "model moe-671b",
		"deadline 30.0 days", "chips", "average power MW", "energy MWh"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	if n := strings.Count(stdout, "fewest chips finishing within 30.0 days"); n != 8 {
		t.Errorf("%d planned (model, kind) pairs; want 8\n%s", n, stdout)
	}
}

func TestPlanJSON(t *testing.T) {
	tests := map[string][]string{
		"preset on chips":    {"--model", "dense-70b", "--tokens", "15T", "--kind", "H100", "--chips", "4096"},
		"preset by deadline": {"--model", "dense-70b", "--tokens", "15T", "--kind", "910C", "--deadline", "30d"},
		"custom model":       {"--params", "13B", "--layers", "40", "--hidden", "5120", "--seq", "4096", "--vocab", "32000", "--tokens", "1T", "--kind", "H20", "--chips", "256"},
		"pool file":          {"--model", "dense-70b", "--tokens", "100B", "--pool", "../planner/testdata/pool-h100.yaml", "--chips", "64", "--price", "2.5"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"plan", "-o", "json"}, args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var res struct {
				Kinds []struct {
					Kind     string  `json:"kind"`
					Error    string  `json:"error"`
					Chips    int     `json:"chips"`
					WallDays float64 `json:"wall_days"`
				} `json:"kinds"`
			}
			if err := json.Unmarshal([]byte(stdout), &res); err != nil {
				t.Fatal(err)
			}
			if len(res.Kinds) != 1 {
				t.Fatalf("%d kinds, want 1", len(res.Kinds))
			}
			if k := res.Kinds[0]; k.Error != "" || k.Chips <= 0 || !(k.WallDays > 0) {
				t.Errorf("kind %s: chips %d, wall days %g, error %q; want a plan", k.Kind, k.Chips, k.WallDays, k.Error)
			}
		})
	}
}

// TestPlanFlagsOverride checks that a flag overrides the preset and the
// assumptions file, and that what the flag does not name is kept.
func TestPlanFlagsOverride(t *testing.T) {
	code, stdout, stderr := run(t, "plan", "-o", "json", "--model", "dense-70b", "--seq", "4096", "--tokens", "1T",
		"--kind", "H100", "--chips", "1024", "--pue", "1.3", "--efficiency", "H100=0.5", "--restart", "0.5d")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var res struct {
		Model struct {
			Layers int `json:"layers"`
			SeqLen int `json:"seq_len"`
		} `json:"model"`
		Kinds []struct {
			Efficiency float64 `json:"efficiency"`
		} `json:"kinds"`
		Assumptions []struct {
			Flag  string `json:"flag"`
			Value string `json:"value"`
		} `json:"assumptions"`
	}
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range res.Assumptions {
		got[a.Flag] = a.Value
	}
	want := map[string]string{"--pue": "1.30", "--restart": "12h0m0s", "--overlap-dp": "0.90"}
	for f, v := range want {
		if got[f] != v {
			t.Errorf("%s = %q, want %q", f, got[f], v)
		}
	}
	if res.Model.Layers != 80 || res.Model.SeqLen != 4096 {
		t.Errorf("model layers %d, seq %d; want the preset's 80 layers with sequence 4096", res.Model.Layers, res.Model.SeqLen)
	}
	if len(res.Kinds) != 1 || res.Kinds[0].Efficiency != 0.5 {
		t.Errorf("kinds %+v; want efficiency 0.5", res.Kinds)
	}
}

func TestPlanBadInputExit2(t *testing.T) {
	plain := func(extra ...string) []string {
		return append([]string{"plan", "--model", "dense-70b", "--tokens", "15T", "--kind", "H100"}, extra...)
	}
	tests := map[string]struct {
		args []string
		msg  string // the part of the message that names the limit
	}{
		"no fit on few chips": {[]string{"plan", "--model", "llama3-405b", "--tokens", "15T", "--kind", "910B", "--chips", "16"},
			"does not fit in HBM at any parallelism"},
		"no fit at any chip count": {[]string{"plan", "--params", "100T", "--layers", "10", "--hidden", "8192", "--seq", "4096",
			"--tokens", "1T", "--kind", "H100", "--deadline", "300d"}, "but H100 has 80 GiB"},
		"unknown kind":               {[]string{"plan", "--model", "dense-70b", "--tokens", "15T", "--kind", "X200", "--deadline", "30d"}, `unknown chip kind "X200"; known kinds: `},
		"impossible deadline":        {plain("--deadline", "2d"), "data parallelism is capped"},
		"unknown preset":             {[]string{"plan", "--model", "x", "--tokens", "1T", "--kind", "H100", "--chips", "8"}, `unknown model preset "x"`},
		"two models":                 {plain("--model", "moe-671b", "--chips", "8"), "plan one --model at a time"},
		"no model":                   {[]string{"plan", "--tokens", "1T", "--kind", "H100", "--chips", "8"}, "name a model with --model"},
		"tokens suffix":              {plain("--tokens", "15Q", "--chips", "8"), `"15Q" is not a count`},
		"tokens negative":            {plain("--tokens", "-15T", "--chips", "8"), `"-15T" is not a count`},
		"tokens NaN":                 {plain("--tokens", "NaN", "--chips", "8"), `"NaN" is not a count`},
		"tokens trailing":            {plain("--tokens", "15Tx", "--chips", "8"), `"15Tx" is not a count`},
		"tokens zero":                {plain("--tokens", "0", "--chips", "8"), "--tokens must be more than 0"},
		"deadline unit":              {plain("--deadline", "30x"), `"30x" is not a duration`},
		"deadline negative":          {plain("--deadline", "-30d"), `"-30d" is not a duration`},
		"chips negative":             {plain("--chips", "-8"), `"-8" is not a non-negative whole number`},
		"neither chips nor deadline": {plain(), "give exactly one of --chips"},
		"chips and deadline":         {plain("--chips", "4096", "--deadline", "30d"), "not both"},
		"efficiency kind":            {plain("--chips", "8", "--efficiency", "h100=0.5"), `unknown chip kind "h100"`},
		"efficiency range":           {plain("--chips", "8", "--efficiency", "1.5"), "--efficiency 1.5 must be in (0, 1]"},
		"pue range":                  {plain("--chips", "8", "--pue", "9"), "--pue 9 must be between 1 and 5"},
		"validate with kind":         {[]string{"plan", "--validate", "--kind", "H100"}, "--kind cannot be used with --validate"},
		"compare with pool":          {[]string{"plan", "--compare", "--pool", "x.yaml"}, "--pool cannot be used with --compare"},
		"both modes":                 {[]string{"plan", "--compare", "--validate"}, "separate modes"},
		"argument":                   {[]string{"plan", "dense-70b"}, `unexpected argument "dense-70b"`},
		"missing pool file":          {plain("--chips", "8", "--pool", "/nonexistent.yaml"), "pool file"},
		"mixed pool":                 {plain("--chips", "8", "--pool", "../../examples/pools/mixed-sovereign.yaml"), "mixed-sovereign.yaml:KIND"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := run(t, tc.args...)
			if code != ExitBadInput {
				t.Errorf("exit %d, want %d; stderr: %s", code, ExitBadInput, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout not empty:\n%s", stdout)
			}
			if !strings.HasPrefix(stderr, "qun: ") || !strings.Contains(stderr, tc.msg) {
				t.Errorf("stderr %q; want a qun: message containing %q", stderr, tc.msg)
			}
		})
	}
}

// TestPlanPartialFailure: targets that can be planned are printed, the
// others are explained, and the exit code says the input was not all good.
func TestPlanPartialFailure(t *testing.T) {
	code, stdout, stderr := run(t, "plan", "--model", "dense-70b", "--tokens", "1T", "--kind", "H100", "--kind", "910B", "--chips", "16")
	if code != ExitBadInput {
		t.Errorf("exit %d, want 2", code)
	}
	if !strings.Contains(stdout, "H100: fastest plan on the given chips") {
		t.Errorf("stdout lacks the H100 plan:\n%s", stdout)
	}
	if !strings.Contains(stderr, "dense-70b on 910B does not fit in HBM") {
		t.Errorf("stderr %q lacks the 910B explanation", stderr)
	}
}

func TestParseCount(t *testing.T) {
	good := map[string]float64{"15T": 15e12, "15.6T": 15.6e12, "1.56e13": 1.56e13, "70.6B": 70.6e9, "16Mi": 1 << 24,
		"2K": 2000, "3G": 3e9, "1P": 1e15, ".5M": 5e5, "42": 42, "0": 0, "1E3": 1000, "2e+3K": 2e6}
	got := map[string]float64{}
	for s := range good {
		v, err := parseCount(s)
		if err != nil {
			t.Errorf("parseCount(%q): %v", s, err)
		}
		got[s] = v
	}
	if diff := cmp.Diff(good, got); diff != "" {
		t.Errorf("parseCount (-want +got):\n%s", diff)
	}
	for _, s := range []string{"", "T", "15Q", "15t", "-1", "+1", "NaN", "Inf", "1e400", "15T ", " 15T", "15TT", "1_000", "0x10", "1.5.3", "15 T", "1e", "Mi"} {
		if v, err := parseCount(s); err == nil {
			t.Errorf("parseCount(%q) = %g, want an error", s, v)
		}
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{"30d": 30 * 24 * time.Hour, "1.5d": 36 * time.Hour, "1d12h": 36 * time.Hour,
		"720h": 720 * time.Hour, "10m": 10 * time.Minute, "0": 0, "0.5d30m": 12*time.Hour + 30*time.Minute}
	got := map[string]time.Duration{}
	for s := range good {
		d, err := parseDuration(s)
		if err != nil {
			t.Errorf("parseDuration(%q): %v", s, err)
		}
		got[s] = d
	}
	if diff := cmp.Diff(good, got); diff != "" {
		t.Errorf("parseDuration (-want +got):\n%s", diff)
	}
	for _, s := range []string{"", "d", "30", "30x", "-30d", "30d-1h", "+1h", "-1h", "30dd", "NaNd", "1e400d", "200000d", "30 d", "1d12"} {
		if d, err := parseDuration(s); err == nil {
			t.Errorf("parseDuration(%q) = %v, want an error", s, d)
		}
	}
}

// FuzzParseCount: an accepted count is finite and not negative, and its
// printed form parses back to the same value (what flag overrides rely on).
func FuzzParseCount(f *testing.F) {
	for _, s := range []string{"15T", "1.56e13", "16Mi", "NaN", "-1", "1e400K"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := parseCount(s)
		if err != nil {
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			t.Fatalf("parseCount(%q) = %g", s, v)
		}
		back, err := parseCount(countValue{&v}.String())
		if err != nil || back != v {
			t.Fatalf("parseCount(%q) = %g; printed %q reads back as %g, %v", s, v, countValue{&v}.String(), back, err)
		}
	})
}

// FuzzParseDuration: an accepted duration is not negative.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "1d12h", "720h", "-1h", "1e5d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d, err := parseDuration(s); err == nil && d < 0 {
			t.Fatalf("parseDuration(%q) = %v", s, d)
		}
	})
}
