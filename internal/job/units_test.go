package job_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"

	"github.com/qunhq/qun/internal/job"
)

func TestParseMilli(t *testing.T) {
	tests := map[string]struct {
		in      string
		want    job.Milli
		wantErr string
	}{
		"whole":          {in: "8", want: 8000},
		"quarter":        {in: "0.25", want: 250},
		"eighth":         {in: "0.125", want: 125},
		"thousandth":     {in: "0.001", want: 1},
		"exponent":       {in: "1e-3", want: 1},
		"one and a half": {in: "1.5", want: 1500}, // decodes; validation rejects it as chipsPerRank
		"negative":       {in: "-2", want: -2000},
		"spaces":         {in: " 4 ", want: 4000},
		"too fine":       {in: "0.0005", wantErr: "not a multiple of 0.001"},
		"word":           {in: "many", wantErr: "not a number of chips"},
		"fraction":       {in: "1/4", wantErr: "not a number of chips"},
		"hex":            {in: "0x10", wantErr: "not a number of chips"},
		"huge exponent":  {in: "1e999999999", wantErr: "not a number of chips"},
		"too large":      {in: "1e20", wantErr: "out of range"},
		"empty":          {in: "", wantErr: "not a number of chips"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := job.ParseMilli(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseMilli(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseMilli(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("ParseMilli(%q) = %d; want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestMilliString(t *testing.T) {
	tests := map[job.Milli]string{0: "0", 1: "0.001", 250: "0.25", 125: "0.125", 1000: "1", 1500: "1.5", 64000: "64", -250: "-0.25"}
	for m, want := range tests {
		if got := m.String(); got != want {
			t.Errorf("Milli(%d).String() = %q; want %q", int64(m), got, want)
		}
		back, err := job.ParseMilli(m.String())
		if err != nil || back != m {
			t.Errorf("ParseMilli(%q) = %d, %v; want %d", m.String(), back, err, m)
		}
	}
}

func TestMilliCodecs(t *testing.T) {
	type doc struct {
		M job.Milli `yaml:"m" json:"m"`
	}
	tests := map[string]struct {
		yaml, json string
		want       job.Milli
	}{
		"int":           {yaml: "m: 8", json: `{"m": 8}`, want: 8000},
		"float":         {yaml: "m: 0.25", json: `{"m": 0.25}`, want: 250},
		"string":        {yaml: `m: "0.125"`, json: `{"m": "0.125"}`, want: 125},
		"plain string":  {yaml: "m: 0.5", json: `{"m": "0.5"}`, want: 500},
		"exponent form": {yaml: "m: 2.5e-1", json: `{"m": 2.5e-1}`, want: 250},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var y, j doc
			if err := yaml.Unmarshal([]byte(tc.yaml), &y); err != nil {
				t.Fatalf("yaml: %v", err)
			}
			if err := json.Unmarshal([]byte(tc.json), &j); err != nil {
				t.Fatalf("json: %v", err)
			}
			if diff := cmp.Diff(doc{tc.want}, y); diff != "" {
				t.Errorf("yaml (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(doc{tc.want}, j); diff != "" {
				t.Errorf("json (-want +got):\n%s", diff)
			}
			// Both encodings write a number that decodes to the same value.
			yb, _ := yaml.Marshal(y)
			jb, _ := json.Marshal(j)
			var y2, j2 doc
			if err := yaml.Unmarshal(yb, &y2); err != nil || y2 != y {
				t.Errorf("yaml round trip of %s = %v, %v", yb, y2, err)
			}
			if err := json.Unmarshal(jb, &j2); err != nil || j2 != j {
				t.Errorf("json round trip of %s = %v, %v", jb, j2, err)
			}
		})
	}
	for _, bad := range []string{"m: [1]", "m: {a: 1}", "m: true", "m: 1.0005", "m: abc"} {
		var d doc
		if err := yaml.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("yaml.Unmarshal(%q) = %v; want an error", bad, d)
		}
	}
	for _, bad := range []string{`{"m": true}`, `{"m": [1]}`, `{"m": "x"}`, `{"m": 0.0001}`} {
		var d doc
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("json.Unmarshal(%q) = %v; want an error", bad, d)
		}
	}
}

func TestDuration(t *testing.T) {
	type doc struct {
		D job.Duration `yaml:"d" json:"d"`
	}
	tests := map[string]struct {
		in   time.Duration
		text string
	}{
		"hour and a half": {90 * time.Minute, "1h30m"},
		"hours":           {2 * time.Hour, "2h"},
		"minutes":         {10 * time.Minute, "10m"},
		"seconds":         {90 * time.Second, "1m30s"},
		"sub-second":      {1500 * time.Millisecond, "1.5s"},
		"hour and second": {time.Hour + time.Second, "1h0m1s"},
		"zero":            {0, "0s"},
		"negative":        {-time.Hour, "-1h"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			d := job.Duration(tc.in)
			if got := d.String(); got != tc.text {
				t.Errorf("String() = %q; want %q", got, tc.text)
			}
			yb, err := yaml.Marshal(doc{d})
			if err != nil {
				t.Fatal(err)
			}
			if want := "d: " + tc.text + "\n"; string(yb) != want {
				t.Errorf("yaml.Marshal = %q; want %q", yb, want)
			}
			jb, err := json.Marshal(doc{d})
			if err != nil {
				t.Fatal(err)
			}
			if want := `{"d":"` + tc.text + `"}`; string(jb) != want {
				t.Errorf("json.Marshal = %s; want %s", jb, want)
			}
			var y, j doc
			if err := yaml.Unmarshal(yb, &y); err != nil || y.D != d {
				t.Errorf("yaml round trip = %v, %v; want %v", y.D, err, d)
			}
			if err := json.Unmarshal(jb, &j); err != nil || j.D != d {
				t.Errorf("json round trip = %v, %v; want %v", j.D, err, d)
			}
		})
	}
	for _, bad := range []string{"d: 2d", "d: 3600", "d: [1h]", "d: true", "d: 1h30"} {
		var d doc
		if err := yaml.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("yaml.Unmarshal(%q) = %v; want an error", bad, d)
		}
	}
	for _, bad := range []string{`{"d": 3600}`, `{"d": "2d"}`, `{"d": "-"}`} {
		var d doc
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("json.Unmarshal(%q) = %v; want an error", bad, d)
		}
	}
	var zero doc
	if err := yaml.Unmarshal([]byte("d: 0"), &zero); err != nil || zero.D != 0 {
		t.Errorf(`yaml.Unmarshal("d: 0") = %v, %v; want 0`, zero.D, err)
	}
}
