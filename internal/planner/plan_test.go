package planner

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/qunhq/qun/internal/golden"
)

// validation is computed once: it runs the planner about 170 times.
var validation = func() func(t *testing.T) *Validation {
	var v *Validation
	var err error
	return func(t *testing.T) *Validation {
		t.Helper()
		if v == nil && err == nil {
			v, err = ValidateWith(DefaultAssumptions(), nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}()

func TestValidationWithinTwentyPercent(t *testing.T) {
	v := validation(t)
	var buf bytes.Buffer
	if err := Render(&buf, v, FormatTable); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", buf.String())
	uncalibrated := 0
	for _, r := range v.Rows {
		if r.Calibrated {
			continue
		}
		uncalibrated++
		if math.Abs(r.ErrorPct) > 20 {
			t.Errorf("%s %s: predicted %.4g, published %.4g: error %+.1f%% exceeds ±20%%", r.Run, r.Metric, r.Predicted, r.Published, r.ErrorPct)
		}
	}
	if uncalibrated < 2 {
		t.Errorf("only %d uncalibrated rows; MegaScale and DeepSeek-V3 must be validation, not calibration", uncalibrated)
	}
	// The calibrated row reproduces its run, and the shipped default is the fit.
	for _, r := range v.Rows {
		if r.Calibrated && r.Metric == "mfu" && math.Abs(r.ErrorPct) > 0.5 {
			t.Errorf("calibration row %s misses by %+.1f%%", r.Run, r.ErrorPct)
		}
	}
	if got := v.Efficiency["H100"]; math.Abs(got-calibratedH100) > 0.002 {
		t.Errorf("fitted H100 efficiency %.3f, shipped default calibratedH100 = %.3f: update the constant", got, calibratedH100)
	}
}

func TestValidationJSONFields(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, validation(t), FormatJSON); err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no rows")
	}
	for _, f := range []string{"run", "metric", "predicted", "published", "error_pct", "calibrated"} {
		if _, ok := rows[0][f]; !ok {
			t.Errorf("JSON row lacks %q: %v", f, rows[0])
		}
	}
}

// mask hides the figures of a rendered report so the golden file pins the
// format (rows, labels, columns, kinds), not the numbers or the chosen
// recomputation. A figure is a run of digits, '.' and ',' that starts after
// a space or punctuation, optionally ending in '%' or, when it has a decimal
// point, in an SI suffix; "910B", "H100" and "llama3" are names, not figures.
var spaceRE = regexp.MustCompile(` +`)

func mask(s string) string {
	isWord := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < '0' || c > '9' || (i > 0 && isWord(s[i-1])) {
			b.WriteByte(c)
			i++
			continue
		}
		j, dot := i, false
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == ',') {
			j++
		}
		for j > i+1 && (s[j-1] == '.' || s[j-1] == ',') {
			j-- // sentence punctuation, not part of the figure
		}
		dot = strings.IndexByte(s[i:j], '.') >= 0
		if j < len(s) && (s[j] == '%' || (dot && strings.IndexByte("kMBT", s[j]) >= 0)) {
			j++
		}
		if j < len(s) && isWord(s[j]) {
			b.WriteString(s[i:j]) // part of a name such as 910B
			i = j
			continue
		}
		b.WriteByte('#')
		i = j
	}
	out := b.String()
	for _, rc := range recomputes {
		out = regexp.MustCompile(`\b`+string(rc)+`( #/#)?`).ReplaceAllString(out, "<rc>")
	}
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(spaceRE.ReplaceAllString(l, " "), " ")
	}
	return strings.Join(lines, "\n")
}

func TestMask(t *testing.T) {
	got := mask("910B  H100 15.0T 6.27M 48.4% 1,234 8/2/1179/1 llama3-405b partial 3/8 none 1×2, v4")
	want := "910B H100 # # # # #/#/#/# llama3-405b <rc> <rc> #×#, v4"
	if got != want {
		t.Errorf("mask = %q, want %q", got, want)
	}
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), []byte(got))
}

