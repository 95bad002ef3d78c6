package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/pool"
)

func newPoolCmd() *cobra.Command {
	c := &cobra.Command{Use: "pool", Short: "Inspect accelerator pool files"}
	var out output
	show := &cobra.Command{
		Use:   "show FILE",
		Short: "Show a pool's tree with totals per level and chip kind",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := out.check(); err != nil {
				return err
			}
			t, err := loadPool(args[0])
			if err != nil {
				return err
			}
			s := t.Summarize()
			if out.json() {
				return writeJSON(cmd.OutOrStdout(), s)
			}
			return renderPool(cmd.OutOrStdout(), s)
		},
	}
	out.register(show)
	c.AddCommand(show)
	return c
}

// loadPool reads a pool file; a missing or unreadable file is bad input.
func loadPool(path string) (*pool.Topology, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, badInput("pool file: %v", err)
	}
	return pool.Load(path, data, pool.DefaultCatalog())
}

func renderPool(w io.Writer, s pool.Summary) error {
	fmt.Fprintf(w, "Pool %s", s.Name)
	if s.Description != "" {
		fmt.Fprintf(w, " — %s", s.Description)
	}
	fmt.Fprintf(w, "\n%d chips on %d hosts: %.1f PFLOPS BF16, %.1f PFLOPS FP8, %.1f TiB HBM, %.1f kW of chips; %d CPUs, %.1f TiB host memory\n\n",
		s.Chips, s.Hosts, s.PFLOPSBF16, s.PFLOPSFP8, s.HBMTiB, s.PowerKW, s.CPUMilli/1000, float64(s.MemoryMiB)/(1<<20))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "LEVEL\tDOMAINS\tCHIPS/DOMAIN\tGB/s/CHIP\tLATENCY µs\tCHIPS\tPFLOPS BF16\tPFLOPS FP8\tHBM TiB\tPOWER kW\t")
	for _, l := range s.Levels {
		name := l.Level
		if l.Host {
			name += " (host)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%g\t%g\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t\n", name, l.Domains, l.ChipsPerDomain,
			l.BandwidthGBps, l.LatencyUs, l.Chips, l.PFLOPSBF16, l.PFLOPSFP8, l.HBMTiB, l.PowerKW)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "KIND\tVENDOR\tCHIPS\tPFLOPS BF16\tPFLOPS FP8\tHBM TiB\tPOWER kW\tCOLLECTIVE\tESTIMATED\t")
	for _, k := range s.Kinds {
		est := strings.Join(k.Kind.Estimated, ",")
		if est == "" {
			est = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t%s\t\n", k.Kind.Name, k.Kind.Vendor, k.Chips,
			k.PFLOPSBF16, k.PFLOPSFP8, k.HBMTiB, k.PowerKW, k.Kind.Collective, est)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	for _, l := range s.Tree {
		count := ""
		if l.Count > 1 {
			count = fmt.Sprintf(" ×%d", l.Count)
		}
		fmt.Fprintf(w, "%s%s %s%s: %s\n", strings.Repeat("  ", l.Depth), l.Level, l.Name, count, l.Kinds)
	}
	return nil
}
