package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/auth"
)

func newTokenCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "token",
		Short: "Create, list and revoke tokens (admin)",
		Long: `Tokens authenticate tenants and agents to the server. A tenant token has a
role: reader (read the jobs of its queues), submitter (also submit and cancel
in its queues; sub-queues included) or admin (everything). A join token
(--join) lets one agent enrol once: it pins the cluster CA's hash and expires
after --ttl. The server keeps only hashes; a token is shown once, here.`,
	}
	var createOut, listOut output
	var (
		join         bool
		ttl          time.Duration
		role, name   string
		queues       []string
		rateLimit    float64
		burst        int
		rateExplicit bool
	)
	create := remoteCmd("create", "Create a token and print it (shown once)", 0, &createOut,
		func(ctx context.Context, c *api.Client, w io.Writer, _ []string) error {
			req := api.TokenRequest{Name: name, Role: role, Queues: queues, Join: join, TTL: api.Duration(ttl), Rate: rateLimit, Burst: burst}
			if (join || role == auth.RoleAdmin) && !rateExplicit {
				req.Rate = 0 // join tokens are used once; admins are not limited unless asked
			}
			t, err := c.CreateToken(ctx, req)
			if err != nil {
				return err
			}
			if createOut.json() {
				return writeJSON(w, t)
			}
			fmt.Fprintln(w, t.Token)
			return nil
		})
	create.Example = `  qun token create --join --ttl 15m
  qun token create --role submitter --queue research --name team-a
  qun token create --role reader --queue research/llm --rate 20`
	create.Flags().BoolVar(&join, "join", false, "a single-use join token for one agent (qun agent --join)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime (join tokens: default 15m, at most 168h; tenant tokens: 0 never expires)")
	create.Flags().StringVar(&role, "role", "", "role of a tenant token: reader, submitter or admin")
	create.Flags().StringArrayVar(&queues, "queue", nil, "queue the token may use, with its sub-queues (repeatable; not for admin)")
	create.Flags().StringVar(&name, "name", "", "a name for listings and the audit log")
	create.Flags().Float64Var(&rateLimit, "rate", 100, "requests per second the token may make (0: unlimited; admin tokens default to unlimited)")
	create.Flags().IntVar(&burst, "burst", 0, "requests the token may make at once (default: twice --rate)")
	create.PreRunE = func(cmd *cobra.Command, _ []string) error {
		rateExplicit = cmd.Flags().Changed("rate")
		if !join && role == "" {
			return badInput("--role is required for a tenant token (allowed: %s), or give --join", strings.Join(auth.Roles, ", "))
		}
		if join && ttl == 0 {
			ttl = 15 * time.Minute
		}
		return nil
	}
	list := remoteCmd("list", "List tokens (never their secrets)", 0, &listOut,
		func(ctx context.Context, c *api.Client, w io.Writer, _ []string) error {
			l, err := c.ListTokens(ctx)
			if err != nil {
				return err
			}
			if listOut.json() {
				return writeJSON(w, l)
			}
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tKIND\tQUEUES\tSTATE\tEXPIRES")
			now := time.Now()
			for _, t := range l.Tokens {
				kind := t.Role
				if t.Join {
					kind = "join"
				}
				state := "active"
				switch {
				case t.Revoked:
					state = "revoked"
				case t.Used:
					state = "used by " + t.UsedBy
				case !t.Expires.IsZero() && now.After(t.Expires):
					state = "expired"
				}
				exp := "never"
				if !t.Expires.IsZero() {
					exp = t.Expires.Local().Format(time.DateTime)
				}
				q := strings.Join(t.Queues, ",")
				if q == "" {
					q = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, kind, q, state, exp)
			}
			return tw.Flush()
		})
	revoke := remoteCmd("revoke ID", "Revoke a token; its next request is refused", 1, nil,
		func(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
			t, err := c.RevokeToken(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "token %s (%s) revoked\n", t.ID, t.Name)
			return nil
		})
	c.AddCommand(create, list, revoke)
	return c
}

func newNodeRemoveCmd() *cobra.Command {
	return remoteCmd("remove NAME", "Remove a node and revoke its certificates (admin)", 1, nil,
		func(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
			if err := c.RemoveNode(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(w, "node %s removed; its certificates are revoked (enrol it again with a new join token)\n", args[0])
			return nil
		})
}

func newAuditCmd() *cobra.Command {
	var out output
	var dataDir string
	var verify bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "List or verify the server's audit log",
		Long: `List the audit log of a server's data directory (DATA_DIR/audit.log): every
mutating request, who made it, when and its result. --verify checks the hash
chain and the head file (DATA_DIR/audit.log.head) and names the first bad
entry when a line was edited, removed or the tail cut off; it exits 1 then.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := out.check(); err != nil {
				return err
			}
			path := filepath.Join(dataDir, auth.AuditFile)
			if _, err := os.Stat(path); err != nil {
				return badInput("--data-dir %s: %v", dataDir, err)
			}
			w := cmd.OutOrStdout()
			if verify {
				n, last, err := auth.Verify(path)
				if err != nil {
					return fmt.Errorf("%s: %w (the %d entries before it are intact)", path, err, goodPrefix(err, n))
				}
				if out.json() {
					return writeJSON(w, map[string]any{"entries": n, "head": last, "ok": true})
				}
				fmt.Fprintf(w, "%s: %d entries, chain intact, head %s\n", path, n, last)
				return nil
			}
			var entries []auth.Entry
			err := auth.Scan(path, func(e auth.Entry) error { entries = append(entries, e); return nil }, nil, nil)
			if out.json() {
				if entries == nil {
					entries = []auth.Entry{}
				}
				if werr := writeJSON(w, entries); werr != nil {
					return werr
				}
			} else {
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SEQ\tTIME\tWHO\tACTION\tSTATUS\tRESULT")
				for _, e := range entries {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\n", e.Seq, e.Time.Local().Format(time.DateTime), e.Who, e.Action, e.Status, e.Result)
				}
				tw.Flush()
			}
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		},
	}
	out.register(cmd)
	cmd.Flags().StringVar(&dataDir, "data-dir", "data/server", "the server's data directory")
	cmd.Flags().BoolVar(&verify, "verify", false, "verify the hash chain and the head; name the first bad entry")
	return cmd
}

func goodPrefix(err error, n uint64) uint64 {
	if ve, ok := err.(*auth.VerifyError); ok && ve.Entry > 0 {
		return ve.Entry - 1
	}
	return n
}
