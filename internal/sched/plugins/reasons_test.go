package plugins

import (
	"testing"

	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/score"
)

// TestReasonsKebab walks every registered reason of sched, its plugins
// and its scorers: each is kebab-case, and no word is registered twice for
// different constants.
func TestReasonsKebab(t *testing.T) {
	lists := map[string][]string{"sched": sched.Reasons(), "plugins": Reasons(), "score": score.Reasons()}
	seen := map[string]string{}
	n := 0
	for pkg, list := range lists {
		for _, r := range list {
			n++
			if !sched.IsKebab(r) {
				t.Errorf("%s: reason %q is not kebab-case", pkg, r)
			}
			if other, dup := seen[r]; dup {
				t.Errorf("reason %q registered by %s and %s", r, other, pkg)
			}
			seen[r] = pkg
		}
	}
	if n < 20 {
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
