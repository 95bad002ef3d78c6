package place_test

import (
	"regexp"
	"testing"

	"github.com/qunhq/qun/internal/place"
)

var kebab = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// TestReasonsKebabCase walks every reason the package reports: each is a
// kebab-case word, listed once.
func TestReasonsKebabCase(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range place.Reasons() {
		if !kebab.MatchString(r) {
			t.Errorf("reason %q is not kebab-case", r)
		}
		if seen[r] {
			t.Errorf("reason %q listed twice", r)
		}
		seen[r] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d reasons listed", len(seen))
	}
}
