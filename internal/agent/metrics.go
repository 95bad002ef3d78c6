package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/atomicfile"
	"github.com/qunhq/qun/internal/device"
	"github.com/qunhq/qun/internal/metrics"
)

// MetricsHandler serves the agent's /metrics: per-device utilisation,
// memory used, power, temperature and health read from the device plugins
// at scrape time (each device labelled with the jobs running on it), the
// ranks by state, and qun_build_info.
func (a *Agent) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&deviceCollector{a: a, descs: newDeviceDescs()}, metrics.BuildInfo(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type deviceDescs struct{ util, mem, power, temp, healthy, ranks *prometheus.Desc }

func newDeviceDescs() deviceDescs {
	l := []string{"node", "device", "kind", "uuid", "job_id"}
	return deviceDescs{
		util:    prometheus.NewDesc("qun_device_utilization_ratio", "Busy share of the device's compute units (0..1).", l, nil),
		mem:     prometheus.NewDesc("qun_device_memory_used_bytes", "Device memory in use.", l, nil),
		power:   prometheus.NewDesc("qun_device_power_watts", "Device power draw.", l, nil),
		temp:    prometheus.NewDesc("qun_device_temperature_celsius", "Device temperature.", l, nil),
		healthy: prometheus.NewDesc("qun_device_healthy", "1 when the vendor tool reports the device healthy, else 0.", l, nil),
		ranks:   prometheus.NewDesc("qun_agent_ranks", "Ranks the agent knows, by state (running, exited not yet acknowledged).", []string{"node", "state"}, nil),
	}
}

type deviceCollector struct {
	a     *Agent
	descs deviceDescs
}

func (c *deviceCollector) Describe(ch chan<- *prometheus.Desc) {
	d := c.descs
	for _, x := range []*prometheus.Desc{d.util, d.mem, d.power, d.temp, d.healthy, d.ranks} {
		ch <- x
	}
}

// Collect reads the plugins' telemetry (vendor tools may take a while; no
// lock is held) and labels each device with the jobs it runs.
func (c *deviceCollector) Collect(ch chan<- prometheus.Metric) {
	a := c.a
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var tel []device.Telemetry
	for _, d := range a.cfg.Devices {
		if r, ok := d.(device.TelemetryReader); ok {
			ts, err := r.Telemetry(ctx)
			if err != nil {
				a.log.Warn("device telemetry failed", "plugin", d.Name(), "err", err)
				continue
			}
			tel = append(tel, ts...)
		}
	}
	a.mu.Lock()
	jobs := a.jobsByDevice()
	states := map[string]int{api.RankRunning: 0, api.RankExited: 0}
	for _, r := range a.ranks {
		states[r.state]++
	}
	devs := map[int]api.Device{}
	for _, d := range a.devices {
		devs[d.Index] = d
	}
	a.mu.Unlock()
	for st, n := range states {
		ch <- prometheus.MustNewConstMetric(c.descs.ranks, prometheus.GaugeValue, float64(n), a.cfg.Name, st)
	}
	for _, t := range tel {
		d := devs[t.Index]
		labels := []string{a.cfg.Name, strconv.Itoa(t.Index), d.Kind, d.UUID, strings.Join(jobs[t.Index], ",")}
		put := func(desc *prometheus.Desc, v float64) {
			if v >= 0 {
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
			}
		}
		put(c.descs.util, t.Utilization)
		put(c.descs.mem, t.MemoryUsedBytes)
		put(c.descs.power, t.PowerWatts)
		put(c.descs.temp, t.TemperatureCelsius)
		healthy := 0.0
		if t.Healthy {
			healthy = 1
		}
		put(c.descs.healthy, healthy)
	}
}

// jobsByDevice maps each device index to the sorted IDs of the jobs whose
// ranks run on it. Callers hold a.mu.
func (a *Agent) jobsByDevice() map[int][]string {
	out := map[int][]string{}
	for _, r := range a.ranks {
		if r.state == api.RankExited {
			continue
		}
		for _, d := range r.devices {
			if !slices.Contains(out[d], r.key.JobID) {
				out[d] = append(out[d], r.key.JobID)
			}
		}
	}
	for _, ids := range out {
		slices.Sort(ids)
	}
	return out
}

// noteAssignments records which devices each listed rank runs on (ranks
// adopted after a restart learn it here) and rewrites the HPC job-mapping
// files.
func (a *Agent) noteAssignments(asgs []api.Assignment) {
	a.mu.Lock()
	for _, asg := range asgs {
		if r := a.ranks[keyOf(asg)]; r != nil {
			r.devices = append([]int(nil), asg.Devices...)
		}
	}
	a.mu.Unlock()
	a.writeJobMapping()
}

// writeJobMapping writes DCGM's HPC job-mapping files into
// Config.HPCJobMappingDir: one file per device index that runs ranks, named
// by the index, holding the IDs of the jobs running on it, one per line;
// the files of devices that run nothing are removed. dcgm-exporter started
// with --hpc-job-mapping-dir on the same directory then labels its metrics
// with Qun's job IDs. Files are replaced atomically and only when changed.
func (a *Agent) writeJobMapping() {
	dir := a.cfg.HPCJobMappingDir
	if dir == "" {
		return
	}
	a.mu.Lock()
	jobs := a.jobsByDevice()
	a.mu.Unlock()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		a.log.Error("cannot create the HPC job-mapping directory", "dir", dir, "err", err)
		return
	}
	want := map[string]string{}
	for idx, ids := range jobs {
		want[strconv.Itoa(idx)] = strings.Join(ids, "\n") + "\n"
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		a.log.Error("cannot read the HPC job-mapping directory", "dir", dir, "err", err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		if _, keep := want[name]; keep || !isDeviceIndex(name) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			a.log.Error("cannot remove an HPC job-mapping file", "file", name, "err", err)
		}
	}
	for name, content := range want {
		path := filepath.Join(dir, name)
		if old, err := os.ReadFile(path); err == nil && string(old) == content {
			continue
		}
		if err := writeBeside(dir, path, []byte(content)); err != nil {
			a.log.Error("cannot write an HPC job-mapping file", "file", path, "err", err)
		}
	}
}

// writeBeside replaces path atomically with a temporary file made in dir's
// parent, so that readers of dir (dcgm-exporter) never see partial or
// temporary files.
func writeBeside(dir, path string, data []byte) error {
	return atomicfile.WriteVia(filepath.Dir(filepath.Clean(dir)), path, data, 0o644)
}

// isDeviceIndex reports whether name is a file name the job mapping owns:
// a device index, or a GPU.MIG pair as DCGM also reads.
func isDeviceIndex(name string) bool {
	gpu, mig, hasMIG := strings.Cut(name, ".")
	ok := func(s string) bool {
		n, err := strconv.Atoi(s)
		return err == nil && n >= 0 && strconv.Itoa(n) == s
	}
	return ok(gpu) && (!hasMIG || ok(mig))
}

// ServeMetrics serves MetricsHandler at /metrics on ln until ctx is done.
func (a *Agent) ServeMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.MetricsHandler())
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
