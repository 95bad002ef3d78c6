package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/qunhq/qun/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchAPICmd() *cobra.Command {
	var out output
	var n, clients, runs int
	var beat time.Duration
	var cpuprofile, tracefile, memprofile string
	var authOn bool
	var compare int
	var sideBySide time.Duration
	var processes bool
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Measure the server's API: submissions per second and 32-rank gang start latency",
		Long: `Start an in-process server on 127.0.0.1 with a temporary data directory and
four in-process fake agents (8 chips each), then measure:

  submissions_per_sec          N job submissions from C concurrent clients,
                               each acknowledged only once on disk (fsync)
  gang32_submit_to_running_ms  p50 over R runs of the time from submitting a
                               32-rank job to seeing it running, on a fresh
                               server with the 4 agents heartbeating

With --auth (the default) the server runs as qun server does: TLS 1.3, the
clients submit with a submitter token of queue default, the agents enrol
with join tokens and speak mTLS, and every submission is audited (fsynced).
--auth=false serves plain HTTP on loopback without authentication.
--compare-auth R runs both, interleaved R rounds each, and reports the
medians and the ratios on/off. --side-by-side W runs both at the same time,
their clients submitting together for windows of W (R rounds), so that both
share every moment of the machine, and reports the ratio of their counts.
--compare-auth R --processes runs this benchmark itself 2R times, one
process per run, alternating off, on, on, off, and reports the medians and
the ratio on/off with a 90% bootstrap interval.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if n < 1 || clients < 1 || runs < 1 || beat <= 0 {
				return badInput("--submissions, --clients, --runs and --heartbeat must be positive")
			}
			opts := bench.APIOptions{Submissions: n, Clients: clients, Runs: runs, Heartbeat: beat, Secure: authOn}
			for _, out := range []struct {
				path string
				w    *io.Writer
			}{{cpuprofile, &opts.Profile}, {memprofile, &opts.MemProfile}, {tracefile, &opts.Trace}} {
				if out.path == "" {
					continue
				}
				f, err := os.Create(out.path)
				if err != nil {
					return err
				}
				defer f.Close()
				*out.w = f
			}
			serverProcs() // the in-process server runs as qun server does
			if compare < 0 {
				return badInput("--compare-auth %d: want 0 (off) or a number of rounds", compare)
			}
			if sideBySide < 0 {
				return badInput("--side-by-side %v: want 0 (off) or a window", sideBySide)
			}
			if sideBySide > 0 {
				return benchSideBySide(cmd, out, clients, max(compare, 1), sideBySide, beat) // bench_api_auth.go
			}
			if processes {
				if compare < 1 {
					return badInput("--processes needs --compare-auth R, the runs of each mode")
				}
				return benchCompareProcesses(cmd, out, n, clients, runs, beat, compare) // bench_api_auth.go
			}
			if compare > 0 {
				return benchCompareAuth(cmd, out, n, clients, runs, beat, compare) // bench_api_auth.go
			}
			bar := newProgress(cmd)
			res, err := bench.APIWith(cmd.Context(), opts, bar.Update)
			bar.Done()
			if err != nil {
				return err
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d cores, %d agents heartbeating every %v, authentication %s\n", res.Cores, res.Agents, beat, onOff(res.Auth))
			fmt.Fprintf(w, "submissions: %d from %d clients: %.0f/s (p50 %.2f ms, p99 %.2f ms), %.0f µs CPU each (%.2f cores)\n",
				res.Submissions, res.Clients, res.SubmissionsPerSec, res.SubmitP50Ms, res.SubmitP99Ms, res.CPUPerSubmissionUs, res.CPUCores)
			fmt.Fprintf(w, "32-rank gang submit → running: p50 %.1f ms over %d runs %v\n", res.Gang32SubmitToRun, res.Gang32Runs, res.Gang32AllMs)
			return nil
		},
	}
	out.register(cmd)
	cmd.Flags().IntVar(&n, "submissions", 5000, "job submissions to time")
	cmd.Flags().IntVar(&clients, "clients", 128, "concurrent submitting clients")
	cmd.Flags().IntVar(&runs, "runs", 5, "32-rank gang runs")
	cmd.Flags().DurationVar(&beat, "heartbeat", 10*time.Millisecond, "fake agents' heartbeat interval")
	cmd.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the submissions phase to this file")
	cmd.Flags().StringVar(&memprofile, "memprofile", "", "write an allocation profile (mostly of the submissions phase) to this file")
	cmd.Flags().StringVar(&tracefile, "trace", "", "write an execution trace (go tool trace) of the submissions phase to this file")
	cmd.Flags().BoolVar(&authOn, "auth", true, "TLS, tokens, node certificates and the audit log, as qun server; false: plain HTTP on loopback")
	cmd.Flags().IntVar(&compare, "compare-auth", 0, "run with authentication off and on, interleaved, this many rounds each, and report both and the ratios")
	cmd.Flags().BoolVar(&processes, "processes", false, "with --compare-auth R: run the whole benchmark R times with authentication off and R times on, one process per run, alternating, and report the medians and the ratio with its 90% bootstrap interval")
	cmd.Flags().DurationVar(&sideBySide, "side-by-side", 0, "run with authentication off and on at the same time, for windows this long (--compare-auth rounds, default 1), and report both and the ratios")
	return cmd
}
