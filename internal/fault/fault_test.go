package fault

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBuiltinLevels checks codes of every built-in table, at least one per
// level, against the mapping docs/faults.md documents.
func TestBuiltinLevels(t *testing.T) {
	cases := map[string]Level{
		"xid:13": RestartJob, "xid:31": RestartJob, "xid:32": RestartJob, "xid:43": RestartJob,
		"xid:45": Ignore, "xid:48": ResetDevice, "xid:61": ResetDevice, "xid:62": ResetDevice,
		"xid:63": ResetDevice, "xid:64": IsolateDevice, "xid:68": RestartJob, "xid:69": RestartJob,
		"xid:74": ResetDevice, "xid:79": IsolateNode, "xid:92": Ignore, "xid:94": RestartJob,
		"xid:95": ResetDevice, "xid:119": ResetDevice, "xid:120": ResetDevice,
		"nvml:dbe": ResetDevice, "nvml:remap-pending": ResetDevice, "nvml:remap-failed": IsolateDevice,
		"nvml:gpu-lost":          IsolateNode,
		"ascend-level:NotHandle": Ignore, "ascend-level:RestartRequest": RestartJob,
		"ascend-level:RestartBusiness": RestartJob, "ascend-level:FreeRestartNPU": ResetDevice,
		"ascend-level:RestartNPU": ResetDevice, "ascend-level:SeparateNPU": IsolateDevice,
		"ascend-level:PreSeparateNPU": DrainDevice, "ascend-level:SubHealth": DrainDevice,
		"ascend-level:SeparateFault": IsolateNode,
		"ascend:80E21007":            Ignore,
		"npu-smi:OK":                 Ignore, "npu-smi:Warning": DrainDevice, "npu-smi:Alarm": ResetDevice, "npu-smi:Critical": IsolateDevice,
		"fake:ignore": Ignore, "fake:restart-job": RestartJob, "fake:drain-device": DrainDevice,
		"fake:reset-device": ResetDevice, "fake:isolate-device": IsolateDevice, "fake:isolate-node": IsolateNode,
	}
	got := map[string]Level{}
	perLevel := map[Level]int{}
	for code := range cases {
		e, ok := Default().Lookup(code)
		if !ok {
			t.Errorf("%s: not in the built-in tables", code)
			continue
		}
		got[code] = e.Level
		perLevel[e.Level]++
		if !strings.HasPrefix(e.File, "builtin:") || e.Name == "" {
			t.Errorf("%s: entry %+v lacks its file or name", code, e)
		}
	}
	if diff := cmp.Diff(cases, got); diff != "" {
		t.Errorf("levels (-want +got):\n%s", diff)
	}
	for _, l := range Levels() {
		if perLevel[l] == 0 {
			t.Errorf("no built-in code at level %s", l)
		}
	}
}

func TestUnknownCodeIsResetDevice(t *testing.T) {
	e := Default().Classify("xid:99999")
	if e.Level != ResetDevice || e.Known {
		t.Errorf("Classify(xid:99999) = %+v, want unknown reset-device", e)
	}
}

func TestLevelNames(t *testing.T) {
	for _, l := range Levels() {
		p, err := ParseLevel(l.String())
		if err != nil || p != l {
			t.Errorf("ParseLevel(%q) = %v, %v", l.String(), p, err)
		}
		if l.Action() == "unknown" {
			t.Errorf("%s has no action", l)
		}
	}
	if _, err := ParseLevel("reboot"); err == nil || !strings.Contains(err.Error(), "isolate-node") {
		t.Errorf("ParseLevel(reboot) = %v, want an error listing the levels", err)
	}
	want := map[Level]bool{Ignore: true, RestartJob: true, DrainDevice: false, ResetDevice: false, IsolateDevice: false, IsolateNode: false}
	for l, h := range want {
		if l.Healthy() != h {
			t.Errorf("%s.Healthy() = %v, want %v", l, l.Healthy(), h)
		}
	}
}

