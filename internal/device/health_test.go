package device

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/qunhq/qun/internal/fault"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// levels maps each device's faults to its level through the built-in
// fault tables, as the agent does.
func levels(t *testing.T, hs []Health) map[int]string {
	t.Helper()
	tr := fault.NewTracker(fault.Default())
	cur := map[int][]fault.Seen{}
	for _, h := range hs {
		for _, f := range h.Faults {
			cur[h.Index] = append(cur[h.Index], fault.Seen{Code: f.Code, Count: f.Count})
		}
	}
	out := map[int]string{}
	for d, st := range tr.Observe(t0, cur) {
		out[d] = st.Level.String()
	}
	return out
}

func TestNVMLRecordedFaultsMapToLevels(t *testing.T) {
	var rec struct {
		Devices int
		Health  map[string]nvmlHealth
		Polls   [][]nvmlEvent
	}
	if err := json.Unmarshal(readTestdata(t, "nvml-h100-faults.json"), &rec); err != nil {
		t.Fatal(err)
	}
	f := &fakeNVML{health: map[int]nvmlHealth{}, polls: rec.Polls}
	for range rec.Devices {
		f.devices = append(f.devices, nvmlDeviceInfo{Name: "NVIDIA H100 80GB HBM3"})
	}
	for k, v := range rec.Health {
		i, _ := strconv.Atoi(k)
		f.health[i] = v
	}
	n := NewNVIDIA(withFakeNVML(f))
	var hs []Health
	for range rec.Polls {
		var err error
		if hs, err = n.Health(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	want := []Health{
		{Index: 0, Faults: []Fault{{"xid:13", 2}}},
		{Index: 1, Faults: []Fault{{"nvml:dbe", 2}}},
		{Index: 2, Faults: []Fault{{"xid:79", 1}}},
		{Index: 3, Faults: []Fault{{"nvml:remap-pending", 1}}},
		{Index: 4, Faults: []Fault{{"nvml:remap-failed", 1}}},
		{Index: 5, Faults: []Fault{{"xid:45", 1}}},
		{Index: 6, Faults: []Fault{{"nvml:gpu-lost", 1}}},
		{Index: 7, Faults: []Fault{{"xid:94", 1}}},
	}
	if diff := cmp.Diff(want, hs); diff != "" {
		t.Errorf("Health after %d polls (-want +got):\n%s", len(rec.Polls), diff)
	}
	wantLevels := map[int]string{
		0: "restart-job", 1: "reset-device", 2: "isolate-node", 3: "reset-device",
		4: "isolate-device", 5: "ignore", 6: "isolate-node", 7: "restart-job",
	}
	if diff := cmp.Diff(wantLevels, levels(t, hs)); diff != "" {
		t.Errorf("levels (-want +got):\n%s", diff)
	}
	if f.shutdown != 0 {
		t.Errorf("the health session was shut down between polls (%d)", f.shutdown)
	}
	if err := n.Close(); err != nil || f.shutdown != 1 {
		t.Errorf("Close: %v, shutdowns %d", err, f.shutdown)
	}
}

func TestNVMLHealthAbsent(t *testing.T) {
	f := &fakeNVML{initErr: &nvmlAbsentError{"no library"}}
	hs, err := NewNVIDIA(withFakeNVML(f)).Health(context.Background())
	if err != nil || len(hs) != 0 {
		t.Errorf("Health without NVML = %v, %v; want none, nil", hs, err)
	}
}

func TestNPUSMIRecordedFaultsMapToLevels(t *testing.T) {
	cases := map[string]struct {
		info, chipMap string
		details       map[int]string
		want          map[int]string
		codes         map[int][]string
	}{
		"800T A2 states": {
			info: "npu-smi-info-800t-a2-alarm.txt", chipMap: "npu-smi-info-m-800t-a2.txt",
			want: map[int]string{2: "drain-device", 5: "reset-device", 7: "isolate-device"},
		},
		"A3 with error codes": {
			info: "npu-smi-info-a3-faults.txt", chipMap: "npu-smi-info-m-a3.txt",
			details: map[int]string{3: "npu-smi-info-t-health-alarm.txt", 4: "npu-smi-info-t-health-critical.txt", 11: "npu-smi-info-t-health-warning.txt"},
			// 80E18402 and 80C98009 are in no built-in table: reset-device
			// (unknown), under Critical's isolate-device for chip 4;
			// 80E21007 is a MindCluster NotHandle code, so Warning decides.
			want: map[int]string{3: "reset-device", 4: "isolate-device", 11: "drain-device"},
			codes: map[int][]string{
				3:  {"ascend:80CB8008", "ascend:80E18402", "npu-smi:Alarm"},
				4:  {"ascend:80C98009", "npu-smi:Critical"},
				11: {"ascend:80E21007", "npu-smi:Warning"},
			},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			details := map[int][]byte{}
			for i, f := range c.details {
				details[i] = readTestdata(t, f)
			}
			hs, err := ParseNPUSMIHealth(readTestdata(t, c.info), readTestdata(t, c.chipMap), details)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, levels(t, hs)); diff != "" {
				t.Errorf("levels (-want +got):\n%s", diff)
			}
			if c.codes != nil {
				got := map[int][]string{}
				for _, h := range hs {
					for _, f := range h.Faults {
						got[h.Index] = append(got[h.Index], f.Code)
					}
				}
				if diff := cmp.Diff(c.codes, got); diff != "" {
					t.Errorf("codes (-want +got):\n%s", diff)
				}
			}
		})
	}
	hs, err := ParseNPUSMIHealth(readTestdata(t, "npu-smi-info-a3.txt"), readTestdata(t, "npu-smi-info-m-a3.txt"), nil)
	if err != nil || len(hs) != 0 {
		t.Errorf("healthy A3: %v, %v; want no faults", hs, err)
	}
}

