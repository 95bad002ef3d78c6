// Package device finds the accelerators of a node for the Qun agent.
//
// Discovery is done by plugins, each a Discoverer for one vendor stack:
//
//   - "nvidia" asks NVML (libnvidia-ml.so, through github.com/NVIDIA/go-nvml)
//     for the GPUs, their product names, UUIDs, memory and row-remapping
//     state;
//   - "ascend" runs Huawei's management tool, `npu-smi info` and
//     `npu-smi info -m`, and parses its text tables;
//   - "fake" makes up devices from a spec such as "910C:8" or
//     "H100:8,H20:2", so that the agent, the server and real jobs run on a
//     laptop.
//
// # Using it
//
// The agent builds the plugins it is told to by name and asks each in turn:
//
//	d, err := device.New("ascend", "", device.WithLogger(logger))
//	if err != nil {
//		return err // unknown plugin name or bad fake spec: fail at start-up
//	}
//	devs, err := d.Discover(ctx)
//
// Each Device carries the Index the vendor runtime uses (what goes into
// CUDA_VISIBLE_DEVICES or ASCEND_RT_VISIBLE_DEVICES), the chip Kind as named
// in Qun's catalog (internal/pool), the vendor, a UUID, the device memory in
// MiB and whether the vendor stack calls it healthy.
//
// A plugin whose vendor stack is not installed is not an error: the nvidia
// plugin on a node without libnvidia-ml.so logs one line, "NVML not
// available: ...; no NVIDIA devices", and returns no devices; the ascend
// plugin does the same when npu-smi is not in PATH. So an agent can run
// every plugin on every node. An error means the stack is there but failed
// (npu-smi exits non-zero or does not answer within the timeout, NVML
// refuses to initialise), which the agent should report.
//
// # Kinds
//
// NVIDIAKind maps NVML product names: "NVIDIA H100 80GB HBM3", "NVIDIA H100
// PCIe" → "H100", "NVIDIA H200 NVL" → "H200", "NVIDIA H20" → "H20".
// AscendKind maps npu-smi names: 910A, 910ProA, 910ProB → "910"; 910B and
// 910B1..910B4 → "910B"; 910C, names with "910_93", and "Ascend910" in an
// Atlas A3 table (the one whose header says "Chip  Phy-ID") → "910C";
// 950DT → "950DT". Any other product keeps its own name as Kind, which the
// server can match against a kind defined in a pool file.
//
// # Ascend numbering
//
// With `npu-smi info -m`, a chip's Index is its "Chip Logic ID", the number
// the CANN runtime uses; the Mcu rows of that table are not compute chips
// and are skipped. If -m fails, devices are numbered in table order (the
// order the runtime uses too) and a warning is logged. ParseNPUSMI parses
// recorded outputs the same way; testdata/ holds recordings for an Atlas
// 800T A2 (8 × 910B3) and an Atlas A3 node (8 modules × 2 dies of 910C).
//
// # Caveats
//
//   - On an Atlas A3 node each Device is one die: 16 Devices of 64 GiB for 8
//     910C modules. Qun's catalog describes a 910C as the whole module
//     (128 GiB), so a node reports twice as many Devices as catalog chips,
//     and the two dies of one module are consecutive logic IDs. Device has
//     no module field yet; the agent must pair dies itself if it needs to.
//   - npu-smi info prints no serial number, so an Ascend UUID is "ascend-"
//     plus the chip's PCI bus ID: unique within a node, not across nodes.
//     Fake UUIDs ("fake-910C-0") repeat on every node with the same spec.
//   - Some older drivers print "910B" for a first-generation 910 (32 GiB);
//     the name alone cannot tell them apart, so such a node reports "910B".
//     HBMMiB shows the difference.
//   - Health is coarse. Ascend: only "OK" is healthy; Warning, Alarm,
//     Critical and any word npu-smi may add later are not. NVIDIA: a device
//     whose NVML queries fail, or whose row remapping failed or awaits a
//     reset, is unhealthy; XID errors are not watched.
//   - NVML needs cgo (go-nvml loads the library with dlopen). A binary
//     built with CGO_ENABLED=0 always reports NVML as not available. With
//     cgo, compiling go-nvml prints deprecation warnings from its header
//     once; they are harmless.
//   - npu-smi's table layout is not a stable interface. The parser is strict
//     about what it reads (an error names the line) so a changed layout
//     fails loudly rather than reporting wrong devices.
package device
