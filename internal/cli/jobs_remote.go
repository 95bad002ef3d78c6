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

// remote is the --server flag of commands that talk to a server.
type remote struct{ addr string }

func (r *remote) register(c *cobra.Command) {
	c.Flags().StringVar(&r.addr, "server", "", "server URL (default: $QUN_ADDR, else "+api.DefaultAddr+")")
}

// client returns a client for --server, $QUN_ADDR or the default address.
func (r *remote) client() (*api.Client, error) {
	addr := r.addr
	if addr == "" {
		addr = os.Getenv("QUN_ADDR")
	}
	c, err := api.NewClient(addr)
	if err != nil {
		return nil, badInput("%v", err)
	}
	return c, nil
}

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
			c, err := r.client()
			if err != nil {
				return err
			}
			return remoteErr(c.Addr(), run(cmd.Context(), c, cmd.OutOrStdout(), args))
		},
	}
	r.register(cmd)
	if out != nil {
		out.register(cmd)
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
			if subOut.json() {
				return writeJSON(w, j)
			}
			fmt.Fprintf(w, "%s submitted: job %q in queue %q, %s\n", j.ID, j.Name, j.Queue, j.State)
			return nil
		})

	var state, queue string
	list := remoteCmd("list", "List jobs", 0, &listOut,
		func(ctx context.Context, c *api.Client, w io.Writer, _ []string) error {
			l, err := c.ListJobs(ctx, api.ListJobsOptions{State: api.JobState(state), Queue: queue})
			if err != nil {
				return err
			}
			if listOut.json() {
				return writeJSON(w, l)
			}
			return renderJobs(w, l.Jobs, time.Now())
		})
	list.Flags().StringVar(&state, "state", "", "only jobs in this state")
	list.Flags().StringVar(&queue, "queue", "", "only jobs of this queue")

	status := remoteCmd("status ID", "Show a job: its state, placement and ranks", 1, &statOut,
		func(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
			j, err := c.GetJob(ctx, args[0])
			if err != nil {
				return err
			}
			if statOut.json() {
				return writeJSON(w, j)
			}
			return renderJob(w, j)
		})

	explain := remoteCmd("explain ID", "Say why a job is placed, pending or stopped", 1, &explOut,
		func(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
			e, err := c.ExplainJob(ctx, args[0])
			if err != nil {
				return err
			}
			if explOut.json() {
				return writeJSON(w, e)
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
			if cancelOut.json() {
				return writeJSON(w, j)
			}
			fmt.Fprintf(w, "%s: %s\n", j.ID, j.State)
			return nil
		})

	var lo api.LogOptions
	logs := remoteCmd("logs ID", "Print the log of one rank of a job", 1, nil,
		func(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
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

func renderJobs(w io.Writer, jobs []api.Job, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tQUEUE\tSTATE\tCHIPS\tAGE\tREASON")
	for i := range jobs {
		j := &jobs[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Name, j.Queue, j.State, jobChips(j), age(now, j.SubmittedAt), oneLine(j.Reason, 60))
	}
	return tw.Flush()
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

func pidString(pid int) string {
	if pid == 0 {
		return ""
	}
	return fmt.Sprint(pid)
}

func newNodeCmd() *cobra.Command {
	c := &cobra.Command{Use: "node", Short: "List the nodes of a server"}
	var out output
	c.AddCommand(remoteCmd("list", "List the registered nodes", 0, &out,
		func(ctx context.Context, cl *api.Client, w io.Writer, _ []string) error {
			l, err := cl.ListNodes(ctx)
			if err != nil {
				return err
			}
			if out.json() {
				return writeJSON(w, l)
			}
			now := time.Now()
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tADDRESS\tDEVICES\tLAST HEARTBEAT")
			for _, n := range l.Nodes {
				kinds := map[string]int{}
				for _, d := range n.Devices {
					kinds[d.Kind]++
				}
				var ks []string
				for k, v := range kinds {
					ks = append(ks, fmt.Sprintf("%d×%s", v, k))
				}
				sort.Strings(ks)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s ago\n", n.Name, n.State, n.Address, strings.Join(ks, ","), age(now, n.LastHeartbeat))
			}
			return tw.Flush()
		}))
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
			if out.json() {
				return writeJSON(w, l)
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
