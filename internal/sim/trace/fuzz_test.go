package trace

import (
	"bytes"
	"errors"
	"os"
	"testing"
)

// checkErr asserts the readers' contract on arbitrary input: no panic, and
// any error is a located *Error wrapping ErrInvalid.
func checkErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v (%T) is not a located *Error", err, err)
	}
	if e.Line < 1 || e.Column < 0 {
		t.Fatalf("error %v has line %d column %d", err, e.Line, e.Column)
	}
}

func seed(f *testing.F, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
}

func FuzzReadOpenBPods(f *testing.F) {
	seed(f, "testdata/pods.csv")
	f.Add([]byte("name,cpu_milli,memory_mib,num_gpu,gpu_milli\np,1,1,1,\"5\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		jobs, err := ReadOpenBPods("f", bytes.NewReader(data))
		checkErr(t, err)
		for i := range jobs {
			if field, msg := validJob(&jobs[i]); field != "" {
				t.Fatalf("accepted invalid job %+v: %s: %s", jobs[i], field, msg)
			}
		}
	})
}

func FuzzReadOpenBNodes(f *testing.F) {
	seed(f, "testdata/nodes.csv")
	f.Fuzz(func(t *testing.T, data []byte) {
		nodes, err := ReadOpenBNodes("f", bytes.NewReader(data))
		checkErr(t, err)
		for _, n := range nodes {
			if n.GPUs > 0 && n.Model == "" || n.CPUMilli < 0 || n.MemoryMiB < 0 {
				t.Fatalf("accepted invalid node %+v", n)
			}
		}
	})
}

func FuzzReadJobs(f *testing.F) {
	seed(f, "testdata/jobs.jsonl")
	f.Add([]byte(`{"name":"a","submit":1e99}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		jobs, err := ReadJobs("f", bytes.NewReader(data))
		checkErr(t, err)
		for i := range jobs {
			if field, msg := validJob(&jobs[i]); field != "" {
				t.Fatalf("accepted invalid job %+v: %s: %s", jobs[i], field, msg)
			}
		}
	})
}
