package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/strictyaml"
)

// Exit codes.
const (
	ExitOK       = 0
	ExitFailure  = 1
	ExitBadInput = 2
)

// errBadInput marks errors caused by the user's input.
var errBadInput = errors.New("bad input")

// badInput wraps an error so that it maps to exit code 2.
func badInput(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadInput, fmt.Sprintf(format, args...))
}

// Main runs the qun command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return MainContext(context.Background(), args, stdin, stdout, stderr)
}

// MainContext is Main with a context: commands that run until interrupted
// (--watch, logs -f) also end when ctx is done.
func MainContext(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	msg := err.Error()
	if errors.Is(err, errBadInput) {
		msg = strings.TrimPrefix(msg, errBadInput.Error()+": ")
	}
	fmt.Fprintln(stderr, "qun: "+strings.ReplaceAll(msg, "\n", "\nqun: "))
	if errors.Is(err, errBadInput) || errors.Is(err, strictyaml.ErrInvalid) || isUsage(err) {
		return ExitBadInput
	}
	return ExitFailure
}

type usageError struct{ error }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "qun",
		Short: "Qun (群): one control plane for many accelerators",
		Long: `Qun makes a pool of thousands of accelerators, of one or several vendors,
behave like one reliable computer: topology from chip to spine, fair queues,
gang placement driven by each job's communication, and a simulator that runs
the same scheduler on real traces.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	root.AddCommand(newPoolCmd(), newJobCmd(), newPlanCmd(), newServerCmd(), newNodeCmd(), newQueueCmd(), newAgentCmd(), newUpCmd(), newBenchCmd(), newSimCmd(), newUsageCmd(), newTokenCmd(), newAuditCmd())
	return root
}

// output is the -o flag shared by commands that print results. Commands
// that print lists also take wide and yaml (see listFormats).
type output struct {
	format  string
	formats []string // allowed; nil: table and json
}

func (o *output) allowed() []string {
	if o.formats == nil {
		return []string{"table", "json"}
	}
	return o.formats
}

func (o *output) register(c *cobra.Command) {
	c.Flags().StringVarP(&o.format, "output", "o", "table", "output format: "+strings.Join(o.allowed(), ", "))
}

func (o *output) check() error {
	if !slices.Contains(o.allowed(), o.format) {
		return usageError{fmt.Errorf("--output %q is not a format (allowed: %s)", o.format, strings.Join(o.allowed(), ", "))}
	}
	return nil
}

func (o *output) json() bool { return o.format == "json" }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// exactArgs is cobra.ExactArgs with the error marked as bad input.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (see '%s --help')", err, cmd.CommandPath())}
		}
		return nil
	}
}
