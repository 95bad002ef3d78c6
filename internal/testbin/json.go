package testbin

import (
	"encoding/json"
	"os"
	"testing"
)

// ReadJSON reads the JSON file a process under test wrote (a trained
// model, its weights) into a T; it fails the test when the file is
// missing or does not decode.
func ReadJSON[T any](t testing.TB, path string) T {
	t.Helper()
	var v T
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}
