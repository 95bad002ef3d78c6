package score

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/sched"
)

// TestPolicyArguments: a policy name may carry scorer arguments after
// colons; the scorer gets them over its defaults, and a malformed name, an
// unknown argument or a value out of range is an error naming it.
func TestPolicyArguments(t *testing.T) {
	reg := sched.Registry{}
	Register(reg)
	build := func(name string) (sched.Plugin, error) {
		spec, err := Spec(name)
		if err != nil {
			return nil, err
		}
		ref := spec.Scores[0]
		return reg[ref.Name](ref.Args)
	}
	ok := map[string]QunOptions{
		"qun":                        DefaultQunOptions,
		"qun:patience=0":             {Strand: 100, Order: 120, Waste: 5000, Patience: 0},
		"qun:waste=0:order=30":       {Strand: 100, Order: 30, Waste: 0, Patience: 0.98},
		"qun:strand=25:patience=0.5": {Strand: 25, Order: 120, Waste: 5000, Patience: 0.5},
	}
	for name, want := range ok {
		p, err := build(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if diff := cmp.Diff(want, p.(*Qun).o); diff != "" {
			t.Errorf("%s: options (-want +got):\n%s", name, diff)
		}
		if !LearnsHistory(name) || !StateOnly(name) {
			t.Errorf("%s: LearnsHistory %v, StateOnly %v; want both", name, LearnsHistory(name), StateOnly(name))
		}
	}
	if p, err := build("fgd:quantize=false"); err != nil || p.(*FGD).quantize {
		t.Errorf("fgd:quantize=false: %v, %+v", err, p)
	}
	bad := map[string]string{
		"qun:patience=1.5":  `"patience": 1.5 is out of range (0 to 1)`,
		"qun:waste=-1":      `"waste": -1 is out of range (≥ 0)`,
		"qun:bogus=1":       `unknown argument "bogus" (qun takes order, patience, strand, waste)`,
		"qun:waste=true":    `"waste": true is not a number`,
		"qun:waste=abc":     `argument waste: "abc" is not a number, true or false`,
		"qun:waste=NaN":     `argument waste: "NaN" is not a number`,
		"qun:patience":      `argument "patience" is not NAME=VALUE`,
		"qun:":              `argument "" is not NAME=VALUE`,
		"fgd:order=1":       `unknown argument "order" (this scorer takes quantize)`,
		"random:quantize=1": `unknown argument "quantize" (this scorer takes none)`,
		"nope:x=1":          `unknown policy "nope"`,
	}
	for name, want := range bad {
		_, err := build(name)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, want)
		}
	}
	if LearnsHistory("nope:x=1") || StateOnly("nope") || StateOnly("gpuclustering") || LearnsHistory("fgd") {
		t.Error("LearnsHistory/StateOnly wrong for an unknown policy, gpuclustering or fgd")
	}
}

// FuzzPolicyName: any policy name either is refused with an error or
// builds a scorer; nothing panics, and a name Spec accepts keeps its
// arguments (the scorer may still refuse them).
func FuzzPolicyName(f *testing.F) {
	for _, s := range []string{"qun", "qun:patience=0.5", "fgd:quantize=true", "qun:waste=1e3:order=0", "qun::", "random:x", ":", "qun:patience=1e309"} {
		f.Add(s)
	}
	reg := sched.Registry{}
	Register(reg)
	f.Fuzz(func(t *testing.T, name string) {
		spec, err := Spec(name)
		if err != nil {
			return
		}
		ref := spec.Scores[0]
		p, err := reg[ref.Name](ref.Args)
		if err == nil && p == nil {
			t.Fatalf("%q: no scorer and no error", name)
		}
	})
}