func TestCompareGolden(t *testing.T) {
	c, err := Compare(CompareRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Results) != 2 {
		t.Fatalf("%d models, want 2", len(c.Results))
	}
	for _, r := range c.Results {
		if len(r.Kinds) != 4 {
			t.Fatalf("%s: %d kinds, want 4", r.Model.Name, len(r.Kinds))
		}
		for _, k := range r.Kinds {
			if k.Error != "" || k.Chips == 0 || k.WallDays > 30 || k.Energy.MWh <= 0 || k.Energy.AvgMW <= 0 {
				t.Errorf("%s on %s: %+v", r.Model.Name, k.Kind, k)
			}
		}
	}
	var buf bytes.Buffer
	if err := Render(&buf, c, FormatTable); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "compare.golden", mask(buf.String()))
	buf.Reset()
	if err := Render(&buf, c, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var back Comparison
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || len(back.Results) != 2 {
		t.Errorf("JSON does not round-trip: %v", err)
	}
}

func req(model string, kinds ...string) Request {
	m, _ := Preset(model)
	r := Request{Model: m, Tokens: 1e12}
	for _, k := range kinds {
		r.Targets = append(r.Targets, Target{Kind: k})
	}
	return r
}

func TestChipsModeMoreChipsNotSlower(t *testing.T) {
	prev := math.Inf(1)
	for _, n := range []int{256, 1024, 4096} {
		r := req("dense-70b", "H100")
		r.Chips = n
		res, err := Plan(r)
		if err != nil {
			t.Fatal(err)
		}
		k := res.Kinds[0]
		if k.Chips > n || !k.Memory.Fits() {
			t.Errorf("%d chips: plan uses %d chips, fits=%v", n, k.Chips, k.Memory.Fits())
		}
		if k.WallDays > prev {
			t.Errorf("%d chips take %.2f days, more than with fewer chips (%.2f)", n, k.WallDays, prev)
		}
		prev = k.WallDays
	}
}

