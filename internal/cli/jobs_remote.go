package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
)

// remote is the --server, --token and --ca flags of commands that talk to
// a server (secure.go).
type remote struct{ connFlags }

// remoteErr says what really failed in a command that talks to a server at
// addr, and maps it to the CLI's exit codes:
//   - an *api.Error is the server's answer: the caller's mistakes (bad data,
//     unknown IDs, oversized requests) are bad input, the rest failures;
//   - a *url.Error is the request not getting an answer (refused, timed out,
//     no route): the server cannot be reached;
//   - anything else failed here, before the request or after the answer
//     (reading or validating a file, decoding the answer, writing the
//     output), and is returned as it is, with its own exit code.
func remoteErr(addr string, err error) error {
	if err == nil {
		return nil
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case api.CodeBadData, api.CodeNotFound, api.CodeTooLarge:
			return badInput("%v", ae)
		}
		return ae
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return fmt.Errorf("the server at %s did not answer in time: %w", addr, ue.Err)
		}
		return fmt.Errorf("cannot reach the server at %s: %w", addr, ue.Err)
	}
	return err
}

// remoteCmd builds a command that talks to a server: it checks -o, makes
// the client and calls run.
func remoteCmd(use, short string, args int, out *output, run func(ctx context.Context, c *api.Client, w io.Writer, args []string) error) *cobra.Command {
	var r remote
	var wf watchFlags
	if out != nil && out.formats == nil {
		out.formats = listFormats
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(args),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out != nil {
				if err := out.check(); err != nil {
					return err
				}
			}
			if err := wf.check(); err != nil {
				return err
			}
			c, err := r.client()
			if err != nil {
				return err
			}
			if wf.on {
				return remoteErr(c.Addr(), watchLoop(cmd.Context(), cmd.OutOrStdout(), wf.every, func(w io.Writer) error {
					return run(cmd.Context(), c, w, args)
				}))
			}
			return remoteErr(c.Addr(), run(cmd.Context(), c, cmd.OutOrStdout(), args))
		},
	}
	r.register(cmd)
	if out != nil {
		out.register(cmd)
	}
	if watchable(use) {
		wf.register(cmd)
	}
	return cmd
}

// newJobRemoteCmds returns the job commands that talk to a server.
func newJobRemoteCmds() []*cobra.Command {
	var subOut, listOut, statOut, explOut, cancelOut output
	submit := remoteCmd("submit FILE", "Submit a job spec (YAML or JSON; - reads standard input)", 1, &subOut,
		func(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
			data, err := readInput(args[0])
			if err != nil {
				return err
			}
			spec, err := job.Load(args[0], data, pool.DefaultCatalog())
			if err != nil {
				return err
			}
			body, err := json.Marshal(spec)
			if err != nil {
				return err
			}
			j, err := c.SubmitJob(ctx, body)
			if err != nil {
				return err
			}
			if subOut.structured() {
				return subOut.write(w, j)
			}
			fmt.Fprintf(w, "%s submitted: job %q in queue %q, %s\n", j.ID, j.Name, j.Queue, j.State)
			return nil
		})

	var state, queue string
	var withStart bool
	list := remoteCmd("list", "List jobs", 0, &listOut,
		func(ctx context.Context, c *api.Client, w io.Writer, _ []string) error {
			l, err := c.ListJobs(ctx, api.ListJobsOptions{State: api.JobState(state), Queue: queue})
			if err != nil {
				return err
			}
			if listOut.structured() {
				return listOut.write(w, l)
			}
			return renderJobs(w, l.Jobs, time.Now(), jobColumns{wide: listOut.wide(), start: withStart})
		})
	list.Flags().BoolVar(&withStart, "start", false, "show each pending job's estimated start (from the scheduler's reservations; N/A without one)")
	list.Flags().StringVar(&state, "state", "", "only jobs in this state")
	list.Flags().StringVar(&queue, "queue", "", "only jobs of this queue")

	status := remoteCmd("status ID", "Show a job: its state, placement and ranks", 1, &statOut,
		func(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
			j, err := c.GetJob(ctx, args[0])
			if err != nil {
				return err
			}
			if statOut.structured() {
				return statOut.write(w, j)
			}
			return renderJob(w, j)
		})

	explain := remoteCmd("explain ID", "Say why a job is placed, pending or stopped", 1, &explOut,
		func(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
			e, err := c.ExplainJob(ctx, args[0])
			if err != nil {
				return err
			}
			if explOut.structured() {
				return explOut.write(w, e)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PLUGIN\tREASON\tDETAIL")
			for _, r := range e.Records {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Plugin, r.Reason, r.Detail)
			}
			return tw.Flush()
		})

	cancel := remoteCmd("cancel ID", "Cancel a job (its ranks are stopped)", 1, &cancelOut,
		func(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
			j, err := c.CancelJob(ctx, args[0])
			if err != nil {
				return err
			}
			if cancelOut.structured() {
				return cancelOut.write(w, j)
			}
			fmt.Fprintf(w, "%s: %s\n", j.ID, j.State)
			return nil
		})

	var lo api.LogOptions
	var follow bool
	logs := remoteCmd("logs ID", "Print the log of one rank of a job (-f follows it until the rank exits)", 1, nil,
		func(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
			if follow {
				return followLog(ctx, c, w, args[0], lo, time.Second/2)
			}
			data, err := c.JobLogs(ctx, args[0], lo)
			if err != nil {
				return err
			}
			_, err = w.Write(data)
			return err
		})
	logs.Flags().IntVar(&lo.Rank, "rank", 0, "rank")
	logs.Flags().IntVar(&lo.Attempt, "attempt", -1, "attempt (default: the current one)")
	logs.Flags().StringVar(&lo.Stream, "stream", "stdout", "stdout or stderr")
	logs.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing the log as it grows; end when the rank exits")
	return []*cobra.Command{submit, list, status, explain, cancel, logs}
}

