package agent

import (
	"context"
	"slices"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/device"
	"github.com/qunhq/qun/internal/fault"
)

// healthMon polls the health of the node's devices and keeps the report
// sent with each heartbeat. Only the polling goroutine touches tracker and
// last; the report is read under Agent.mu.
type healthMon struct {
	checkers []device.HealthChecker
	tracker  *fault.Tracker
	last     map[string][]device.Health // per checker: its last good answer
}

func newHealthMon(discs []device.Discoverer, t *fault.Table) *healthMon {
	h := &healthMon{tracker: fault.NewTracker(t), last: map[string][]device.Health{}}
	for _, d := range discs {
		if c, ok := d.(device.HealthChecker); ok {
			h.checkers = append(h.checkers, c)
		}
	}
	return h
}

// poll asks every checker, classifies the faults at now and returns the
// health of every device in devs. A checker that fails keeps its last
// answer (the failure is logged).
func (a *Agent) pollHealth(ctx context.Context, now time.Time) []api.DeviceHealth {
	h := a.health
	cur := map[int][]fault.Seen{}
	for _, c := range h.checkers {
		hs, err := c.Health(ctx)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("device health poll failed; keeping the last answer", "plugin", c.Name(), "err", err)
			}
			hs = h.last[c.Name()]
		} else {
			h.last[c.Name()] = hs
		}
		for _, x := range hs {
			for _, f := range x.Faults {
				cur[x.Index] = append(cur[x.Index], fault.Seen{Code: f.Code, Count: f.Count})
			}
		}
	}
	st := h.tracker.Observe(now, cur)
	out := make([]api.DeviceHealth, 0, len(a.devices))
	for _, d := range a.devices {
		dh := api.DeviceHealth{Index: d.Index, Healthy: d.Healthy}
		if s, ok := st[d.Index]; ok {
			dh.Healthy = d.Healthy && s.Healthy()
			dh.Level, dh.Codes, dh.Reason = s.Level.String(), s.Codes, s.Reason
		}
		out = append(out, dh)
	}
	return out
}

// healthLoop polls every HealthInterval until ctx is done, and wakes the
// heartbeat loop when a device's health changes.
func (a *Agent) healthLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		hs := a.pollHealth(ctx, time.Now())
		a.mu.Lock()
		changed := !slices.EqualFunc(hs, a.devHealth, sameHealth)
		a.devHealth = hs
		a.mu.Unlock()
		if changed {
			for _, d := range hs {
				if !d.Healthy || d.Level != "" {
					a.log.Warn("device health", "index", d.Index, "healthy", d.Healthy, "level", d.Level, "codes", d.Codes, "reason", d.Reason)
				}
			}
			a.wake()
		}
	}
}

func sameHealth(x, y api.DeviceHealth) bool {
	return x.Index == y.Index && x.Healthy == y.Healthy && x.Level == y.Level && x.Reason == y.Reason && slices.Equal(x.Codes, y.Codes)
}
