package strictyaml

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type inner struct {
	Count int      `yaml:"count"`
	Tags  []string `yaml:"tags"`
}

type doc struct {
	Name  string           `yaml:"name"`
	Ratio float64          `yaml:"ratio"`
	On    bool             `yaml:"on"`
	In    inner            `yaml:"in"`
	Items []inner          `yaml:"items"`
	Map   map[string]inner `yaml:"map"`
}

func TestDecodeProblems(t *testing.T) {
	tests := map[string]struct {
		src  string
		want Problems
	}{
		"unknown field names the allowed ones": {
			src:  "name: a\nnmae: b\n",
			want: Problems{{File: "f.yaml", Line: 2, Column: 1, Field: "nmae", Msg: `unknown field "nmae" (allowed: in, items, map, name, on, ratio)`}},
		},
		"nested unknown field": {
			src:  "items:\n  - count: 1\n  - cont: 2\n",
			want: Problems{{File: "f.yaml", Line: 3, Column: 5, Field: "items[1].cont", Msg: `unknown field "cont" (allowed: count, tags)`}},
		},
		"wrong scalar type": {
			src:  "in: {count: many}\n",
			want: Problems{{File: "f.yaml", Line: 1, Column: 13, Field: "in.count", Msg: `"many" is not a whole number`}},
		},
		"list where a mapping is expected": {
			src:  "in: [1, 2]\n",
			want: Problems{{File: "f.yaml", Line: 1, Column: 5, Field: "in", Msg: "expected a mapping of fields, found a list"}},
		},
		"field given twice": {
			src:  "name: a\nname: b\n",
			want: Problems{{File: "f.yaml", Line: 2, Column: 1, Field: "name", Msg: "field given twice"}},
		},
		"empty document": {
			src:  "",
			want: Problems{{File: "f.yaml", Line: 1, Column: 1, Msg: "document is empty"}},
		},
		"two documents": {
			src:  "name: a\n---\nname: b\n",
			want: Problems{{File: "f.yaml", Line: 2, Column: 1, Msg: "more than one YAML document; one expected"}},
		},
		"not a mapping": {
			src:  "- a\n- b\n",
			want: Problems{{File: "f.yaml", Line: 1, Column: 1, Msg: "document must be a mapping of fields"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out := doc{Name: "untouched"}
			_, err := Decode("f.yaml", []byte(tc.src), &out)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want one wrapping ErrInvalid", err)
			}
			var got Problems
			if !errors.As(err, &got) {
				t.Fatalf("err is %T, want Problems", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			if out.Name != "untouched" {
				t.Errorf("a failed decode changed the value: %+v", out)
			}
		})
	}
}

func TestDecodeAndPositions(t *testing.T) {
	src := "name: pool\nratio: 0.5\nitems:\n  - count: 3\n    tags: [a, b]\nmap:\n  x: {count: 7}\n"
	var out doc
	pos, err := Decode("p.yaml", []byte(src), &out)
	if err != nil {
		t.Fatal(err)
	}
	want := doc{Name: "pool", Ratio: 0.5, Items: []inner{{Count: 3, Tags: []string{"a", "b"}}}, Map: map[string]inner{"x": {Count: 7}}}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("value (-want +got):\n%s", diff)
	}
	got := []Problem{pos.At("items[0].count", "bad %d", 3), pos.At("map.x.count", "m"), pos.At("items[0].missing", "falls back")}
	wantP := []Problem{
		{File: "p.yaml", Line: 4, Column: 5, Field: "items[0].count", Msg: "bad 3"},
		{File: "p.yaml", Line: 7, Column: 7, Field: "map.x.count", Msg: "m"},
		{File: "p.yaml", Line: 4, Column: 5, Field: "items[0].missing", Msg: "falls back"},
	}
	if diff := cmp.Diff(wantP, got); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
	if !pos.Has("ratio") || pos.Has("on") {
		t.Errorf("Has: ratio %v, on %v; want true, false", pos.Has("ratio"), pos.Has("on"))
	}
	var nilPos *Positions
	if p := nilPos.At("x", "no positions"); p.Line != 0 || p.Field != "x" {
		t.Errorf("nil Positions: %+v", p)
	}
}

func TestProblemString(t *testing.T) {
	tests := map[string]struct {
		p    Problem
		want string
	}{
		"full":       {Problem{File: "a.yaml", Line: 3, Column: 7, Field: "x.y", Msg: "bad"}, "a.yaml:3:7: x.y: bad"},
		"no column":  {Problem{File: "a.yaml", Line: 3, Msg: "bad"}, "a.yaml:3: bad"},
		"no place":   {Problem{Field: "x", Msg: "bad"}, "x: bad"},
		"only words": {Problem{Msg: "bad"}, "bad"},
	}
	for name, tc := range tests {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}