func readInput(name string) ([]byte, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, 8<<20))
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, badInput("job file: %v", err)
	}
	return data, nil
}

func age(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func jobChips(j *api.Job) string {
	var s job.Spec
	if json.Unmarshal(j.Spec, &s) != nil {
		return "?"
	}
	return fmt.Sprintf("%d×%s", s.RankCount(), s.ChipsPerRank)
}

func oneLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		s = s[:n-1] + "…"
	}
	return s
}

func renderJob(w io.Writer, j *api.Job) error {
	fmt.Fprintf(w, "Job %s (%s) in queue %s, priority %d, attempt %d: %s\n", j.ID, j.Name, j.Queue, j.Priority, j.Attempt, j.State)
	if j.Reason != "" {
		fmt.Fprintf(w, "Reason: %s\n", j.Reason)
	}
	fmt.Fprintf(w, "Submitted %s", j.SubmittedAt.Format(time.RFC3339))
	if j.StartedAt != nil {
		fmt.Fprintf(w, ", running since %s", j.StartedAt.Format(time.RFC3339))
	}
	if j.FinishedAt != nil {
		fmt.Fprintf(w, ", finished %s", j.FinishedAt.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	renderHistory(w, j.History)
	if len(j.Placement) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tNODE\tDEVICES\tSTATE\tPID\tEXIT")
	for i, p := range j.Placement {
		st := api.RankStatus{}
		if i < len(j.Ranks) {
			st = j.Ranks[i]
		}
		exit := ""
		switch {
		case st.Signal != "":
			exit = st.Signal
		case st.ExitCode != nil:
			exit = fmt.Sprint(*st.ExitCode)
		}
		devs := make([]string, len(p.Devices))
		for k, d := range p.Devices {
			devs[k] = fmt.Sprint(d)
		}
		dev := strings.Join(devs, ",")
		if p.ChipMilli != pool.Full {
			dev += fmt.Sprintf(" (%s chip)", job.Milli(p.ChipMilli))
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", p.Rank, p.Node, dev, st.State, pidString(st.PID), exit)
	}
	return tw.Flush()
}

// renderHistory lists a job's ended attempts: cause, when the fault was
// detected, when the job ran again, how it came back and where replaced
// ranks went.
func renderHistory(w io.Writer, h []api.Attempt) {
	if len(h) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ATTEMPT\tCAUSE\tDETECTED\tRUNNING AGAIN\tPATH\tREPLACED\tDETAIL")
	for _, a := range h {
		again := "-"
		if a.RecoveredAt != nil {
			again = a.RecoveredAt.Format(time.RFC3339) + " (+" + a.RecoveredAt.Sub(a.DetectedAt).Round(time.Millisecond).String() + ")"
		}
		var moved []string
		for _, m := range a.Replaced {
			moved = append(moved, fmt.Sprintf("rank %d %s→%s", m.Rank, m.From, m.To))
		}
		rep := strings.Join(moved, ", ")
		if rep == "" {
			rep = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", a.Attempt, a.Cause, a.DetectedAt.Format(time.RFC3339), again, a.Path, rep, oneLine(a.Detail, 80))
	}
	tw.Flush()
}

func pidString(pid int) string {
	if pid == 0 {
		return ""
	}
	return fmt.Sprint(pid)
}

func newNodeCmd() *cobra.Command {
	c := &cobra.Command{Use: "node", Short: "List, cordon, uncordon and drain the nodes of a server"}
	var out output
	c.AddCommand(remoteCmd("list", "List the registered nodes with their Slurm-style state (idle, mix, alloc, drain, down)", 0, &out,
		func(ctx context.Context, cl *api.Client, w io.Writer, _ []string) error {
			l, err := cl.ListNodes(ctx)
			if err != nil {
				return err
			}
			if out.structured() {
				return out.write(w, l)
			}
			jobs, err := cl.ListJobs(ctx, api.ListJobsOptions{})
			if err != nil {
				return err
			}
			return renderNodes(w, l.Nodes, jobs.Jobs, time.Now(), out.wide())
		}), newNodeRemoveCmd())
	addNodeOps(c) // node_ops.go
	return c
}

func newQueueCmd() *cobra.Command {
	c := &cobra.Command{Use: "queue", Short: "List the queues of a server"}
	var out output
	c.AddCommand(remoteCmd("list", "List queues with their jobs and chips in use", 0, &out,
		func(ctx context.Context, cl *api.Client, w io.Writer, _ []string) error {
			l, err := cl.ListQueues(ctx)
			if err != nil {
				return err
			}
			if out.structured() {
				return out.write(w, l)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tWEIGHT\tPENDING\tRUNNING\tIN USE\tGUARANTEED\tHISTORY (CHIP-H)")
			for _, q := range l.Queues {
				fmt.Fprintf(tw, "%s\t%g\t%d\t%d\t%s\t%s\t%.1f\n", q.Name, q.Weight, q.Pending, q.Running, chipsByKind(q.InUse), chipsByKind(q.Guaranteed), q.UsageChipSeconds/3600)
			}
			return tw.Flush()
		}))
	return c
}

func chipsByKind(m map[string]int64) string {
	if len(m) == 0 {
		return "-"
	}
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s %s", job.Milli(v), k))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
