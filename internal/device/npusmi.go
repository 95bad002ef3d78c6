package device

import (
	"bufio"
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Limits that keep a garbled table from producing absurd devices.
const (
	maxNPUID  = 1 << 16
	maxMemMiB = 1 << 30
)

// npuChip is one chip of `npu-smi info`: a pair of table rows.
type npuChip struct {
	NPU, Chip int
	DeviceID  int // the "Device" column (310 series), -1 when absent
	Name      string
	Health    string
	BusID     string
	MemMiB    int64 // last "used / total" pair's total: HBM where there is HBM
	line      int   // number of the chip's first row
	// Live readings, for Telemetry; -1 where the cell does not parse.
	powerW, tempC, aicorePct float64
	memUsedMiB               int64
}

// npuTable is the parsed device table of `npu-smi info`.
type npuTable struct {
	// A3 is true for the Atlas A3 layout ("Chip  Phy-ID" header), whose
	// chips are the two dies of a 910C module.
	A3    bool
	Chips []npuChip
}

// chipKey names a chip as npu-smi does: NPU ID and chip ID on that NPU.
type chipKey struct{ NPU, Chip int }

// ParseNPUSMI turns the text of `npu-smi info` into devices. chipMap is the
// text of `npu-smi info -m` or nil. With it, each device's Index is its
// "Chip Logic ID" (what ASCEND_RT_VISIBLE_DEVICES takes); without it, the
// "Device" column where the table has one (310 series), else the chip's
// position in the table (the runtime numbers visible chips in NPU, chip
// order). Malformed input gives an error naming the line.
func ParseNPUSMI(info, chipMap []byte) ([]Device, error) {
	t, logic, err := parseNPUSMIOutputs(info, chipMap)
	if err != nil {
		return nil, err
	}
	return ascendDevices(t, logic)
}

// chipIndexes returns the device index of each chip of t (see ParseNPUSMI).
func chipIndexes(t npuTable, logic map[chipKey]int) ([]int, error) {
	out := make([]int, len(t.Chips))
	seen := map[int]int{}
	for i, c := range t.Chips {
		idx, err := chipIndex(i, c, logic)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[idx]; dup {
			return nil, fmt.Errorf("npu-smi info line %d: device index %d already used by line %d", c.line, idx, prev)
		}
		seen[idx] = c.line
		out[i] = idx
	}
	return out, nil
}

func ascendDevices(t npuTable, logic map[chipKey]int) ([]Device, error) {
	idxs, err := chipIndexes(t, logic)
	if err != nil {
		return nil, err
	}
	out := make([]Device, 0, len(t.Chips))
	for i, c := range t.Chips {
		idx := idxs[i]
		out = append(out, Device{
			Index:   idx,
			Kind:    AscendKind(c.Name, t.A3),
			Vendor:  VendorHuawei,
			UUID:    "ascend-" + c.BusID,
			HBMMiB:  c.MemMiB,
			Healthy: c.Health == "OK",
		})
	}
	slices.SortFunc(out, func(a, b Device) int { return a.Index - b.Index })
	return out, nil
}

// chipIndex is the device index of the i-th chip of the table.
func chipIndex(i int, c npuChip, logic map[chipKey]int) (int, error) {
	switch {
	case logic != nil:
		l, ok := logic[chipKey{c.NPU, c.Chip}]
		if !ok {
			return 0, fmt.Errorf("npu-smi info line %d: NPU %d chip %d has no Chip Logic ID in npu-smi info -m", c.line, c.NPU, c.Chip)
		}
		return l, nil
	case c.DeviceID >= 0:
		return c.DeviceID, nil
	}
	return i, nil
}

// AscendKind maps an npu-smi chip name to a catalog kind: "910A", "910ProA",
// "910ProB", "910PremiumA" to "910"; "910B", "910B1".."910B4" (with or
// without an "Ascend" prefix) to "910B"; "910C", names with "910_93" and,
// on an Atlas A3 node (a3), "Ascend910" to "910C"; "950DT" to "950DT".
// Other names come back as given, trimmed.
func AscendKind(name string, a3 bool) string {
	n := strings.ToUpper(strings.Join(strings.Fields(name), ""))
	n = strings.TrimPrefix(n, "ASCEND")
	switch {
	case n == "910":
		if a3 {
			return "910C"
		}
		return "910"
	case n == "910C" || strings.Contains(n, "910_93"):
		return "910C"
	case n == "910A" || n == "910PROA" || n == "910PROB" || n == "910PREMIUMA":
		return "910"
	case n == "910B" || len(n) >= 5 && strings.HasPrefix(n, "910B") && n[4] >= '1' && n[4] <= '4':
		return "910B"
	case strings.HasPrefix(n, "950DT"):
		return "950DT"
	}
	if s := strings.TrimSpace(name); s != "" {
		return s
	}
	return "unknown"
}

type tableState int

const (
	beforeHeader tableState = iota
	afterNameHeader
	inDevices
	inProcesses
)

// parseNPUSMITable parses the device table of `npu-smi info`: after a
// header of two rows ("| NPU  Name | Health | ..." and "| Chip ... |"),
// each chip is two rows, "| NPU Name | Health | Power Temp Hugepages |" and
// "| Chip [Device|Phy-ID] | Bus-Id | AICore Memory [HBM] |", with border
// lines of '+', '-' and '=' anywhere. The process table that follows is
// skipped. Text before the header is ignored.
func parseNPUSMITable(text []byte) (npuTable, error) {
	var (
		t       npuTable
		state   = beforeHeader
		withDev bool
		pending *npuChip
		seen    = map[chipKey]int{}
	)
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		errf := func(format string, args ...any) error {
			return fmt.Errorf("npu-smi info line %d: %s: %q", lineNo, fmt.Sprintf(format, args...), clip(line))
		}
		if state == beforeHeader {
			if cells, ok := tableCells(line); ok && isNameHeader(cells) {
				state = afterNameHeader
			}
			continue
		}
		if line == "" {
			if pending != nil {
				return npuTable{}, errf("blank line inside a chip's two rows")
			}
			continue
		}
		if line[0] == '+' {
			if strings.Trim(line, "+-=") != "" {
				return npuTable{}, errf("border line with characters other than '+', '-', '='")
			}
			if pending != nil {
				return npuTable{}, errf("border line between a chip's two rows")
			}
			continue
		}
		if state == inProcesses {
			continue // rows of the process table; never chips
		}
		cells, ok := tableCells(line)
		if !ok {
			return npuTable{}, errf("want a table row between '|' characters")
		}
		switch {
		case state == afterNameHeader:
			if len(cells) != 3 || !strings.HasPrefix(cells[0], "Chip") {
				return npuTable{}, errf("want the header row \"| Chip ... | Bus-Id | ...\"")
			}
			f := strings.Fields(cells[0])
			t.A3 = slices.Contains(f, "Phy-ID")
			withDev = slices.Contains(f, "Device")
			state = inDevices
		case pending == nil && isProcessHeader(cells):
			state = inProcesses
		case pending == nil:
			c, err := parseChipRow1(cells)
			if err != nil {
				return npuTable{}, errf("%v", err)
			}
			c.line = lineNo
			pending = &c
		default:
			c := *pending
			pending = nil
			if err := parseChipRow2(cells, &c, t.A3 || withDev, withDev); err != nil {
				return npuTable{}, errf("%v", err)
			}
			k := chipKey{c.NPU, c.Chip}
			if prev, dup := seen[k]; dup {
				return npuTable{}, fmt.Errorf("npu-smi info line %d: NPU %d chip %d already listed at line %d", c.line, c.NPU, c.Chip, prev)
			}
			seen[k] = c.line
			t.Chips = append(t.Chips, c)
		}
	}
	if err := sc.Err(); err != nil {
		return npuTable{}, fmt.Errorf("npu-smi info line %d: %w", lineNo+1, err)
	}
	switch {
	case state == beforeHeader:
		return npuTable{}, fmt.Errorf("npu-smi info: no device table (want a header row \"| NPU  Name | Health | ...\") in %d lines", lineNo)
	case state == afterNameHeader:
		return npuTable{}, fmt.Errorf("npu-smi info line %d: input ends after the first header row", lineNo)
	case pending != nil:
		return npuTable{}, fmt.Errorf("npu-smi info line %d: chip's second row missing at end of input", pending.line)
	}
	return t, nil
}

