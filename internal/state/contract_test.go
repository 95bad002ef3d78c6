package state

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recordStoreContract is what every RecordStore must do, run against Bolt
// and Etcd alike. open returns a fresh, empty store; reopen opens the same
// records again (after the first was closed), as a restarted or newly
// elected server would.
func recordStoreContract(t *testing.T, open func(t *testing.T) RecordStore, reopen func(t *testing.T) RecordStore) {
	t.Helper()
	b := open(t)
	// Concurrent creations get distinct sequence numbers (group commit).
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.CreateJob(func(seq uint64) (string, []byte, error) {
				return fmt.Sprintf("j-%06d", seq), fmt.Appendf(nil, "job %d", seq), nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// A failing build stores nothing and uses no number.
	boom := errors.New("boom")
	if err := b.CreateJob(func(uint64) (string, []byte, error) { return "", nil, boom }); !errors.Is(err, boom) {
		t.Errorf("failing build: %v", err)
	}
	if err := b.Commit(Records{Jobs: map[string][]byte{"j-000001": []byte("changed")}, Nodes: map[string][]byte{"n0": []byte("node"), "n1": []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(Records{Nodes: map[string][]byte{"n1": nil}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(Records{Server: map[string][]byte{"usage": []byte("u1"), "other": []byte("o")}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(Records{Server: map[string][]byte{"other": nil}}); err != nil {
		t.Fatal(err)
	}
	b.Close()

	b = reopen(t)
	defer b.Close()
	jobs, nodes := map[string]string{}, map[string]string{}
	var order []string
	err := b.Load(func(k string, v []byte) error { jobs[k] = string(v); order = append(order, k); return nil },
		func(k string, v []byte) error { nodes[k] = string(v); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 50 || jobs["j-000001"] != "changed" || jobs["j-000050"] != "job 50" {
		keys := make([]string, 0, len(jobs))
		for k := range jobs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		t.Errorf("jobs after reopening: %v", keys)
	}
	if !sort.StringsAreSorted(order) {
		t.Errorf("Load's job order is not key order: %v", order)
	}
	if diff := cmp.Diff(map[string]string{"n0": "node"}, nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if seq, err := b.JobSequence(); err != nil || seq != 50 {
		t.Errorf("sequence = %d, %v; want 50", seq, err)
	}
	for key, want := range map[string]string{"usage": "u1", "other": "", "absent": ""} {
		got, err := b.ServerRecord(key)
		if err != nil || string(got) != want || (want == "") != (got == nil) {
			t.Errorf("ServerRecord(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	// Numbering goes on after the reopening.
	var key string
	if err := b.CreateJob(func(seq uint64) (string, []byte, error) {
		key = fmt.Sprintf("j-%06d", seq)
		return key, []byte("late"), nil
	}); err != nil || key != "j-000051" {
		t.Errorf("creation after reopening: key %q, %v; want j-000051", key, err)
	}
}
