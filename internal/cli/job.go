package cli

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

func newJobCmd() *cobra.Command {
	c := &cobra.Command{Use: "job", Short: "Validate, place and manage jobs"}
	c.AddCommand(newJobValidateCmd())
	c.AddCommand(newJobPlaceCmd())
	c.AddCommand(newJobRemoteCmds()...)
	return c
}

func newJobValidateCmd() *cobra.Command {
	var out output
	var poolFile string
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a job spec and list every problem with its line and field",
		Long: `Check a job spec. With --pool, also check that its ranks could ever be
placed on that pool, with the scheduler's own check: an accepted chip kind is
present, the pool has enough chips of the accepted kinds, and some host can
hold one rank under the pool's shape rules.`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			spec, err := loadJob(args[0])
			if err != nil {
				return err
			}
			if poolFile != "" {
				topo, err := loadPool(poolFile)
				if err != nil {
					return err
				}
				if err := jobFitsPool(spec, topo); err != nil {
					return badInput("%s: %v", args[0], err)
				}
			}
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), spec)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid: job %q, %d ranks × %s chips (%s total) in queue %q\n",
				args[0], spec.Name, spec.RankCount(), spec.ChipsPerRank, job.Milli(spec.TotalChipsMilli()), spec.Queue)
			return nil
		},
	}
	out.register(cmd)
	cmd.Flags().StringVar(&poolFile, "pool", "", "also check the job against this pool file")
	return cmd
}

func loadJob(path string) (*job.Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, badInput("job file: %v", err)
	}
	return job.Load(path, data, pool.DefaultCatalog())
}

// jobFitsPool reports why a job could never run on a pool, or nil: the
// scheduler's own check (sched.NeverFits), as the server applies it.
func jobFitsPool(spec *job.Spec, topo *pool.Topology) error {
	if st := sched.NeverFits(topo, sched.FromSpec("", spec, time.Time{})); st != nil {
		return fmt.Errorf("can never run on pool %s: %s: %s", topo.Name, sched.SpecField(st.Reason), st.Detail)
	}
	return nil
}
