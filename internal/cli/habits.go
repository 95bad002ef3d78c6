package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/metrics"

	"github.com/spf13/cobra"
)

// watchFlags are -w/--watch and --interval of list and status commands.
type watchFlags struct {
	on    bool
	every time.Duration
}

func (f *watchFlags) register(c *cobra.Command) {
	c.Flags().BoolVarP(&f.on, "watch", "w", false, "redraw whenever the answer changes, until Ctrl-C")
	c.Flags().DurationVar(&f.every, "interval", 2*time.Second, "how often --watch asks the server")
}

func (f *watchFlags) check() error {
	if f.on && (f.every < 10*time.Millisecond || f.every > time.Hour) {
		return usageError{fmt.Errorf("--interval %v: want 10ms..1h", f.every)}
	}
	return nil
}

// watchable reports whether a command (by its use line) takes --watch.
func watchable(use string) bool {
	return strings.HasPrefix(use, "list") || strings.HasPrefix(use, "status")
}

// watchLoop renders every interval and redraws when the output changed:
// on a terminal it clears the screen first, elsewhere it separates frames
// with a blank line. It returns nil on Ctrl-C, SIGTERM or when ctx ends.
func watchLoop(ctx context.Context, w io.Writer, every time.Duration, render func(io.Writer) error) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	tty := isTerminal(w)
	var last []byte
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		if last == nil || !bytes.Equal(b.Bytes(), last) {
			switch {
			case tty:
				io.WriteString(w, "\x1b[H\x1b[2J")
			case last != nil:
				io.WriteString(w, "\n")
			}
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
			last = b.Bytes()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// jobColumns selects the optional columns of `qun job list`.
type jobColumns struct{ wide, start bool }

// renderJobs prints jobs as a table. REASON is the reason code of a
// pending job (the scheduler's vocabulary, as in `qun job explain`), else
// the reason text; -o wide adds the full reason and the attempt; --start
// adds START: the start of a running job, the estimated start of a pending
// one with a reservation, N/A otherwise.
func renderJobs(w io.Writer, jobs []api.Job, now time.Time, cols jobColumns) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "ID\tNAME\tQUEUE\tSTATE\tCHIPS\tAGE"
	if cols.start {
		head += "\tSTART"
	}
	head += "\tREASON"
	if cols.wide {
		head += "\tATTEMPT\tDETAIL"
	}
	fmt.Fprintln(tw, head)
	for i := range jobs {
		j := &jobs[i]
		reason := j.ReasonCode
		if reason == "" {
			reason = oneLine(j.Reason, 60)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s", j.ID, j.Name, j.Queue, j.State, jobChips(j), age(now, j.SubmittedAt))
		if cols.start {
			fmt.Fprintf(tw, "\t%s", startOf(j))
		}
		fmt.Fprintf(tw, "\t%s", reason)
		if cols.wide {
			fmt.Fprintf(tw, "\t%d\t%s", j.Attempt, oneLine(j.Reason, 120))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func startOf(j *api.Job) string {
	switch {
	case j.StartedAt != nil:
		return j.StartedAt.Format(time.RFC3339)
	case j.State == api.JobPending && j.EstimatedStart != nil:
		return j.EstimatedStart.Format(time.RFC3339)
	}
	return "N/A"
}

// nodeUse counts, per node, the devices held by jobs with an allocation.
func nodeUse(jobs []api.Job) map[string]map[int]bool {
	use := map[string]map[int]bool{}
	for _, j := range jobs {
		if j.State != api.JobStarting && j.State != api.JobRunning && j.State != api.JobStopping {
			continue
		}
		for _, p := range j.Placement {
			if use[p.Node] == nil {
				use[p.Node] = map[int]bool{}
			}
			for _, d := range p.Devices {
				use[p.Node][d] = true
			}
		}
	}
	return use
}

// renderNodes prints nodes with the state word a Slurm user reads (idle,
// mix, alloc, drain, down), from the agent's state and the devices jobs
// hold; -o wide adds the agent's own state and the healthy devices.
func renderNodes(w io.Writer, nodes []api.Node, jobs []api.Job, now time.Time, wide bool) error {
	use := nodeUse(jobs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "NAME\tSTATE\tALLOC\tADDRESS\tDEVICES\tLAST HEARTBEAT"
	if wide {
		head += "\tAGENT\tHEALTHY"
	}
	fmt.Fprintln(tw, head)
	for _, n := range nodes {
		kinds := map[string]int{}
		healthy := 0
		for _, d := range n.Devices {
			kinds[d.Kind]++
			if d.Healthy {
				healthy++
			}
		}
		var ks []string
		for k, v := range kinds {
			ks = append(ks, fmt.Sprintf("%d×%s", v, k))
		}
		sort.Strings(ks)
		used := len(use[n.Name])
		st := metrics.SlurmNodeState(n.State == api.NodeReady, n.Cordoned, used, len(n.Devices))
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\t%s ago", n.Name, st, used, len(n.Devices), n.Address, strings.Join(ks, ","), age(now, n.LastHeartbeat))
		if wide {
			fmt.Fprintf(tw, "\t%s\t%d/%d", n.State, healthy, len(n.Devices))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// followLog prints a rank's log and keeps polling the server for what is
// appended (GET …/logs with offset) every poll, until the rank has exited
// (agents ship a rank's last output before they report its exit), the job
// moved to another attempt or ended, or ctx is done (Ctrl-C: exit 0).
func followLog(ctx context.Context, c *api.Client, w io.Writer, id string, o api.LogOptions, poll time.Duration) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	j, err := c.GetJob(ctx, id)
	if err != nil {
		return err
	}
	if o.Attempt < 0 {
		o.Attempt = j.Attempt // follow this attempt even if the job restarts
	}
	for {
		j, err := c.GetJob(ctx, id)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		// Decide before reading, so the last read sees all of the output.
		done := j.State.Terminal() || j.Attempt != o.Attempt ||
			o.Rank < len(j.Ranks) && j.Ranks[o.Rank].State == api.RankExited
		data, err := c.JobLogs(ctx, id, o)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
		o.Offset += int64(len(data))
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}
