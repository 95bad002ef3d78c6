package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

func TestBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
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
	b.Close()

	b, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	jobs, nodes := map[string]string{}, map[string]string{}
	err = b.Load(func(k string, v []byte) error { jobs[k] = string(v); return nil },
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
	if diff := cmp.Diff(map[string]string{"n0": "node"}, nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if seq, err := b.JobSequence(); err != nil || seq != 50 {
		t.Errorf("sequence = %d, %v; want 50", seq, err)
	}
}

func TestBoltRefusesOtherFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		m, _ := tx.CreateBucket([]byte("meta"))
		return m.Put([]byte("format"), []byte("99"))
	})
	db.Close()
	if _, err := OpenBolt(path); !errors.Is(err, ErrBoltFormat) {
		t.Errorf("opening format 99: %v, want ErrBoltFormat", err)
	}
}

// TestBoltServerRecords: server records survive reopening, a nil value
// deletes one, and the format marker can be neither written nor read.
func TestBoltServerRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(Records{Server: map[string][]byte{"usage": []byte("u1"), "other": []byte("o")}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(Records{Server: map[string][]byte{"other": nil}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(Records{Jobs: map[string][]byte{"j": []byte("x")}, Server: map[string][]byte{formatKey: []byte("2")}}); err == nil {
		t.Error("writing the format marker succeeded")
	}
	b.Close()
	if b, err = OpenBolt(path); err != nil {
		t.Fatalf("reopen after a refused write: %v", err)
	}
	defer b.Close()
	for key, want := range map[string]string{"usage": "u1", "other": "", formatKey: "", "absent": ""} {
		got, err := b.ServerRecord(key)
		if err != nil || string(got) != want || (want == "") != (got == nil) {
			t.Errorf("ServerRecord(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
	jobs := 0
	if err := b.Load(func(string, []byte) error { jobs++; return nil }, func(string, []byte) error { return nil }); err != nil || jobs != 0 {
		t.Errorf("the refused commit stored %d jobs (%v)", jobs, err)
	}
}
