package cli

import (
	"github.com/spf13/cobra"
)

func newJobCmd() *cobra.Command {
	c := &cobra.Command{Use: "job", Short: "Validate, place and manage jobs"}
	return c
}
