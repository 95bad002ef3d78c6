package device

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFakeSpec(t *testing.T) {
	ds, err := ParseFakeSpec("H100:2, H20:1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Device{
		{Index: 0, Kind: "H100", Vendor: "fake", UUID: "fake-H100-0", HBMMiB: 81920, Healthy: true},
		{Index: 1, Kind: "H100", Vendor: "fake", UUID: "fake-H100-1", HBMMiB: 81920, Healthy: true},
		{Index: 2, Kind: "H20", Vendor: "fake", UUID: "fake-H20-0", HBMMiB: 98304, Healthy: true},
	}
	if diff := cmp.Diff(want, ds); diff != "" {
		t.Errorf("ParseFakeSpec (-want +got):\n%s", diff)
	}

	ds, err = ParseFakeSpec("910C:8")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 8 || ds[7].UUID != "fake-910C-7" || ds[7].Index != 7 || ds[0].HBMMiB != 128<<10 {
		t.Errorf("910C:8 gave %+v", ds)
	}
	ds, err = ParseFakeSpec("MyChip-2:1024")
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1024 || ds[0].HBMMiB != 0 || ds[0].Kind != "MyChip-2" {
		t.Errorf("custom kind gave %d devices, first %+v", len(ds), ds[0])
	}
}

func TestParseFakeSpecErrors(t *testing.T) {
	cases := map[string][]string{ // spec -> substrings the error must hold
		"":              {"empty", "KIND:COUNT"},
		"H100":          {`"H100"`, "KIND:COUNT", "1..1024"},
		"H100:0":        {`"H100:0"`, "1..1024"},
		"H100:1025":     {`"H100:1025"`, "1..1024"},
		"H100:08":       {`"08"`, "1..1024"},
		"H100:+8":       {`"+8"`, "1..1024"},
		"H100:8,":       {"token 2", `""`},
		":8":            {"empty kind"},
		"H 100:8":       {`"H 100"`, "letters, digits"},
		"H100:8,H100:1": {"twice"},
		"H100:8:1":      {`"8:1"`},
	}
	for spec, wants := range cases {
		_, err := ParseFakeSpec(spec)
		if err == nil {
			t.Errorf("ParseFakeSpec(%q) = nil error", spec)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseFakeSpec(%q) error %q does not mention %q", spec, err, w)
			}
		}
	}
}

func TestNewByName(t *testing.T) {
	d, err := New("fake", "910B:2")
	if err != nil {
		t.Fatal(err)
	}
	ds, err := d.Discover(context.Background())
	if err != nil || len(ds) != 2 || d.Name() != "fake" {
		t.Fatalf("fake discoverer gave %v, %v", ds, err)
	}
	if _, err := New("fake", "910B"); err == nil {
		t.Error("New(fake, bad spec) = nil error")
	}
	_, err = New("rocm", "")
	if err == nil || !strings.Contains(err.Error(), "ascend, fake, nvidia") {
		t.Errorf("New(rocm) error = %v, want one listing the allowed plugins", err)
	}
	for _, n := range Names() {
		d, err := New(n, "H100:1")
		if err != nil || d.Name() != n {
			t.Errorf("New(%q) = %v, %v", n, d, err)
		}
	}
}
