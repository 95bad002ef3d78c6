package job

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/qunhq/qun/internal/strictyaml"
	"gopkg.in/yaml.v3"
)

// Milli is an amount of chips in thousandths of a chip: 1000 is one chip,
// 250 a quarter. In YAML and JSON it is written as a number or a string in
// decimal notation (8, 0.25, "0.125"); values that are not a whole number of
// thousandths are rejected when decoded.
type Milli int64

// Whole is one whole chip in thousandths.
const Whole Milli = 1000

// maxMilliText bounds decoded values so that arithmetic on them cannot
// overflow; validation applies the real limits.
const maxMilliText = 1 << 40

// ParseMilli parses a decimal number of chips ("8", "0.25", "1e-3") into
// thousandths.
func ParseMilli(s string) (Milli, error) {
	t := strings.TrimSpace(s)
	if t == "" || strings.IndexFunc(t, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '.' || r == 'e' || r == 'E' || r == '+' || r == '-')
	}) >= 0 {
		return 0, fmt.Errorf("%q is not a number of chips (such as 8, 0.25 or \"0.125\")", s)
	}
	if i := strings.IndexAny(t, "eE"); i >= 0 {
		// Bound the exponent: big.Rat would happily expand 1e999999999.
		if e, err := strconv.Atoi(t[i+1:]); err != nil || e < -30 || e > 30 {
			return 0, fmt.Errorf("%q is not a number of chips (such as 8, 0.25 or \"0.125\")", s)
		}
	}
	r, ok := new(big.Rat).SetString(t)
	if !ok || len(t) > 64 {
		return 0, fmt.Errorf("%q is not a number of chips (such as 8, 0.25 or \"0.125\")", s)
	}
	r.Mul(r, big.NewRat(int64(Whole), 1))
	if !r.IsInt() {
		return 0, fmt.Errorf("%s chips is not a multiple of 0.001 chip", t)
	}
	n := r.Num()
	if !n.IsInt64() || n.Int64() > maxMilliText || n.Int64() < -maxMilliText {
		return 0, fmt.Errorf("%s chips is out of range", t)
	}
	return Milli(n.Int64()), nil
}

// String formats m as a decimal number of chips without trailing zeros:
// "8", "0.25", "0.125".
func (m Milli) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	whole, frac := v/int64(Whole), v%int64(Whole)
	if frac == 0 {
		return sign + strconv.FormatInt(whole, 10)
	}
	f := strings.TrimRight(fmt.Sprintf("%03d", frac), "0")
	return fmt.Sprintf("%s%d.%s", sign, whole, f)
}

// IsWhole reports whether m is a whole number of chips.
func (m Milli) IsWhole() bool { return m%Whole == 0 }

// UnmarshalYAML accepts a number or a string.
func (m *Milli) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!bool" {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf(
			"line %d: cannot unmarshal %s as a number of chips (such as 8, 0.25 or \"0.125\")", n.Line, strictyaml.Describe(n))}}
	}
	v, err := ParseMilli(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*m = v
	return nil
}

// MarshalYAML writes m as a YAML number.
func (m Milli) MarshalYAML() (any, error) {
	tag := "!!float"
	if m.IsWhole() {
		tag = "!!int"
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: m.String()}, nil
}

// UnmarshalJSON accepts a number or a string.
func (m *Milli) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil // as encoding/json does for numbers
	}
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := ParseMilli(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// MarshalJSON writes m as a JSON number.
func (m Milli) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// Duration is a time.Duration written in Go's duration syntax ("90s",
// "1h30m") in YAML and JSON. The zero value means "not given".
type Duration time.Duration

// String formats d like time.Duration does, without trailing zero units:
// "1h30m" rather than "1h30m0s".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

const durationHint = "a Go duration such as 90s, 30m or 1h30m; units ns, us, ms, s, m, h"

func parseDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not %s", s, durationHint)
	}
	return Duration(d), nil
}

// UnmarshalYAML accepts a duration string. A bare number is rejected because
// its unit would be a guess.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!bool" {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s as %s", n.Line, strictyaml.Describe(n), durationHint)}}
	}
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := parseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %v", n.Line, err)}}
	}
	*d = v
	return nil
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalJSON accepts a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as encoding/json does for numbers
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s is not %s", b, durationHint)
	}
	v, err := parseDuration(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }
