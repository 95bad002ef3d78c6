package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
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
placed on that pool: an accepted chip kind is present and some host can hold
one rank under the pool's shape rules.`,
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

// jobFitsPool reports why a job could never run on a pool, or nil.
func jobFitsPool(spec *job.Spec, topo *pool.Topology) error {
	var kinds []pool.KindID
	for i, k := range topo.Kinds {
		if acceptsKind(spec, k) {
			kinds = append(kinds, pool.KindID(i))
		}
	}
	if len(kinds) == 0 {
		var have []string
		for _, k := range topo.Kinds {
			have = append(have, k.Name)
		}
		return fmt.Errorf("pool %s has no accepted chip kind (it has %v)", topo.Name, have)
	}
	m := job.Milli(spec.RankMilli())
	if !m.IsWhole() {
		return nil
	}
	return topo.RankFits(int(m/job.Whole), kinds)
}

func acceptsKind(spec *job.Spec, k pool.ChipKind) bool {
	if len(spec.Accept.Kinds) > 0 {
		for _, n := range spec.Accept.Kinds {
			if n == k.Name {
				return true
			}
		}
		return false
	}
	return k.HBMGiB >= spec.Accept.MinHBMGiB
}
