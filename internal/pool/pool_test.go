package pool

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func examples(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob("../../examples/pools/*.yaml")
	if err != nil || len(files) < 6 {
		t.Fatalf("example pools: %v (found %d)", err, len(files))
	}
	return files
}

func mustLoad(t testing.TB, path string) *Topology {
	t.Helper()
	topo, err := LoadFile(path)
	if err != nil {
		t.Fatalf("load %s: %v", path, err)
	}
	return topo
}

// refCount counts chips per kind and domains per level straight from the
// raw YAML, by a separate, naive walk over templates and repeat counts.
func refCount(t *testing.T, path string) (chips map[string]int, domains map[string]int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	templates, _ := raw["templates"].(map[string]any)
	chips, domains = map[string]int{}, map[string]int{}
	var visit func(d map[string]any, mult int)
	visit = func(d map[string]any, mult int) {
		if name, ok := d["template"].(string); ok {
			visit(templates[name].(map[string]any), mult)
			return
		}
		domains[d["level"].(string)] += mult
		if c, ok := d["chips"].(map[string]any); ok {
			chips[fmt.Sprint(c["kind"])] += mult * c["count"].(int)
		}
		kids, _ := d["children"].([]any)
		for _, k := range kids {
			km := k.(map[string]any)
			n := 1
			if c, ok := km["count"].(int); ok {
				n = c
			}
			visit(km, mult*n)
		}
	}
	visit(raw["root"].(map[string]any), 1)
	return chips, domains
}

func TestExampleTotalsMatchFiles(t *testing.T) {
	for _, path := range examples(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			wantChips, wantDomains := refCount(t, path)
			s := mustLoad(t, path).Summarize()
			total := 0
			for _, n := range wantChips {
				total += n
			}
			if s.Chips != total {
				t.Errorf("chips = %d, want %d", s.Chips, total)
			}
			if diff := cmp.Diff(wantChips, s.ChipsByKind); diff != "" {
				t.Errorf("chips by kind (-want +got):\n%s", diff)
			}
			gotDomains := map[string]int{}
			for _, l := range s.Levels {
				gotDomains[l.Level] = l.Domains
				if l.Chips != total {
					t.Errorf("level %s covers %d chips, want all %d", l.Level, l.Chips, total)
				}
			}
			if diff := cmp.Diff(wantDomains, gotDomains); diff != "" {
				t.Errorf("domains per level (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHeadlinePools(t *testing.T) {
	sc := mustLoad(t, "../../examples/pools/atlas950-supercluster.yaml").Summarize()
	if sc.Chips != 524288 {
		t.Errorf("supercluster chips = %d, want 524288", sc.Chips)
	}
	cm := mustLoad(t, "../../examples/pools/cloudmatrix384.yaml").Summarize()
	var sn LevelSummary
	for _, l := range cm.Levels {
		if l.Level == "supernode" {
			sn = l
		}
	}
	if sn.Domains != 1 || sn.ChipsByKind["910C"] != 384 || cm.Chips != 384 {
		t.Errorf("cloudmatrix384: %d supernode domains with %v, %d chips; want 1 with 384 x 910C", sn.Domains, sn.ChipsByKind, cm.Chips)
	}
}

func TestChipRangesAndPaths(t *testing.T) {
	topo := mustLoad(t, "../../examples/pools/ascend910-cluster.yaml")
	for d := 0; d < topo.NumDomains(); d++ {
		id := DomainID(d)
		lo, hi := topo.ChipRange(id)
		sum := 0
		for _, c := range topo.Children(id) {
			clo, chi := topo.ChipRange(c)
			if clo < lo || chi > hi {
				t.Fatalf("child %s range [%d,%d) outside parent %s [%d,%d)", topo.Path(c), clo, chi, topo.Path(id), lo, hi)
			}
			sum += int(chi - clo)
		}
		if !topo.IsLeaf(id) && sum != int(hi-lo) {
			t.Fatalf("%s: children hold %d chips, range has %d", topo.Path(id), sum, hi-lo)
		}
	}
	h, ok := topo.HostByName("rack1/n3")
	if !ok {
		t.Fatal("host rack1/n3 not found")
	}
	lo, _ := topo.ChipRange(h)
	if got := topo.ChipName(lo + 5); got != "rack1/n3/5" {
		t.Errorf("chip name = %q, want rack1/n3/5", got)
	}
	if got := topo.Path(topo.ChipLeaf(lo + 5)); got != "rack1/n3/ring1" {
		t.Errorf("leaf of chip 5 = %q, want rack1/n3/ring1", got)
	}
}

func BenchmarkLoadSupercluster(b *testing.B) {
	data, err := os.ReadFile("../../examples/pools/atlas950-supercluster.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		topo, err := Load("sc.yaml", data, DefaultCatalog())
		if err != nil {
			b.Fatal(err)
		}
		_ = NewState(topo)
	}
}

// TestSpares: spares: N on a domain holds back its last N hosts.
func TestSpares(t *testing.T) {
	topo, err := LoadFile("testdata/spares.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range topo.Spares() {
		got = append(got, topo.Path(h))
		if !topo.IsSpare(h) {
			t.Errorf("%s listed as a spare but IsSpare says no", topo.Path(h))
		}
	}
	if want := []string{"r0/n3", "r1/n2", "r1/n3"}; !slices.Equal(got, want) {
		t.Fatalf("spares %v, want %v", got, want)
	}
	if h, _ := topo.HostByName("r0/n0"); topo.IsSpare(h) {
		t.Error("r0/n0 is a spare")
	}
}
