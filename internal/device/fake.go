package device

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// MaxFakeCount is the largest count one KIND:COUNT token of a fake spec takes.
const MaxFakeCount = 1024

// knownHBMMiB is the memory a fake device of a catalog kind reports: the
// marketed HBM of one catalog chip (binary gigabytes).
var knownHBMMiB = map[string]int64{
	"H100":  80 << 10,
	"H200":  141 << 10,
	"H20":   96 << 10,
	"910":   32 << 10,
	"910B":  64 << 10,
	"910C":  128 << 10,
	"950DT": 144 << 10,
}

// Fake is a discoverer of simulated devices, built from a spec. It lets the
// whole agent run on a laptop.
type Fake struct {
	devices   []Device
	faultFile string
}

var _ HealthChecker = (*Fake)(nil)

// NewFake parses spec (see ParseFakeSpec) into a fake discoverer. Of the
// options only WithFakeFaultFile applies.
func NewFake(spec string, opts ...Option) (*Fake, error) {
	ds, err := ParseFakeSpec(spec)
	if err != nil {
		return nil, err
	}
	return &Fake{devices: ds, faultFile: newConfig(opts).fakeFaults}, nil
}

// Name returns "fake".
func (f *Fake) Name() string { return "fake" }

// Discover returns a copy of the devices of the spec.
func (f *Fake) Discover(ctx context.Context) ([]Device, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return append([]Device(nil), f.devices...), nil
}

// ParseFakeSpec parses a comma-separated list of KIND:COUNT tokens such as
// "910C:8" or "H100:8,H20:2" into devices. Indexes run from 0 in the order
// of the spec; UUIDs are "fake-KIND-i" with i counted per kind. KIND is a
// catalog kind or any other name of letters, digits, '.', '_' and '-' (at
// most 32 characters; catalog kinds get their HBM size, others 0); a kind
// may appear once; COUNT is 1..1024. Spaces around tokens are allowed.
func ParseFakeSpec(spec string) ([]Device, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, fmt.Errorf("fake device spec is empty: want KIND:COUNT[,KIND:COUNT...], e.g. 910C:8 or H100:8,H20:2")
	}
	var out []Device
	seen := map[string]bool{}
	for i, raw := range strings.Split(spec, ",") {
		tok := strings.TrimSpace(raw)
		kind, count, err := parseFakeToken(tok)
		if err != nil {
			return nil, fmt.Errorf("fake device spec token %d %q: %w", i+1, tok, err)
		}
		if seen[kind] {
			return nil, fmt.Errorf("fake device spec token %d %q: kind %s given twice; give each kind once with its total count", i+1, tok, kind)
		}
		seen[kind] = true
		for j := range count {
			out = append(out, Device{
				Index:   len(out),
				Kind:    kind,
				Vendor:  VendorFake,
				UUID:    fmt.Sprintf("fake-%s-%d", kind, j),
				HBMMiB:  knownHBMMiB[kind],
				Healthy: true,
			})
		}
	}
	return out, nil
}

func parseFakeToken(tok string) (kind string, count int, err error) {
	kind, num, ok := strings.Cut(tok, ":")
	if !ok {
		return "", 0, fmt.Errorf("want KIND:COUNT with COUNT 1..%d", MaxFakeCount)
	}
	if err := checkKindName(kind); err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > MaxFakeCount || num != strconv.Itoa(n) {
		return "", 0, fmt.Errorf("count %q: want an integer 1..%d in KIND:COUNT", num, MaxFakeCount)
	}
	return kind, n, nil
}

func checkKindName(kind string) error {
	if kind == "" {
		return fmt.Errorf("empty kind: want KIND:COUNT with KIND like 910C or H100")
	}
	if len(kind) > 32 {
		return fmt.Errorf("kind %q is longer than 32 characters", kind)
	}
	for _, r := range kind {
		ok := r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("kind %q has %q: allowed are letters, digits, '.', '_' and '-'", kind, r)
		}
	}
	return nil
}
