package job_test

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func marshalYAML(t *testing.T, v any) []byte {
	t.Helper()
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
