package state

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestBolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	open := func(t *testing.T) Durable {
		b, err := OpenBolt(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	durableContract(t, open, open)
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
