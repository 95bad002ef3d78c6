package device

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// npuHealthDetail is what `npu-smi info -t health -i NPU [-c CHIP]` says.
type npuHealthDetail struct {
	Status string   // "OK", "Warning", "Alarm", "Critical"
	Codes  []string // hexadecimal error codes such as "80E18402"
}

// ParseNPUSMIHealth turns `npu-smi info` (and `npu-smi info -m`, or nil;
// see ParseNPUSMI for the device numbering) into the faults of every chip
// whose Health is not OK: "npu-smi:STATE" (Warning, Alarm, Critical, …)
// and, when details has the output of `npu-smi info -t health` for the
// chip (keyed by the chip's device index), "ascend:CODE" per error code.
func ParseNPUSMIHealth(info, chipMap []byte, details map[int][]byte) ([]Health, error) {
	t, logic, err := parseNPUSMIOutputs(info, chipMap)
	if err != nil {
		return nil, err
	}
	idxs, err := chipIndexes(t, logic)
	if err != nil {
		return nil, err
	}
	m := map[int]*Health{}
	for i, c := range t.Chips {
		if c.Health == "OK" {
			continue
		}
		idx := idxs[i]
		addFault(m, idx, "npu-smi:"+c.Health, 1)
		if d, ok := details[idx]; ok {
			hd, err := parseNPUSMIHealthDetail(d)
			if err != nil {
				return nil, fmt.Errorf("device %d: %w", idx, err)
			}
			for _, code := range hd.Codes {
				addFault(m, idx, "ascend:"+code, 1)
			}
		}
	}
	return sortedHealth(m), nil
}

// parseNPUSMIHealthDetail parses the "Health Status : X" and "Error Code :
// A B" lines of `npu-smi info -t health`; "NA" means no code.
func parseNPUSMIHealthDetail(text []byte) (npuHealthDetail, error) {
	var d npuHealthDetail
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "Health Status", "Health status":
			if len(strings.Fields(v)) != 1 {
				return d, fmt.Errorf("npu-smi info -t health line %d: health status %q: want one word such as OK or Alarm", n, clip(v))
			}
			d.Status = v
		case "Error Code", "Error code":
			for _, c := range strings.Fields(v) {
				if c == "NA" || c == "-" {
					continue
				}
				c = strings.TrimPrefix(strings.TrimPrefix(c, "0x"), "0X")
				if _, err := strconv.ParseUint(c, 16, 32); err != nil || len(c) > 8 {
					return d, fmt.Errorf("npu-smi info -t health line %d: error code %q: want a hexadecimal code such as 80E18402", n, clip(c))
				}
				d.Codes = append(d.Codes, strings.ToUpper(c))
			}
		}
	}
	if err := sc.Err(); err != nil {
		return d, fmt.Errorf("npu-smi info -t health line %d: %w", n+1, err)
	}
	if d.Status == "" {
		return d, fmt.Errorf("npu-smi info -t health: no \"Health Status\" line in %d lines", n)
	}
	return d, nil
}

// Health runs `npu-smi info` (and `-m`), and for each chip whose Health is
// not OK `npu-smi info -t health -i NPU -c CHIP` for its error codes (a
// failure there is logged; the chip is still reported with its state).
func (a *Ascend) Health(ctx context.Context) ([]Health, error) {
	o, err := a.readNPUSMI(ctx)
	if o == nil || err != nil {
		return nil, err
	}
	path, info, m := o.path, o.info, o.chipMap
	// A chip map that does not parse or fit the table is dropped, as
	// Discover drops it: the chips are then numbered in table order.
	t, logic, err := parseNPUSMIOutputs(info, m)
	var idxs []int
	if err == nil {
		idxs, err = chipIndexes(t, logic)
	}
	if err != nil && m != nil {
		m = nil
		if t, logic, err = parseNPUSMIOutputs(info, nil); err == nil {
			idxs, err = chipIndexes(t, logic)
		}
	}
	if err != nil {
		return nil, err
	}
	details := map[int][]byte{}
	for i, c := range t.Chips {
		if c.Health == "OK" {
			continue
		}
		out, err := a.run(ctx, path, "info", "-t", "health", "-i", strconv.Itoa(c.NPU), "-c", strconv.Itoa(c.Chip))
		if err != nil {
			a.log.Warn("npu-smi health detail failed", "npu", c.NPU, "chip", c.Chip, "err", err)
			continue
		}
		if _, err := parseNPUSMIHealthDetail(out); err != nil {
			a.log.Warn("npu-smi health detail unreadable", "npu", c.NPU, "chip", c.Chip, "err", err)
			continue
		}
		details[idxs[i]] = out
	}
	return ParseNPUSMIHealth(info, m, details)
}