func TestNPUSMIHealthDetail(t *testing.T) {
	d, err := parseNPUSMIHealthDetail(readTestdata(t, "npu-smi-info-t-health-ok.txt"))
	if err != nil || d.Status != "OK" || len(d.Codes) != 0 {
		t.Errorf("OK detail = %+v, %v", d, err)
	}
	for _, bad := range []string{"Health Status : two words\n", "Health Status : Alarm\nError Code : 80XYZ\n", "nothing here\n"} {
		if _, err := parseNPUSMIHealthDetail([]byte(bad)); err == nil || !strings.Contains(err.Error(), "npu-smi info -t health") {
			t.Errorf("detail %q: error %v", bad, err)
		}
	}
}

func TestAscendHealthRunsNPUSMI(t *testing.T) {
	script := `case "$*" in
"info -m") cat '` + testdataPath(t, "npu-smi-info-m-800t-a2.txt") + `';;
"info") cat '` + testdataPath(t, "npu-smi-info-800t-a2-alarm.txt") + `';;
"info -t health -i 5 -c 0") cat '` + testdataPath(t, "npu-smi-info-t-health-alarm.txt") + `';;
"info -t health -i "*) cat '` + testdataPath(t, "npu-smi-info-t-health-warning.txt") + `';;
*) exit 3;;
esac`
	hs, err := NewAscend(WithNPUSMIPath(fakeNPUSMI(t, script))).Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Health{
		{Index: 2, Faults: []Fault{{"ascend:80E21007", 1}, {"npu-smi:Warning", 1}}},
		{Index: 5, Faults: []Fault{{"ascend:80CB8008", 1}, {"ascend:80E18402", 1}, {"npu-smi:Alarm", 1}}},
		{Index: 7, Faults: []Fault{{"ascend:80E21007", 1}, {"npu-smi:Critical", 1}}},
	}
	if diff := cmp.Diff(want, hs); diff != "" {
		t.Errorf("Health (-want +got):\n%s", diff)
	}
}

func TestFakeFaultFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FakeFaultsFile)
	f, err := NewFake("910B:4", WithFakeFaultFile(path))
	if err != nil {
		t.Fatal(err)
	}
	hs, err := f.Health(context.Background())
	if err != nil || len(hs) != 0 {
		t.Fatalf("no file: %v, %v", hs, err)
	}
	os.WriteFile(path, []byte("# broken on purpose\n3 reset-device\n\n0 xid:79\n3 isolate-device\n"), 0o644)
	hs, err = f.Health(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Health{
		{Index: 0, Faults: []Fault{{"xid:79", 1}}},
		{Index: 3, Faults: []Fault{{"fake:isolate-device", 1}, {"fake:reset-device", 1}}},
	}
	if diff := cmp.Diff(want, hs); diff != "" {
		t.Errorf("Health (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[int]string{0: "isolate-node", 3: "isolate-device"}, levels(t, hs)); diff != "" {
		t.Errorf("levels (-want +got):\n%s", diff)
	}
	os.Remove(path)
	if hs, err := f.Health(context.Background()); err != nil || len(hs) != 0 {
		t.Errorf("healed: %v, %v", hs, err)
	}
}

func TestParseFakeFaultsErrors(t *testing.T) {
	cases := map[string]string{
		"0\n":              "f:1: \"0\": want \"DEVICE CODE\"",
		"\n4 reset-device": "f:2: device \"4\": want a device index 0..3",
		"-1 reset-device":  "f:1: device \"-1\"",
		"01 reset-device":  "f:1: device \"01\"",
		"1 Xid:48":         "f:1: fault code \"Xid:48\"",
		"1 xid:4$8":        "f:1: fault code \"xid:4$8\"",
		"1 a b":            "f:1: \"1 a b\": want",
	}
	for in, want := range cases {
		_, err := ParseFakeFaults("f", []byte(in), 4)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFakeFaults(%q) = %v, want an error containing %s", in, err, want)
		}
	}
}

func FuzzParseFakeFaults(f *testing.F) {
	f.Add([]byte("3 reset-device\n0 xid:79\n# c\n"), 4)
	f.Add([]byte("1 ascend-level:SeparateNPU"), 2)
	f.Fuzz(func(t *testing.T, data []byte, n int) {
		n = n%64 + 1
		if n < 1 {
			n = -n + 1
		}
		hs, err := ParseFakeFaults("f", data, n)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f:") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, h := range hs {
			if h.Index < 0 || h.Index >= n || len(h.Faults) == 0 {
				t.Fatalf("bad health %+v for %d devices", h, n)
			}
			for _, x := range h.Faults {
				if err := fault.CheckCode(x.Code); err != nil {
					t.Fatalf("accepted %q: %v", x.Code, err)
				}
			}
		}
	})
}
