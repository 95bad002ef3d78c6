package device

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseNPUSMIAtlas800TA2(t *testing.T) {
	info := readTestdata(t, "npu-smi-info-800t-a2.txt")
	bus := []string{"0000:C1:00.0", "0000:01:00.0", "0000:C2:00.0", "0000:02:00.0", "0000:81:00.0", "0000:41:00.0", "0000:82:00.0", "0000:42:00.0"}
	var want []Device
	for i, b := range bus {
		want = append(want, Device{Index: i, Kind: "910B", Vendor: "Huawei", UUID: "ascend-" + b, HBMMiB: 65536, Healthy: true})
	}
	for _, m := range [][]byte{nil, readTestdata(t, "npu-smi-info-m-800t-a2.txt")} {
		got, err := ParseNPUSMI(info, m)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ParseNPUSMI(map=%v) (-want +got):\n%s", m != nil, diff)
		}
	}
}

func TestParseNPUSMIAtlasA3(t *testing.T) {
	info := readTestdata(t, "npu-smi-info-a3.txt")
	got, err := ParseNPUSMI(info, readTestdata(t, "npu-smi-info-m-a3.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 16 {
		t.Fatalf("got %d devices, want 16 dies", len(got))
	}
	for i, d := range got {
		if d.Index != i || d.Kind != "910C" || d.Vendor != "Huawei" || d.HBMMiB != 65536 || !d.Healthy {
			t.Errorf("device %d = %+v", i, d)
		}
	}
	if got[0].UUID != "ascend-0000:9D:00.0" || got[1].UUID != "ascend-0000:9F:00.0" || got[15].UUID != "ascend-0000:37:00.0" {
		t.Errorf("UUIDs %q %q %q", got[0].UUID, got[1].UUID, got[15].UUID)
	}
	noMap, err := ParseNPUSMI(info, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, noMap); diff != "" {
		t.Errorf("table order numbering differs from logic IDs (-map +table):\n%s", diff)
	}
}

func TestParseNPUSMIHealth(t *testing.T) {
	got, err := ParseNPUSMI(readTestdata(t, "npu-smi-info-800t-a2-alarm.txt"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var healthy []bool
	for _, d := range got {
		healthy = append(healthy, d.Healthy)
	}
	want := []bool{true, true, false, true, true, false, true, false} // Warning, Alarm, Critical
	if diff := cmp.Diff(want, healthy); diff != "" {
		t.Errorf("health (-want +got):\n%s", diff)
	}
}

// TestParseNPUSMILogicIDs checks that -m decides the index: a container that
// sees NPUs 4 and 5 of a node numbers them 0 and 1.
func TestParseNPUSMILogicIDs(t *testing.T) {
	info := `+---------------------------+---------------+----------------------------------------------------+
| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
+===========================+===============+====================================================+
| 5     910B4               | OK            | 88.9        39                0    / 0             |
| 0                         | 0000:C2:00.0  | 0           0    / 0          2858 / 32768         |
+===========================+===============+====================================================+
| 4     910B4               | Alarm         | 88.9        39                0    / 0             |
| 0                         | 0000:C1:00.0  | 0           0    / 0          2858 / 32768         |
+===========================+===============+====================================================+
`
	m := "\tNPU ID   Chip ID   Chip Logic ID   Chip Name\n\t4 0 0 Ascend 910B4\n\t4 1 - Mcu\n\t5 0 1 Ascend 910B4\n\t5 1 - Mcu\n"
	got, err := ParseNPUSMI([]byte(info), []byte(m))
	if err != nil {
		t.Fatal(err)
	}
	want := []Device{
		{Index: 0, Kind: "910B", Vendor: "Huawei", UUID: "ascend-0000:C1:00.0", HBMMiB: 32768, Healthy: false},
		{Index: 1, Kind: "910B", Vendor: "Huawei", UUID: "ascend-0000:C2:00.0", HBMMiB: 32768, Healthy: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestParseNPUSMI310P checks the "Chip Device" layout without HBM column.
func TestParseNPUSMI310P(t *testing.T) {
	info := `| NPU     Name      | Health          | Power(W)     Temp(C)           Hugepages-Usage(page) |
| Chip    Device    | Bus-Id          | AICore(%)    Memory-Usage(MB)                        |
+===================+=================+======================================================+
| 0       310P3     | OK              | 15.8         42                0    / 0              |
| 0       3         | 0000:82:00.0    | 0            1074 / 21534                            |
+===================+=================+======================================================+
`
	got, err := ParseNPUSMI([]byte(info), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Device{{Index: 3, Kind: "310P3", Vendor: "Huawei", UUID: "ascend-0000:82:00.0", HBMMiB: 21534, Healthy: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestAscendKind(t *testing.T) {
	cases := []struct {
		name string
		a3   bool
		want string
	}{
		{"910A", false, "910"}, {"910ProB", false, "910"}, {"910ProA", false, "910"}, {"Ascend910", false, "910"},
		{"910B", false, "910B"}, {"910B1", false, "910B"}, {"910B2", false, "910B"}, {"910B3", false, "910B"},
		{"910B4", false, "910B"}, {"Ascend 910B3", false, "910B"}, {"910B4-1", false, "910B"},
		{"Ascend910", true, "910C"}, {"910C", false, "910C"}, {"Ascend910_9392", false, "910C"}, {"910_9391", true, "910C"},
		{"950DT", false, "950DT"}, {"310P3", false, "310P3"}, {"910B9", false, "910B9"}, {" ", false, "unknown"},
	}
	for _, c := range cases {
		if got := AscendKind(c.name, c.a3); got != c.want {
			t.Errorf("AscendKind(%q, %v) = %q, want %q", c.name, c.a3, got, c.want)
		}
	}
}

func TestParseNPUSMIErrors(t *testing.T) {
	a2 := string(readTestdata(t, "npu-smi-info-800t-a2.txt"))
	lines := strings.Split(a2, "\n")
	replace := func(n int, s string) string { // 1-based line n
		l := append([]string(nil), lines...)
		l[n-1] = s
		return strings.Join(l, "\n")
	}
	cases := map[string]struct {
		info, chipMap string
		want          []string
	}{
		"empty":         {"", "", []string{"no device table"}},
		"tool error":    {"dcmi model initialized failed, because the device is used. ret is -8020\n", "", []string{"no device table"}},
		"bad npu id":    {replace(7, strings.Replace(lines[6], "| 0  ", "| x  ", 1)), "", []string{"line 7", "NPU ID \"x\""}},
		"bad hbm":       {replace(8, strings.Replace(lines[7], "65536", "6553a", 1)), "", []string{"line 8", "6553a"}},
		"hbm overflow":  {replace(8, strings.Replace(lines[7], "3385 / 65536", "9385 / 6553", 1)), "", []string{"line 8", "used of"}},
		"cut row":       {replace(8, "| 0 | 0000:C1:00.0"), "", []string{"line 8", "'|'"}},
		"extra cell":    {replace(7, lines[6][:len(lines[6])-1]+"| x |"), "", []string{"line 7", "4 cells"}},
		"two healths":   {replace(7, strings.Replace(lines[6], "OK   ", "OK OK", 1)), "", []string{"line 7", "health"}},
		"broken border": {replace(9, "+====x===+"), "", []string{"line 9", "border"}},
		"missing row2":  {strings.Join(lines[:7], "\n") + "\n", "", []string{"line 7", "second row missing"}},
		"duplicate":     {strings.Join(append(append([]string(nil), lines[:9]...), lines[6:9]...), "\n"), "", []string{"line 10", "already listed at line 7"}},
		"no logic id":   {a2, "NPU ID Chip ID Chip Logic ID Chip Name\n0 0 0 Ascend 910B3\n", []string{"line 10", "no Chip Logic ID"}},
		"map header":    {a2, "0 0 0 Ascend\n", []string{"-m", "no header"}},
		"map bad row":   {a2, "NPU ID Chip ID Chip Logic ID Chip Name\n0 0 zero Ascend\n", []string{"-m line 2", "zero"}},
		"map short":     {a2, "NPU ID Chip ID Chip Logic ID Chip Name\n0 0 0\n", []string{"-m line 2", "chip name"}},
		"map dup logic": {a2, "NPU ID Chip ID Chip Logic ID Chip Name\n0 0 0 A\n1 0 0 A\n", []string{"-m line 3", "already used at line 2"}},
	}
	for name, c := range cases {
		var m []byte
		if c.chipMap != "" {
			m = []byte(c.chipMap)
		}
		_, err := ParseNPUSMI([]byte(c.info), m)
		if err == nil {
			t.Errorf("%s: nil error", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", name, err, w)
			}
		}
	}
}

func FuzzParseNPUSMI(f *testing.F) {
	for _, p := range [][2]string{
		{"npu-smi-info-800t-a2.txt", "npu-smi-info-m-800t-a2.txt"},
		{"npu-smi-info-a3.txt", "npu-smi-info-m-a3.txt"},
		{"npu-smi-info-800t-a2-alarm.txt", ""},
	} {
		var m []byte
		if p[1] != "" {
			m = readTestdata(f, p[1])
		}
		f.Add(readTestdata(f, p[0]), m)
	}
	f.Fuzz(func(t *testing.T, info, chipMap []byte) {
		ds, err := ParseNPUSMI(info, chipMap)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "npu-smi info") {
				t.Fatalf("error %q does not say which output it is about", err)
			}
			return
		}
		seen := map[int]bool{}
		for i, d := range ds {
			if d.Index < 0 || seen[d.Index] || (i > 0 && ds[i-1].Index >= d.Index) {
				t.Fatalf("bad or unsorted index in %+v", ds)
			}
			seen[d.Index] = true
			if d.Kind == "" || d.Vendor != VendorHuawei || d.HBMMiB < 0 || !strings.HasPrefix(d.UUID, "ascend-") {
				t.Fatalf("bad device %+v", d)
			}
		}
		// Parsing is a function of its input.
		again, err := ParseNPUSMI(info, chipMap)
		if err != nil || fmt.Sprint(again) != fmt.Sprint(ds) {
			t.Fatalf("second parse differs: %v, %v", again, err)
		}
	})
}
