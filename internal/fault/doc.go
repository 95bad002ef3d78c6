// Package fault is Qun's fault taxonomy: what a fault code that a device
// reports means for the work on it. Codes are "SOURCE:CODE" strings such as
// "xid:48" (an NVIDIA Xid), "nvml:dbe", "ascend-level:SeparateNPU" (a
// MindCluster fault handling level), "ascend:80E21007", "npu-smi:Alarm" or
// "fake:reset-device". Each maps to one Level, and each level to one action.
//
// The mapping is data, not code: YAML files embedded from data/ (see
// docs/faults.md for every entry and its source), to which an operator adds
// or overrides entries with files of the same format (LoadFiles). Errors in
// such files name the file, the line and the bad value.
//
// # Using it
//
//	t, err := fault.LoadFiles("/etc/qun/faults.yaml") // the defaults plus a file
//	e := t.Classify("xid:79")                         // e.Level == fault.IsolateNode
//	tr := fault.NewTracker(t)
//	st := tr.Observe(now, map[int][]fault.Seen{0: {{Code: "xid:48", Count: 1}}})
//
// Frequency escalation (the same chip faulting Count times within Window is
// raised to the escalation level, isolate-device by default) is the pure
// function Escalate; Tracker applies it per device with the clock passed
// in by the caller.
//
// # Caveats
//
//   - An unknown code is classified reset-device (the chip gets no new work
//     until the code is gone) and named as unknown, so a new driver's codes
//     are noticed but never ignored.
//   - Escalation state lives in the Tracker, in memory: an agent restart
//     forgets a chip's history.
package fault
