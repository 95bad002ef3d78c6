package cli

import "github.com/spf13/cobra"

// newBenchCmd is `qun bench`: scheduler and placement benchmarks at the
// sizes of the issues, printing figures (not pass/fail).
func newBenchCmd() *cobra.Command {
	c := &cobra.Command{Use: "bench", Short: "Benchmark the scheduler on generated pools and queues"}
	c.AddCommand(newBenchSchedCmd())
	c.AddCommand(newBenchPlaceCmd())
	c.AddCommand(newBenchAPICmd())
	c.AddCommand(newBenchFailoverCmd())
	c.AddCommand(newBenchControlCmd(), newBenchControlGenCmd())
	return c
}
