package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"
)

// Ascend discovers Huawei Ascend NPUs by running the management tool
// npu-smi ("npu-smi info" and "npu-smi info -m") and parsing its tables.
type Ascend struct {
	log     *slog.Logger
	bin     string
	timeout time.Duration
}

var _ HealthChecker = (*Ascend)(nil)

// NewAscend returns the npu-smi discoverer. Where npu-smi is not installed,
// Discover logs one line and returns no devices.
func NewAscend(opts ...Option) *Ascend {
	c := newConfig(opts)
	return &Ascend{log: c.logger, bin: c.npuSMI, timeout: c.timeout}
}

// Name returns "ascend".
func (a *Ascend) Name() string { return "ascend" }

// Discover runs npu-smi and returns its chips. UUID is "ascend-" and the
// chip's PCI bus ID (npu-smi info prints no serial number). If "npu-smi
// info -m" fails or disagrees with the table, devices are numbered in table
// order and a warning is logged.
func (a *Ascend) Discover(ctx context.Context) ([]Device, error) {
	o, err := a.readNPUSMI(ctx)
	if err != nil {
		return nil, err
	}
	if o == nil {
		_, why := a.lookPath()
		a.log.Info(fmt.Sprintf("npu-smi not available: %v; no Ascend devices", why))
		return nil, nil
	}
	info, mErr := o.info, o.mapErr
	if o.chipMap != nil {
		ds, err := ParseNPUSMI(info, o.chipMap)
		if err == nil {
			return ds, nil
		}
		mErr = err
	}
	ds, err := ParseNPUSMI(info, nil)
	if err != nil {
		return nil, err
	}
	a.log.Warn("no chip logic IDs from npu-smi info -m; numbering devices in table order", "err", mErr)
	return ds, nil
}

func (a *Ascend) lookPath() (string, error) { return exec.LookPath(a.bin) }

// run runs npu-smi with args under the discoverer's timeout and returns
// its standard output.
func (a *Ascend) run(ctx context.Context, path string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second // a child holding the pipes open cannot hang us
	err := cmd.Run()
	what := "npu-smi " + strings.Join(args, " ")
	switch {
	case ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("%s: no answer within %v", what, a.timeout)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%s: %w", what, ctx.Err())
	case err != nil:
		msg := firstLine(stderr.String())
		if msg == "" {
			msg = firstLine(stdout.String())
		}
		return nil, fmt.Errorf("%s: %w: %s", what, err, msg)
	}
	return stdout.Bytes(), nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return clip(s)
}