// tableCells splits "| a | b |" into trimmed cells.
func tableCells(line string) ([]string, bool) {
	if len(line) < 2 || line[0] != '|' || line[len(line)-1] != '|' {
		return nil, false
	}
	cells := strings.Split(line[1:len(line)-1], "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	return cells, true
}

func isNameHeader(cells []string) bool {
	if len(cells) != 3 || cells[1] != "Health" {
		return false
	}
	f := strings.Fields(cells[0])
	return len(f) == 2 && f[0] == "NPU" && f[1] == "Name"
}

func isProcessHeader(cells []string) bool {
	return len(cells) >= 3 && strings.HasPrefix(cells[0], "NPU") && strings.HasPrefix(cells[1], "Process")
}

// parseChipRow1 parses "| 0     910B3 | OK | 97.8  37  0 / 0 |".
func parseChipRow1(cells []string) (npuChip, error) {
	if len(cells) != 3 {
		return npuChip{}, fmt.Errorf("chip row has %d cells, want 3 (NPU Name | Health | Power Temp Hugepages)", len(cells))
	}
	f := strings.Fields(cells[0])
	if len(f) < 2 {
		return npuChip{}, fmt.Errorf("want \"NPU Name\" in the first cell")
	}
	npu, err := smallInt(f[0], "NPU ID")
	if err != nil {
		return npuChip{}, err
	}
	if h := strings.Fields(cells[1]); len(h) != 1 {
		return npuChip{}, fmt.Errorf("health %q: want one word such as OK, Warning, Alarm, Critical", cells[1])
	}
	c := npuChip{NPU: npu, DeviceID: -1, Name: strings.Join(f[1:], " "), Health: cells[1], powerW: -1, tempC: -1}
	if r := strings.Fields(cells[2]); len(r) >= 2 {
		c.powerW, c.tempC = reading(r[0]), reading(r[1])
	}
	return c, nil
}

// parseChipRow2 parses "| 0 [id] | 0000:C1:00.0 | 0  0 / 0  3385 / 65536 |".
// twoIDs says the first cell has a second number (Device or Phy-ID);
// isDev says that number is the Device column.
func parseChipRow2(cells []string, c *npuChip, twoIDs, isDev bool) error {
	if len(cells) != 3 {
		return fmt.Errorf("chip row has %d cells, want 3 (Chip | Bus-Id | AICore Memory HBM)", len(cells))
	}
	f := strings.Fields(cells[0])
	want := 1
	if twoIDs {
		want = 2
	}
	if len(f) != want {
		return fmt.Errorf("first cell has %d numbers, want %d", len(f), want)
	}
	var err error
	if c.Chip, err = smallInt(f[0], "chip ID"); err != nil {
		return err
	}
	if twoIDs {
		id, err := smallInt(f[1], "device ID")
		if err != nil {
			return err
		}
		if isDev {
			c.DeviceID = id
		}
	}
	if b := strings.Fields(cells[1]); len(b) != 1 {
		return fmt.Errorf("bus ID %q: want one word such as 0000:C1:00.0", cells[1])
	}
	c.BusID = cells[1]
	// "0  0 / 0  61609/ 65536": the AICore figure, then "used / total" pairs.
	u := strings.Fields(strings.ReplaceAll(cells[2], "/", " / "))
	if len(u) != 4 && len(u) != 7 {
		return fmt.Errorf("usage cell: want \"AICore used / total [used / total]\"")
	}
	c.aicorePct = reading(u[0])
	for i := 1; i < len(u); i += 3 {
		if u[i+1] != "/" {
			return fmt.Errorf("usage cell: want \"used / total\" pairs")
		}
		used, err := memValue(u[i])
		if err != nil {
			return err
		}
		total, err := memValue(u[i+2])
		if err != nil {
			return err
		}
		if used > total && total > 0 {
			return fmt.Errorf("usage cell: %d MB used of %d", used, total)
		}
		c.MemMiB, c.memUsedMiB = total, used
	}
	return nil
}

// reading parses a live figure of the table; -1 when it is not a number
// (npu-smi prints "NA" where a chip cannot tell).
func reading(s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return -1
	}
	return v
}

func smallInt(s, what string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n >= maxNPUID {
		return 0, fmt.Errorf("%s %q: want an integer 0..%d", what, s, maxNPUID-1)
	}
	return n, nil
}

// memValue parses a memory figure in MB; "-" and "NA" read as 0.
func memValue(s string) (int64, error) {
	if s == "-" || s == "NA" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > maxMemMiB {
		return 0, fmt.Errorf("memory figure %q: want an integer 0..%d, '-' or NA", s, maxMemMiB)
	}
	return n, nil
}

// parseNPUSMIMap parses `npu-smi info -m`: a header "NPU ID  Chip ID  Chip
// Logic ID  [Chip Phy-ID]  Chip Name" and rows of numbers then a name. Rows
// whose logic ID is "-" (the Mcu) are not compute chips and are skipped.
func parseNPUSMIMap(text []byte) (map[chipKey]int, error) {
	out := map[chipKey]int{}
	usedLogic := map[int]int{}
	numCols := 0
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		errf := func(format string, args ...any) error {
			return fmt.Errorf("npu-smi info -m line %d: %s: %q", lineNo, fmt.Sprintf(format, args...), clip(line))
		}
		if numCols == 0 {
			if strings.HasPrefix(line, "NPU ID") && strings.Contains(line, "Chip Logic ID") && strings.Contains(line, "Chip Name") {
				numCols = 3
				if strings.Contains(line, "Chip Phy-ID") {
					numCols = 4
				}
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < numCols+1 {
			return nil, errf("want %d numbers and a chip name", numCols)
		}
		npu, err := smallInt(f[0], "NPU ID")
		if err != nil {
			return nil, errf("%v", err)
		}
		chip, err := smallInt(f[1], "chip ID")
		if err != nil {
			return nil, errf("%v", err)
		}
		k := chipKey{npu, chip}
		if _, dup := out[k]; dup {
			return nil, errf("NPU %d chip %d listed twice", npu, chip)
		}
		if f[2] == "-" {
			continue
		}
		logic, err := smallInt(f[2], "chip logic ID")
		if err != nil {
			return nil, errf("%v", err)
		}
		if prev, dup := usedLogic[logic]; dup {
			return nil, errf("chip logic ID %d already used at line %d", logic, prev)
		}
		usedLogic[logic] = lineNo
		out[k] = logic
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("npu-smi info -m line %d: %w", lineNo+1, err)
	}
	if numCols == 0 {
		return nil, fmt.Errorf("npu-smi info -m: no header (want \"NPU ID  Chip ID  Chip Logic ID ... Chip Name\") in %d lines", lineNo)
	}
	return out, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
