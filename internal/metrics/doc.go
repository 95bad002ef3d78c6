// Package metrics defines Qun's Prometheus metrics: the server's event
// metrics (histograms and counters observed as things happen), the pool
// figures computed at scrape time from a consistent snapshot of the
// allocation state (free chips, fragmentation and the largest placeable gang
// per level), the Slurm state words for chips and nodes, and the agents'
// per-device gauges. Names follow Prometheus conventions: base units,
// _seconds histograms, _total counters. docs/metrics.md lists every metric.
package metrics
