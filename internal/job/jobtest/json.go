package jobtest

import (
	"encoding/json"
	"testing"
)

// JSON returns the valid spec as the JSON body a client submits (what `qun
// job submit` sends to POST /v1/jobs); it fails the test when the spec is
// invalid or does not encode.
func (w *Wrapper) JSON(t testing.TB) []byte {
	t.Helper()
	data, err := json.Marshal(w.Valid(t))
	if err != nil {
		t.Fatalf("jobtest: encoding spec %q: %v", w.s.Name, err)
	}
	return data
}
