package agent

import (
	"testing"
)

func TestEpochFence(t *testing.T) {
	dir := t.TempDir()
	f, err := LoadEpochFence(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		epoch int64
		ok    bool
	}{{0, true}, {5, true}, {5, true}, {3, false}, {0, true}, {9, true}, {8, false}} {
		if err := f.Admit(c.epoch); (err == nil) != c.ok {
			t.Errorf("Admit(%d) = %v, want admitted %v", c.epoch, err, c.ok)
		}
	}
	// A restarted agent remembers the newest epoch.
	g, err := LoadEpochFence(dir)
	if err != nil {
		t.Fatal(err)
	}
	if g.Newest() != 9 || g.Admit(7) == nil {
		t.Errorf("reloaded fence: newest %d, admits 7: %v", g.Newest(), g.Admit(7) == nil)
	}
}