func TestLoadFilesOverrides(t *testing.T) {
	p := filepath.Join(t.TempDir(), "site.yaml")
	doc := "apiVersion: qun/v1\nkind: FaultTable\nsource: xid\nfaults:\n  - {code: \"13\", level: isolate-device, name: our bad batch}\n  - {code: \"154\", level: reset-device}\nescalation: {count: 2, window: 1h, level: isolate-node}\n"
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	tb, err := LoadFiles(p)
	if err != nil {
		t.Fatal(err)
	}
	if e := tb.Classify("xid:13"); e.Level != IsolateDevice || e.File != p+":5" {
		t.Errorf("xid:13 = %+v, want isolate-device from %s:5", e, p)
	}
	if e := tb.Classify("xid:154"); e.Level != ResetDevice || !e.Known {
		t.Errorf("xid:154 = %+v", e)
	}
	if e := tb.Classify("xid:79"); e.Level != IsolateNode {
		t.Errorf("xid:79 lost by the merge: %+v", e)
	}
	if got, want := tb.EscalationFor("xid:13"), (Escalation{2, time.Hour, IsolateNode}); got != want {
		t.Errorf("escalation %+v, want %+v", got, want)
	}
	if Default().Classify("xid:13").Level != RestartJob {
		t.Error("LoadFiles changed the default table")
	}
}

func TestParseErrorsNameFileLineAndValue(t *testing.T) {
	head := "apiVersion: qun/v1\nkind: FaultTable\nsource: xid\n"
	cases := map[string]struct{ doc, want string }{
		"bad level":     {head + "faults:\n  - {code: \"48\", level: reboot}\n", "f.yaml:5:18: faults[0].level: level \"reboot\": want one of ignore, restart-job"},
		"bad code":      {head + "faults:\n  - {code: \"4 8\", level: ignore}\n", "f.yaml:5:6: faults[0].code: code \"4 8\" has ' '"},
		"duplicate":     {head + "faults:\n  - {code: \"48\", level: ignore}\n  - {code: \"48\", level: ignore}\n", "f.yaml:6:6: faults[1].code: code \"48\" already listed as faults[0]"},
		"unknown field": {head + "faults:\n  - {code: \"48\", levle: ignore}\n", "f.yaml:5"},
		"bad source":    {"apiVersion: qun/v1\nkind: FaultTable\nsource: Xid\n", "f.yaml:3:1: source: source \"Xid\" has 'X'"},
		"bad kind":      {"apiVersion: qun/v1\nkind: Faults\nsource: xid\n", "f.yaml:2:1: kind: kind \"Faults\": want FaultTable"},
		"bad window":    {head + "escalation: {count: 3, window: soon, level: isolate-device}\n", "f.yaml:4:24: escalation.window: window \"soon\": want a positive duration"},
		"bad count":     {head + "escalation: {count: -1, window: 1h, level: isolate-device}\n", "escalation.count: count -1: want 0..1000"},
		"not yaml":      {"faults: [", "f.yaml:"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(c.doc))
			if err == nil {
				t.Fatalf("no error for\n%s", c.doc)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error\n%v\nwant it to contain\n%s", err, c.want)
			}
		})
	}
}

func TestCheckCode(t *testing.T) {
	for _, ok := range []string{"xid:48", "fake:reset-device", "ascend:80E21007", "ascend-level:SeparateNPU"} {
		if err := CheckCode(ok); err != nil {
			t.Errorf("CheckCode(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"48", "xid:", ":48", "Xid:48", "xid:4 8", "xid:48;rm"} {
		if err := CheckCode(bad); err == nil {
			t.Errorf("CheckCode(%q) = nil, want an error", bad)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"nvidia-xid.yaml", "ascend.yaml", "fake.yaml"} {
		data, err := builtin.ReadFile("data/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apiVersion: qun/v1\nkind: FaultTable\nsource: x\nfaults: [{code: a, level: ignore}]\nescalation: {count: 1, window: 1s, level: isolate-node}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tb, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		for _, c := range tb.Codes() {
			if err := CheckCode(c); err != nil {
				t.Fatalf("accepted code %q: %v", c, err)
			}
			e := tb.Classify(c)
			if e.Level < Ignore || e.Level > IsolateNode {
				t.Fatalf("code %q has level %d", c, e.Level)
			}
		}
	})
}
