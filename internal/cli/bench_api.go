package cli

import (
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/qunhq/qun/internal/bench"
	"github.com/spf13/cobra"
)

func newBenchAPICmd() *cobra.Command {
	var out output
	var n, clients, runs int
	var beat time.Duration
	var cpuprofile string
	cmd := &cobra.Command{
		Use:   "api",
		Short: "Measure the server's API: submissions per second and 32-rank gang start latency",
		Long: `Start an in-process server on 127.0.0.1 with a temporary data directory and
four in-process fake agents (8 chips each), then measure:

  submissions_per_sec          N job submissions from C concurrent clients,
                               each acknowledged only once on disk (fsync)
  gang32_submit_to_running_ms  p50 over R runs of the time from submitting a
                               32-rank job to seeing it running, on a fresh
                               server with the 4 agents heartbeating`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			if n < 1 || clients < 1 || runs < 1 || beat <= 0 {
				return badInput("--submissions, --clients, --runs and --heartbeat must be positive")
			}
			if cpuprofile != "" {
				f, err := os.Create(cpuprofile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			bar := newProgress(cmd)
			res, err := bench.API(cmd.Context(), n, clients, runs, beat, bar.Update)
			bar.Done()
			if err != nil {
				return err
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%d cores, %d agents heartbeating every %v\n", res.Cores, res.Agents, beat)
			fmt.Fprintf(w, "submissions: %d from %d clients: %.0f/s (p50 %.2f ms, p99 %.2f ms)\n",
				res.Submissions, res.Clients, res.SubmissionsPerSec, res.SubmitP50Ms, res.SubmitP99Ms)
			fmt.Fprintf(w, "32-rank gang submit → running: p50 %.1f ms over %d runs %v\n", res.Gang32SubmitToRun, res.Gang32Runs, res.Gang32AllMs)
			return nil
		},
	}
	out.register(cmd)
	cmd.Flags().IntVar(&n, "submissions", 5000, "job submissions to time")
	cmd.Flags().IntVar(&clients, "clients", 128, "concurrent submitting clients")
	cmd.Flags().IntVar(&runs, "runs", 5, "32-rank gang runs")
	cmd.Flags().DurationVar(&beat, "heartbeat", 10*time.Millisecond, "fake agents' heartbeat interval")
	cmd.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the whole benchmark to this file")
	return cmd
}
