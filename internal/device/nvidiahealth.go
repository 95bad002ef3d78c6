package device

import (
	"context"
	"errors"
	"fmt"
	"strconv"
)

// Health polls NVML: the Xid events since the last poll (counted per
// device and Xid, and reported from then on: an Xid stays reported until
// the agent restarts, as a GPU reset or a reboot does), volatile
// double-bit ECC errors, pending or failed row remaps, and devices NVML
// has lost. Codes: "xid:N", "nvml:dbe", "nvml:remap-pending",
// "nvml:remap-failed", "nvml:gpu-lost", "nvml:query-failed". Where NVML
// is absent it reports nothing.
func (n *NVIDIA) Health(ctx context.Context) ([]Health, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.absent {
		return nil, nil
	}
	if n.session == nil {
		lib := n.open(n.libPath)
		if err := lib.Init(); err != nil {
			if absent := (*nvmlAbsentError)(nil); errors.As(err, &absent) {
				n.absent = true
				return nil, nil
			}
			return nil, fmt.Errorf("nvml init for health: %w", err)
		}
		n.session, n.xids = lib, map[int]map[uint64]int{}
	}
	evs, err := n.session.Events()
	if err != nil {
		n.log.Warn("nvml events failed; Xid events may be missed", "err", err)
	}
	for _, e := range evs {
		if n.xids[e.Index] == nil {
			n.xids[e.Index] = map[uint64]int{}
		}
		n.xids[e.Index][e.Xid]++
	}
	count, err := n.session.Count()
	if err != nil {
		return nil, fmt.Errorf("nvml device count: %w", err)
	}
	m := map[int]*Health{}
	for i := range count {
		h, err := n.session.Health(i)
		switch {
		case err != nil:
			n.log.Warn("nvml health query failed", "index", i, "err", err)
			addFault(m, i, "nvml:query-failed", 1)
			continue
		case h.Lost:
			addFault(m, i, "nvml:gpu-lost", 1)
			continue
		}
		if h.DBEVolatile > 0 {
			addFault(m, i, "nvml:dbe", int(min(h.DBEVolatile, 1<<20)))
		}
		if h.RemapPending {
			addFault(m, i, "nvml:remap-pending", 1)
		}
		if h.RemapFailed {
			addFault(m, i, "nvml:remap-failed", 1)
		}
	}
	for idx, xs := range n.xids {
		for xid, c := range xs {
			addFault(m, idx, "xid:"+strconv.FormatUint(xid, 10), c)
		}
	}
	return sortedHealth(m), nil
}

// Close ends the health session, if one is open.
func (n *NVIDIA) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.session == nil {
		return nil
	}
	err := n.session.Shutdown()
	n.session = nil
	return err
}
