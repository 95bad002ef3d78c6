package state

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// durableContract is what every Durable must do (see its doc), run
// against Bolt and Etcd alike. open returns a fresh, empty store; reopen
// opens the same records again (after the first was closed), as a
// restarted or newly elected server would.
func durableContract(t *testing.T, open func(t *testing.T) Durable, reopen func(t *testing.T) Durable) {
	t.Helper()
	b := open(t)
	// Load and ServerRecord work before the first Commit.
	if err := b.Load(func(k string, _ []byte) error { t.Errorf("job %q in a new store", k); return nil },
		func(k string, _ []byte) error { t.Errorf("node %q in a new store", k); return nil }); err != nil {
		t.Fatal(err)
	}
	if v, err := b.ServerRecord("usage"); err != nil || v != nil {
		t.Errorf("ServerRecord in a new store = %q, %v", v, err)
	}
	// One batch of many jobs, with per-rank end records beside them.
	batch := Records{Jobs: map[string][]byte{}}
	for i := range 50 {
		k := jobKey(i)
		batch.Jobs[k] = []byte("job " + k)
		batch.Jobs[k+"/0/3"] = []byte("end of rank 3")
	}
	if err := b.Commit(batch); err != nil {
		t.Fatal(err)
	}
	// Later batches overwrite and delete keys of earlier ones; deleting an
	// absent key is no error.
	for _, r := range []Records{
		{Jobs: map[string][]byte{jobKey(1): []byte("changed"), jobKey(2) + "/0/3": nil, "absent": nil}, Nodes: map[string][]byte{"n0": []byte("node"), "n1": []byte("x")}},
		{Nodes: map[string][]byte{"n1": nil}},
		{Server: map[string][]byte{"usage": []byte("u1"), "other": []byte("o")}},
		{Server: map[string][]byte{"other": nil}},
		{},
	} {
		if err := b.Commit(r); err != nil {
			t.Fatal(err)
		}
	}
	b.Close()

	b = reopen(t)
	defer b.Close()
	jobs, nodes := map[string]string{}, map[string]string{}
	err := b.Load(func(k string, v []byte) error { jobs[k] = string(v); return nil },
		func(k string, v []byte) error { nodes[k] = string(v); return nil })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range 50 {
		k := jobKey(i)
		want[k] = "job " + k
		want[k+"/0/3"] = "end of rank 3"
	}
	want[jobKey(1)] = "changed"
	delete(want, jobKey(2)+"/0/3")
	if diff := cmp.Diff(want, jobs); diff != "" {
		t.Errorf("jobs after reopening (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"n0": "node"}, nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	for key, want := range map[string]string{"usage": "u1", "other": "", "absent": ""} {
		got, err := b.ServerRecord(key)
		if err != nil || string(got) != want || (want == "") != (got == nil) {
			t.Errorf("ServerRecord(%q) = %q, %v; want %q", key, got, err, want)
		}
	}
}

func jobKey(i int) string { return "j-" + string(rune('a'+i/26)) + string(rune('a'+i%26)) }
