package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/api"
)

func newUsageCmd() *cobra.Command {
	var since, until, queue string
	var out output
	cmd := remoteCmd("usage", "Chip-hours per queue and chip kind over a period (like sreport)", 0, &out,
		func(ctx context.Context, c *api.Client, w io.Writer, _ []string) error {
			now := time.Now()
			s, err := parseWhen("--since", since, now)
			if err != nil {
				return err
			}
			u, err := parseWhen("--until", until, now)
			if err != nil {
				return err
			}
			if !s.IsZero() && !u.IsZero() && !s.Before(u) {
				return badInput("--since %s is not before --until %s", since, until)
			}
			r, err := c.Usage(ctx, api.UsageOptions{Since: s, Until: u, Queue: queue})
			if err != nil {
				return err
			}
			if out.structured() {
				return out.write(w, r)
			}
			return renderUsage(w, r, out.wide())
		})
	cmd.Long = `Report the chip-hours each queue's jobs held, per chip kind, over a period:
a job's chips count from its placement to the release of its allocation,
for every attempt (Slurm's sreport cluster AccountUtilizationByUser, per
queue). Shared chips count by their share.

--since and --until take an RFC 3339 time (2026-01-02T15:04:05Z), "now",
or a time relative to now such as -24h, -90m or -7d (d is 24 hours).
Defaults: --until now, --since 24 hours before --until.`
	cmd.Example = `  qun usage
  qun usage --since -7d --queue research
  qun usage --since 2026-01-01T00:00:00Z --until 2026-02-01T00:00:00Z -o json`
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "start of the period: RFC 3339, now, or relative like -24h or -7d (default: 24h before --until)")
	f.StringVar(&until, "until", "", "end of the period, same forms (default: now)")
	f.StringVar(&queue, "queue", "", "only this queue")
	return cmd
}

// parseWhen reads a --since/--until value: "" (zero: the server's
// default), "now", an RFC 3339 time, or "-" and a duration before now in
// Go's units plus d for days ("-24h", "-7d", "-1d12h").
func parseWhen(flag, v string, now time.Time) (time.Time, error) {
	switch {
	case v == "":
		return time.Time{}, nil
	case v == "now":
		return now, nil
	case strings.HasPrefix(v, "-"):
		d, err := parseDays(v[1:])
		if err != nil || d <= 0 {
			return time.Time{}, badInput("%s %q: a relative time is - and a positive duration such as -24h, -90m or -7d", flag, v)
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, badInput("%s %q: want an RFC 3339 time (2026-01-02T15:04:05Z), now, or a relative time such as -24h or -7d", flag, v)
	}
	return t, nil
}

// maxDays bounds relative times: a century.
const maxDays = 36500

// parseDays parses a Go duration that may start with a count of days.
func parseDays(s string) (time.Duration, error) {
	var days int
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > maxDays || s[:i] != strconv.Itoa(n) {
			return 0, fmt.Errorf("days %q", s[:i])
		}
		days, s = n, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil {
			return 0, err
		}
		if rest < 0 {
			return 0, fmt.Errorf("negative part %q", s)
		}
	}
	return time.Duration(days)*24*time.Hour + rest, nil
}

func renderUsage(w io.Writer, r *api.UsageReport, wide bool) error {
	fmt.Fprintf(w, "Usage %s to %s (%s)\n\n", r.Since.Format(time.RFC3339), r.Until.Format(time.RFC3339), r.Until.Sub(r.Since).Round(time.Second))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "QUEUE\tKIND\tCHIP-HOURS\tJOBS"
	if wide {
		head += "\tSHARE"
	}
	fmt.Fprintln(tw, head)
	for _, row := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%d", row.Queue, row.Kind, row.ChipHours, row.Jobs)
		if wide {
			share := 0.0
			if r.TotalChipHours > 0 {
				share = row.ChipHours / r.TotalChipHours * 100
			}
			fmt.Fprintf(tw, "\t%.1f%%", share)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintf(tw, "TOTAL\t\t%.2f\t\n", r.TotalChipHours)
	return tw.Flush()
}
