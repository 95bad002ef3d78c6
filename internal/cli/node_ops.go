package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/api"
)

// addNodeOps adds cordon, uncordon and drain to the node command.
func addNodeOps(node *cobra.Command) {
	type op struct {
		use, short string
		call       func(ctx context.Context, c *api.Client, name, reason string) (*api.Node, error)
		reason     bool
	}
	ops := []op{
		{"cordon NODE", "Keep new work off a node; what runs there stays", func(ctx context.Context, c *api.Client, n, r string) (*api.Node, error) {
			return c.CordonNode(ctx, n, r)
		}, true},
		{"uncordon NODE", "Let a cordoned node take new work again", func(ctx context.Context, c *api.Client, n, _ string) (*api.Node, error) {
			return c.UncordonNode(ctx, n)
		}, false},
		{"drain NODE", "Cordon a node and move every rank off it: its jobs recover elsewhere", func(ctx context.Context, c *api.Client, n, r string) (*api.Node, error) {
			return c.DrainNode(ctx, n, r)
		}, true},
	}
	for _, o := range ops {
		var out output
		var reason string
		cmd := remoteCmd(o.use, o.short, 1, &out, func(ctx context.Context, c *api.Client, w io.Writer, args []string) error {
			n, err := o.call(ctx, c, args[0], reason)
			if err != nil {
				return err
			}
			if out.structured() {
				return out.write(w, n)
			}
			state := "takes new work"
			if n.Cordoned {
				state = "cordoned: " + n.CordonReason
			}
			_, err = fmt.Fprintf(w, "node %s %s\n", n.Name, state)
			return err
		})
		if o.reason {
			cmd.Flags().StringVar(&reason, "reason", "", "why, shown in qun node list -o wide and the node's record")
		}
		node.AddCommand(cmd)
	}
}
