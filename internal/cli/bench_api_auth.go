package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/bench"
)

// benchCompareAuth runs `qun bench api --compare-auth R`.
func benchCompareAuth(cmd *cobra.Command, out output, n, clients, runs int, beat time.Duration, rounds int) error {
	c, err := bench.APICompareAuth(cmd.Context(), n, clients, runs, beat, rounds)
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(cmd.OutOrStdout(), c)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%d rounds, authentication off and on back to back in each; medians:\n", c.Rounds)
	fmt.Fprintf(w, "submissions/s:            auth off %.0f, on %.0f; on/off per round %s, median %.3f\n",
		c.OffSubmissionsPerSec, c.OnSubmissionsPerSec, ratios(c.SubmissionsRatios), c.SubmissionsRatio)
	fmt.Fprintf(w, "                          ratio of the medians %.3f; CPU per submission off/on %.3f\n",
		c.SubmissionsRatioOfMedians, c.CPUPerSubmissionRatio)
	fmt.Fprintf(w, "pooled over all phases:   auth off %.0f/s (%.0f µs CPU each), on %.0f/s (%.0f µs); on/off %.3f\n",
		c.OffPooledSubmissionsPerSec, c.OffPooledCPUPerSubmission, c.OnPooledSubmissionsPerSec, c.OnPooledCPUPerSubmission, c.PooledSubmissionsRatio)
	fmt.Fprintf(w, "32-rank gang → running:   auth off %.1f ms, on %.1f ms; on/off per round %s, median %.3f\n",
		c.OffGang32Ms, c.OnGang32Ms, ratios(c.Gang32Ratios), c.Gang32Ratio)
	return nil
}

// benchCompareProcesses runs `qun bench api --compare-auth R --processes`:
// this executable's own `bench api`, once per run.
func benchCompareProcesses(cmd *cobra.Command, out output, n, clients, runs int, beat time.Duration, rounds int) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program to run it again: %w", err)
	}
	run := func(ctx context.Context, secure bool) (*bench.APIResult, error) {
		c := exec.CommandContext(ctx, exe, "bench", "api", "--submissions", strconv.Itoa(n), "--clients", strconv.Itoa(clients),
			"--runs", strconv.Itoa(runs), "--heartbeat", beat.String(), "--auth="+strconv.FormatBool(secure), "-o", "json")
		var stdout, stderr bytes.Buffer
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Run(); err != nil {
			return nil, fmt.Errorf("%s: %w: %s", strings.Join(c.Args[1:], " "), err, bytes.TrimSpace(stderr.Bytes()))
		}
		var r bench.APIResult
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: its output: %w", strings.Join(c.Args[1:], " "), err)
		}
		return &r, nil
	}
	bar := newProgress(cmd)
	c, err := bench.APICompareProcesses(cmd.Context(), run, rounds, bar.Update)
	bar.Done()
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(cmd.OutOrStdout(), c)
	}
	w := cmd.OutOrStdout()
	rates := func(rs []*bench.APIResult) string {
		parts := make([]string, len(rs))
		for i, r := range rs {
			parts[i] = fmt.Sprintf("%.0f", r.SubmissionsPerSec)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	fmt.Fprintf(w, "%d cores; %d runs of qun bench api with authentication off and %d on, one process each, alternating:\n", c.Cores, c.Rounds, c.Rounds)
	fmt.Fprintf(w, "submissions/s:   auth off median %.0f %s\n", c.OffSubmissionsPerSec, rates(c.Off))
	fmt.Fprintf(w, "                 auth on  median %.0f %s\n", c.OnSubmissionsPerSec, rates(c.On))
	fmt.Fprintf(w, "on/off:          %.3f (90%% bootstrap interval %.3f–%.3f)\n", c.SubmissionsRatio, c.SubmissionsRatio90[0], c.SubmissionsRatio90[1])
	fmt.Fprintf(w, "CPU/submission:  auth off %.1f µs, on %.1f µs (off/on %.3f)\n", c.OffCPUPerSubmission, c.OnCPUPerSubmission, c.CPUPerSubmissionRatio)
	fmt.Fprintf(w, "32-rank gang:    auth off %.1f ms, on %.1f ms (on/off %.3f)\n", c.OffGang32Ms, c.OnGang32Ms, c.Gang32Ratio)
	return nil
}

// benchSideBySide runs `qun bench api --side-by-side W`.
func benchSideBySide(cmd *cobra.Command, out output, clients, rounds int, window, beat time.Duration) error {
	c, err := bench.APISideBySideRun(cmd.Context(), clients, rounds, window, beat)
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(cmd.OutOrStdout(), c)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%d cores; %d rounds of %v, authentication off and on at the same time, %d clients each:\n", c.Cores, c.Rounds, window, c.Clients)
	fmt.Fprintf(w, "submissions/s:  auth off %.0f, on %.0f; on/off %.3f (per round %s, median %.3f)\n",
		c.OffPerSec, c.OnPerSec, c.PooledRatio, ratios(c.Ratios), c.Ratio)
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func ratios(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = fmt.Sprintf("%.2f", x)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
