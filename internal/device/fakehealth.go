package device

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// FakeFaultsFile is the name of the fault-injection file of fake devices in
// the agent's state directory (see ParseFakeFaults).
const FakeFaultsFile = "faults"

// MaxFakeFaultsBytes bounds the fault-injection file.
const MaxFakeFaultsBytes = 1 << 20

// WithFakeFaultFile makes a fake discoverer read the fault-injection file
// at path on every health poll (the agent passes STATE-DIR/faults).
func WithFakeFaultFile(path string) Option {
	return func(c *config) { c.fakeFaults = path }
}

// Health reads the fault-injection file, if the discoverer has one: each
// line breaks a device until it is removed. A missing file means no
// faults. An error names the file and line; the caller keeps the last
// health it knew.
func (f *Fake) Health(ctx context.Context) ([]Health, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.faultFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(f.faultFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fake fault file: %w", err)
	}
	return ParseFakeFaults(f.faultFile, data, len(f.devices))
}

// ParseFakeFaults parses a fault-injection file: one fault per line,
// "DEVICE CODE", where DEVICE is a device index 0..devices-1 and CODE a
// fault code "SOURCE:CODE" ("xid:48", "ascend-level:SeparateNPU") or a bare
// name, short for "fake:NAME" — the fake table has one per level
// ("reset-device", "isolate-node", …). Blank lines and lines starting with
// '#' are skipped. Errors name file:line and the bad value.
func ParseFakeFaults(file string, data []byte, devices int) ([]Health, error) {
	if len(data) > MaxFakeFaultsBytes {
		return nil, fmt.Errorf("%s: %d bytes; at most %d allowed", file, len(data), MaxFakeFaultsBytes)
	}
	m := map[int]*Health{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFakeFaultsBytes)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%s:%d: %q: want \"DEVICE CODE\", e.g. \"3 reset-device\" or \"0 xid:79\"", file, n, clip(line))
		}
		idx, err := strconv.Atoi(f[0])
		if err != nil || idx < 0 || idx >= devices || f[0] != strconv.Itoa(idx) {
			return nil, fmt.Errorf("%s:%d: device %q: want a device index 0..%d", file, n, clip(f[0]), devices-1)
		}
		code := f[1]
		if !strings.Contains(code, ":") {
			code = "fake:" + code
		}
		if err := checkFaultCode(code); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", file, n, err)
		}
		addFault(m, idx, code, 1)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", file, n+1, err)
	}
	return sortedHealth(m), nil
}

// checkFaultCode checks "SOURCE:CODE": SOURCE of lower-case letters, digits
// and '-'; CODE of letters, digits, '.', '_' and '-'; each 1..64 long. (The
// same rule as internal/fault.CheckCode, which device does not import.)
func checkFaultCode(s string) error {
	src, code, _ := strings.Cut(s, ":")
	okSrc := src != "" && len(src) <= 64
	for _, r := range src {
		okSrc = okSrc && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}
	okCode := code != "" && len(code) <= 64
	for _, r := range code {
		okCode = okCode && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-')
	}
	if !okSrc || !okCode {
		return fmt.Errorf("fault code %q: want SOURCE:CODE (source of lower-case letters, digits, '-'; code of letters, digits, '.', '_', '-') or a fake level name such as reset-device", clip(s))
	}
	return nil
}
