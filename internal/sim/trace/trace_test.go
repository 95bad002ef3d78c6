package trace

import (
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadOpenB(t *testing.T) {
	nodes, err := ReadOpenBNodesFile("testdata/nodes.csv")
	if err != nil {
		t.Fatal(err)
	}
	wantNodes := []Node{
		{Name: "n-0", CPUMilli: 64000, MemoryMiB: 262144, GPUs: 2, Model: "T4"},
		{Name: "n-1", CPUMilli: 96000, MemoryMiB: 393216, GPUs: 8, Model: "G2"},
		{Name: "n-2", CPUMilli: 32000, MemoryMiB: 131072},
	}
	if diff := cmp.Diff(wantNodes, nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	pods, err := ReadOpenBPodsFile("testdata/pods.csv")
	if err != nil {
		t.Fatal(err)
	}
	wantPods := []Job{
		{Name: "p-0", Tenant: "LS", Submit: 0, Duration: 100, CPUMilli: 12000, MemoryMiB: 16384, GPUs: 1, GPUMilli: 1000},
		{Name: "p-1", Tenant: "BE", Submit: 10, Duration: 40, CPUMilli: 6000, MemoryMiB: 12288, GPUs: 1, GPUMilli: 460, Models: []string{"T4", "G2"}},
		{Name: "p-2", Tenant: "BE", Submit: 20, CPUMilli: 8000, MemoryMiB: 30517},
		{Name: "p-3", Tenant: "LS", Submit: 30, Duration: 10, CPUMilli: 16000, MemoryMiB: 65536, GPUs: 4, GPUMilli: 1000},
	}
	if diff := cmp.Diff(wantPods, pods); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
}

func TestReadJobs(t *testing.T) {
	jobs, err := ReadJobsFile("testdata/jobs.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	want := []Job{
		{Name: "a", Tenant: "t1", Duration: 60, CPUMilli: 4000, MemoryMiB: 8192, GPUs: 1, GPUMilli: 500},
		{Name: "b", Tenant: "t2", Submit: 5, Duration: 30, CPUMilli: 8000, MemoryMiB: 16384, GPUs: 2, GPUMilli: 1000},
		{Name: "c", Tenant: "default", Submit: 7, CPUMilli: 1000, MemoryMiB: 1024, GPUs: 1, GPUMilli: 1000, Models: []string{"T4"}},
	}
	if diff := cmp.Diff(want, jobs); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
}

// TestMalformed checks that every kind of bad input names its line and
// column.
func TestMalformed(t *testing.T) {
	const podHead = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n"
	cases := map[string]struct {
		read func(string) error
		in   string
		want string
	}{
		"pod cpu not a number": {pods, podHead + "p,12x,1,1,1000,,LS,R,0,1,0\n", "f:2:3: cpu_milli: \"12x\" is not an integer"},
		"pod share on 2 gpus":  {pods, podHead + "p,1,1,2,500,,LS,R,0,1,0\n", "f:2:9: gpu_milli: 500: a pod of 2 GPUs takes them whole (1000)"},
		"pod deleted early":    {pods, podHead + "p,1,1,1,500,,LS,R,9,1,0\n", "f:2:21: deletion_time: 1 is before creation_time 9"},
		"pod bad quote":        {pods, podHead + "p,1,1,1,\"5\"00,,LS,R,9,1,0\n", "f:2:11: extraneous or missing \" in quoted-field"},
		"pod short row":        {pods, podHead + "p,1,1\n", "f:2: 3 fields, but the header names 11 (missing \"num_gpu\")"},
		"pod missing column":   {pods, "name,cpu_milli\np,1\n", "f:1: missing column \"memory_mib\" (required: name, cpu_milli, memory_mib, num_gpu, gpu_milli)"},
		"pod empty file":       {pods, "", "f:1: empty file; a header line is required (name,cpu_milli,memory_mib,num_gpu,gpu_milli)"},
		"node gpus no model":   {nodes, "sn,cpu_milli,memory_mib,gpu,model\nn,1,1,2,\n", "f:2:9: model: a node with 2 GPUs needs a GPU model"},
		"node duplicate":       {nodes, "sn,cpu_milli,memory_mib,gpu,model\nn,1,1,0,\nn,1,1,0,\n", "f:3:1: sn: node \"n\" is listed twice (first on line 2)"},
		"node negative memory": {nodes, "sn,cpu_milli,memory_mib,gpu,model\nn,1,-5,0,\n", "f:2:5: memory_mib: -5 is out of range (0 to 1099511627776)"},
		"json syntax":          {jobsR, `{"name":"a","submit":0,}` + "\n", "f:1:24: invalid character '}' looking for beginning of object key string"},
		"json wrong type":      {jobsR, "\n" + `{"name":"a","submit":"x"}` + "\n", "f:2:13: submit: a string value cannot hold this (want int64)"},
		"json unknown field":   {jobsR, `{"name":"a","submit":0,"gpu":1}`, "f:1:24: gpu: unknown field (known: name, tenant, submit, duration, cpu_milli, memory_mib, gpus, gpu_milli, gpu_models)"},
		"json bad share":       {jobsR, `{"name":"a","submit":0,"gpus":1,"gpu_milli":1500}`, "f:1:33: gpu_milli: 1500 is out of range (1 to 1000 thousandths of a GPU)"},
		"json no submit":       {jobsR, `  {"name":"a"}`, "f:1:3: submit: a submit time (seconds from the trace start) is required"},
		"json two objects":     {jobsR, `{"name":"a","submit":0} {"name":"b"}`, "f:1:25: one JSON object per line; found more after it"},
		"json cut short":       {jobsR, `{"name":"a","submit":`, "f:1:22: unexpected end of line inside a JSON value"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.read(c.in)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if diff := cmp.Diff(c.want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
		})
	}
}

func pods(s string) error  { _, err := ReadOpenBPods("f", strings.NewReader(s)); return err }
func nodes(s string) error { _, err := ReadOpenBNodes("f", strings.NewReader(s)); return err }
func jobsR(s string) error { _, err := ReadJobs("f", strings.NewReader(s)); return err }

func TestSyntheticDeterministic(t *testing.T) {
	s := DefaultSynthetic()
	s.Jobs = 300
	a, err := s.Generate(rand.New(rand.NewSource(7)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.Generate(rand.New(rand.NewSource(7)))
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("same seed, different jobs (-a +b):\n%s", diff)
	}
	c, _ := s.Generate(rand.New(rand.NewSource(8)))
	if cmp.Equal(a, c) {
		t.Fatal("different seeds gave the same jobs")
	}
	tenants := map[string]int{}
	for i, j := range a {
		if i > 0 && j.Submit < a[i-1].Submit {
			t.Fatalf("job %d submitted before job %d", i, i-1)
		}
		if field, msg := validJob(&j); field != "" {
			t.Fatalf("job %d invalid: %s: %s", i, field, msg)
		}
		tenants[j.Tenant]++
	}
	if len(tenants) != 3 || tenants["research"] < tenants["batch"] {
		t.Errorf("tenant mix %v, want three tenants, research largest", tenants)
	}
	bad := s
	bad.Shapes = nil
	if _, err := bad.Generate(rand.New(rand.NewSource(1))); !errors.Is(err, ErrInvalid) {
		t.Errorf("no shapes: err = %v, want ErrInvalid", err)
	}
}
