package pool

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qunhq/qun/internal/golden"
	"github.com/qunhq/qun/internal/strictyaml"
)

// TestInvalidPools loads every file in testdata/invalid and compares the
// full error text with NAME.golden (go test ./internal/pool -rewrite
// regenerates them).
func TestInvalidPools(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) < 20 {
		t.Fatalf("want at least 20 invalid pools, found %d", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			topo, err := Load(name, data, DefaultCatalog())
			if err == nil || topo != nil {
				t.Fatalf("Load succeeded (%v), want an error", topo)
			}
			if !errors.Is(err, strictyaml.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			golden.Check(t, strings.TrimSuffix(f, ".yaml")+".golden", []byte(err.Error()+"\n"))
		})
	}
}

// FuzzLoad checks that no input makes the loader panic, and that it returns
// either a usable topology or an ErrInvalid error, never both.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"../../examples/pools/*.yaml", "testdata/*.yaml", "testdata/invalid/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			if strings.Contains(file, "supercluster") {
				continue // large expansions make the fuzzer slow
			}
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		topo, err := Load("fuzz.yaml", data, DefaultCatalog())
		if err != nil {
			if topo != nil {
				t.Fatal("topology returned with an error")
			}
			if !errors.Is(err, strictyaml.ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if topo.NumChips() == 0 || len(topo.Hosts()) == 0 {
			t.Fatal("valid pool without chips or hosts")
		}
		s := NewState(topo)
		if s.FreeChips(0) != topo.NumChips() {
			t.Fatalf("empty state has %d free of %d", s.FreeChips(0), topo.NumChips())
		}
		_ = topo.Summarize()
	})
}
