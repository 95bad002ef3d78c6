package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/fault"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// badData fails unless err is a bad_data or too_large *api.Error with at
// least one problem (or a message, for too_large).
func badData(t *testing.T, err error) {
	t.Helper()
	ae, ok := err.(*api.Error)
	if !ok {
		t.Fatalf("error %T %v, want *api.Error", err, err)
	}
	if ae.Code != api.CodeBadData || len(ae.Problems) == 0 {
		t.Fatalf("error %+v, want bad_data with problems", ae)
	}
}

// FuzzDecodeJobSpec checks that the JSON job-spec decoder never panics and
// returns either a valid, normalized spec that survives a JSON round trip,
// or bad_data with every problem listed.
func FuzzDecodeJobSpec(f *testing.F) {
	files, _ := filepath.Glob("../../examples/jobs/*.yaml")
	cat := pool.DefaultCatalog()
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if s, err := job.Load(file, data, cat); err == nil {
			js, _ := json.Marshal(s)
			f.Add(js)
		}
	}
	f.Add([]byte(`{"apiVersion":"qun/v1","kind":"Job","name":"a","chips":"0.25","command":["x"]}`))
	f.Add([]byte(`{"apiVersion":"qun/v1","kind":"Job","name":"a","ranks":3,"chips":8,"command":["x"],"x":1}`))
	f.Add([]byte(`{"duration":"-1h","chipsPerRank":1e999}`))
	topo, err := pool.LoadFile("testdata/pool.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, tp := range []*pool.Topology{nil, topo} {
			spec, err := DecodeJobSpec(data, tp)
			if err != nil {
				if spec != nil {
					t.Fatal("a spec and an error")
				}
				badData(t, err)
				continue
			}
			if probs := spec.Validate(cat, nil); len(probs) > 0 {
				t.Fatalf("accepted spec is invalid: %v", probs)
			}
			again, err := json.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			spec2, err := DecodeJobSpec(again, tp)
			if err != nil {
				t.Fatalf("normalized spec %s does not decode: %v", again, err)
			}
			if again2, _ := json.Marshal(spec2); string(again2) != string(again) {
				t.Fatalf("round trip changed the spec:\n%s\n%s", again, again2)
			}
		}
	})
}

// FuzzDecodeRegister checks the registration decoder never panics and that
// what it accepts re-encodes to an equivalent request.
func FuzzDecodeRegister(f *testing.F) {
	f.Add([]byte(`{"name":"n0","boot_id":"b","address":"10.0.0.1","devices":[{"index":0,"kind":"H100","healthy":true}]}`))
	f.Add([]byte(`{"name":"n0","devices":[{"index":-1},{"index":"x"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeRegister(data)
		if err != nil {
			badData(t, err)
			return
		}
		enc, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeRegister(enc); err != nil {
			t.Fatalf("re-encoded request %s rejected: %v", enc, err)
		}
	})
}

// FuzzDecodeHeartbeat checks the heartbeat decoder never panics and that an
// accepted heartbeat has only valid rank reports.
func FuzzDecodeHeartbeat(f *testing.F) {
	f.Add([]byte(`{"boot_id":"b","ranks":[{"job_id":"j-000001","attempt":0,"rank":3,"state":"running","pid":7}]}`))
	f.Add([]byte(`{"boot_id":"b","ranks":[{"job_id":"j","rank":0,"state":"exited","exit_code":1,"signal":"SIGKILL"}]}`))
	f.Add([]byte(`{"boot_id":"","ranks":[{"rank":-1,"state":"x"}]}`))
	f.Add([]byte(`{"boot_id":"b","devices":[{"index":0,"healthy":false,"level":"reset-device","codes":["xid:48"]},{"index":0,"level":"on-fire"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeHeartbeat(data)
		if err != nil {
			badData(t, err)
			return
		}
		if req.BootID == "" {
			t.Fatal("accepted a heartbeat without a boot ID")
		}
		for _, r := range req.Ranks {
			if r.Rank < 0 || r.JobID == "" || r.State != api.RankStarting && r.State != api.RankRunning && r.State != api.RankExited {
				t.Fatalf("accepted a bad rank report %+v", r)
			}
		}
		seen := map[int]bool{}
		for _, d := range req.Devices {
			if _, err := fault.ParseLevel(d.Level); d.Index < 0 || seen[d.Index] || d.Level != "" && err != nil {
				t.Fatalf("accepted a bad device health entry %+v", d)
			}
			seen[d.Index] = true
		}
	})
}

// FuzzDecodeCordon: a cordon or drain body is accepted only with a reason
// of valid UTF-8 within the limit.
func FuzzDecodeCordon(f *testing.F) {
	f.Add([]byte(`{"reason":"bad fan"}`))
	f.Add([]byte(`{"reason":1}`))
	f.Add([]byte(`{"why":"x"}`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := DecodeCordon(data)
		if err != nil {
			badData(t, err)
			return
		}
		if len(req.Reason) > maxCordonReason || !utf8.ValidString(req.Reason) {
			t.Fatalf("accepted reason %q", req.Reason)
		}
	})
}

// FuzzDecodeRank checks the decoder of stored rank ends never panics and
// accepts only canonical keys (the key rankKey writes) with a status.
func FuzzDecodeRank(f *testing.F) {
	f.Add("j-000001/0/7", []byte(`{"rank":7,"node":"n0","state":"exited","exit_code":0}`))
	f.Add("j-000001/01/+7", []byte(`{}`))
	f.Add("j/-1/2/3", []byte(`null`))
	f.Fuzz(func(t *testing.T, key string, v []byte) {
		r, err := decodeRank(key, v)
		if err != nil {
			return
		}
		if !isRankKey(key) || rankKey(r.job, r.attempt, r.rank) != key || r.attempt < 0 || r.rank < 0 {
			t.Fatalf("accepted key %q as %+v", key, r)
		}
	})
}
