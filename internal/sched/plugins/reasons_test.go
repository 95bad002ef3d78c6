package plugins

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/score"
)

// reasonPackages are the packages whose reasons reach explanations, with
// their source directory (relative to this one) and registered list.
var reasonPackages = []struct {
	name, dir string
	list      []string
}{
	{"sched", "..", sched.Reasons()},
	{"plugins", ".", Reasons()},
	{"score", "../score", score.Reasons()},
	{"place", "../../place", place.Reasons()},
}

// reasonConsts parses the non-test Go files of dir and returns every
// constant named Reason… with a string value, by value, naming its
// constant.
func reasonConsts(t *testing.T, dir string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, sp := range gd.Specs {
				vs := sp.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, "Reason") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[v] = n.Name
				}
			}
		}
	}
	return out
}

// TestReasonsKebab walks every reason constant of sched, its plugins, its
// scorers and place: each is kebab-case and in its package's registered
// list (and every registered reason is such a constant), and no word is
// registered by two of sched, plugins and score. place, the library the
// topology plugin passes through, shares words with them for the same
// causes (placed, no-accepted-kind, insufficient-chips).
func TestReasonsKebab(t *testing.T) {
	byWord := map[string]string{} // word -> "pkg.Const", place's aside
	n := 0
	for _, p := range reasonPackages {
		consts := reasonConsts(t, p.dir)
		var declared []string
		for v := range consts {
			declared = append(declared, v)
		}
		slices.Sort(declared)
		reg := slices.Clone(p.list)
		slices.Sort(reg)
		if diff := cmp.Diff(declared, slices.Compact(reg)); diff != "" {
			t.Errorf("%s: Reason constants (-declared +registered):\n%s", p.name, diff)
		}
		if len(slices.Compact(reg)) != len(p.list) {
			t.Errorf("%s: a reason is registered twice: %v", p.name, p.list)
		}
		for _, r := range p.list {
			n++
			if !sched.IsKebab(r) {
				t.Errorf("%s: reason %q is not kebab-case", p.name, r)
			}
			if p.name == "place" {
				continue
			}
			name := p.name + "." + consts[r]
			if other, dup := byWord[r]; dup {
				t.Errorf("reason %q is %s and %s", r, other, name)
			}
			byWord[r] = name
		}
	}
	if n < 35 {
		t.Errorf("only %d reasons registered; the lists are incomplete", n)
	}
}

func TestIsKebab(t *testing.T) {
	for r, want := range map[string]bool{"placed": true, "no-accepted-kind": true, "gang8192": true,
		"": false, "Placed": false, "no accepted chip kind": false, "quota-for-kind: borrow-limit": false,
		"-x": false, "x-": false, "a--b": false, "a_b": false} {
		if got := sched.IsKebab(r); got != want {
			t.Errorf("IsKebab(%q) = %v, want %v", r, got, want)
		}
	}
}