func TestDeadlineModeMeetsDeadline(t *testing.T) {
	r := req("dense-70b", "H100", "910B")
	r.Deadline = 20 * 24 * time.Hour
	res, err := Plan(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range res.Kinds {
		if k.WallDays > 20 || k.Chips == 0 {
			t.Errorf("%s: %d chips in %.2f days", k.Kind, k.Chips, k.WallDays)
		}
		// One data-parallel replica fewer must miss the deadline or not fit.
		p := k.Plan
		if p.DP > p.EP {
			e, _ := newEnv(r)
			tg, _ := e.resolve(Target{Kind: k.Kind})
			less := e.evaluate(tg, Parallelism{TP: p.TP, PP: p.PP, DP: p.DP - p.EP, EP: p.EP, MicroBatch: p.MicroBatch, Recompute: p.Recompute})
			if less.WallDays <= 20 && less.Memory.Fits() {
				t.Errorf("%s: %d chips also meet the deadline", k.Kind, less.Chips)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	t.Run("unknown kind", func(t *testing.T) {
		r := req("dense-70b", "B300")
		r.Chips = 64
		res, err := Plan(r)
		var uk *UnknownKindError
		if !errors.Is(err, ErrInput) || !errors.As(err, &uk) {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(err.Error(), "910C") || !strings.Contains(err.Error(), "H100") {
			t.Errorf("message does not list known kinds: %v", err)
		}
		if res == nil || res.Kinds[0].Error == "" {
			t.Error("result should carry the per-kind error")
		}
	})
	t.Run("does not fit", func(t *testing.T) {
		r := req("llama3-405b", "910B")
		r.Chips = 16
		_, err := Plan(r)
		var fe *FitError
		if !errors.Is(err, ErrInput) || !errors.As(err, &fe) {
			t.Fatalf("err = %v", err)
		}
		for _, want := range []string{"does not fit", "GiB per chip", "64 GiB", "HBM", "more chips"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message lacks %q: %v", want, err)
			}
		}
		if fe.Memory.TotalGiB <= fe.Memory.UsableGiB {
			t.Errorf("smallest plan %.1f GiB would fit in %.1f", fe.Memory.TotalGiB, fe.Memory.UsableGiB)
		}
	})
	t.Run("impossible deadline", func(t *testing.T) {
		r := req("llama3-405b", "H100")
		r.Tokens = 15.6e12
		r.Deadline = 24 * time.Hour
		_, err := Plan(r)
		var de *DeadlineError
		if !errors.Is(err, ErrInput) || !errors.As(err, &de) {
			t.Fatalf("err = %v", err)
		}
		for _, want := range []string{"fastest takes", "global batch", "--global-batch-tokens", "--deadline of at least"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message lacks %q: %v", want, err)
			}
		}
		if de.Best == nil || de.Best.WallDays <= 1 {
			t.Errorf("best = %+v", de.Best)
		}
	})
	t.Run("request", func(t *testing.T) {
		for name, mut := range map[string]func(*Request){
			"neither":     func(r *Request) {},
			"both":        func(r *Request) { r.Chips, r.Deadline = 8, time.Hour },
			"no tokens":   func(r *Request) { r.Chips, r.Tokens = 8, 0 },
			"bad model":   func(r *Request) { r.Chips, r.Model.Layers = 8, 0 },
			"bad recomp":  func(r *Request) { r.Chips, r.Fixed.Recompute = 8, "some" },
			"ep on dense": func(r *Request) { r.Chips, r.Fixed.EP = 8, 2 },
			"bad pue":     func(r *Request) { a := DefaultAssumptions(); a.PUE = 0.5; r.Chips, r.Assumptions = 8, &a },
			"no kinds":    func(r *Request) { r.Chips, r.Targets = 8, nil },
		} {
			r := req("dense-70b", "H100")
			mut(&r)
			if _, err := Plan(r); !errors.Is(err, ErrInput) {
				t.Errorf("%s: err = %v, want ErrInput", name, err)
			}
		}
	})
}

func TestAssumptionsFile(t *testing.T) {
	base := DefaultAssumptions()
	a, err := ParseAssumptions("a.yaml", []byte("pue: 1.1\nrestart: 5m\noverlap:\n  tensor: 0.5\nefficiency:\n  910C: 0.4\n"), base)
	if err != nil {
		t.Fatal(err)
	}
	if a.PUE != 1.1 || a.Restart != 5*time.Minute || a.Overlap.Tensor != 0.5 || a.Overlap.Data != base.Overlap.Data ||
		a.Efficiency["910C"] != 0.4 || a.Efficiency["H100"] != calibratedH100 {
		t.Errorf("merged = %+v", a)
	}
	if e, src := a.EfficiencyFor("910C"); e != 0.4 || src != "set for this kind" {
		t.Errorf("910C efficiency %v from %q", e, src)
	}
	if _, err := ParseAssumptions("a.yaml", []byte("pue: 1.1\nmtbf: 3\n"), base); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "mtbf") {
		t.Errorf("unknown field: err = %v", err)
	}
	if _, err := ParseAssumptions("a.yaml", []byte("pue: 0.3\n"), base); !errors.Is(err, ErrInput) || !strings.Contains(err.Error(), "--pue") {
		t.Errorf("out of range: err = %v", err)
	}
}

func TestLocalKindsAreValid(t *testing.T) {
	c := Catalog()
	for _, k := range localKinds {
		if probs := k.Validate(); len(probs) > 0 {
			t.Errorf("%s: %v", k.Name, probs)
		}
		if _, ok := c.Lookup(k.Name); !ok {
			t.Errorf("%s missing from Catalog()", k.Name)
		}
	}
	h800, _ := c.Lookup("H800")
	h100, _ := c.Lookup("H100")
	if h800.BF16TFLOPS != h100.BF16TFLOPS || h800.HBMGiB != h100.HBMGiB || h800.ScaleUpGBps != 200 {
		t.Errorf("H800 should be H100 with 200 GB/s NVLink: %+v", h800)
	}
}

func TestRenderResultShowsAssumptionsAndCost(t *testing.T) {
	r := req("dense-70b", "H100", "910C")
	r.Chips, r.PricePerChipHour = 2048, 2.5
	res, err := Plan(r)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Render(&buf, res, FormatTable); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"cost", "--pue", "--efficiency H100=F", "calibrated on llama3-405b", "--chip-mtbf-hours", "--overlap-tp", "energy MWh"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	k := res.Kinds[0]
	near(t, "cost", k.Cost, 2.5*k.ChipHours, 1e-12)
	near(t, "energy", k.Energy.MWh, float64(k.Chips)*700*1.2/1e6*k.WallDays*24, 1e-9)
}
