package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/bench"
)

// benchCompareAuth runs `qun bench api --compare-auth R`.
func benchCompareAuth(cmd *cobra.Command, out output, n, clients, runs int, beat time.Duration, rounds int) error {
	c, err := bench.APICompareAuth(cmd.Context(), n, clients, runs, beat, rounds)
	if err != nil {
		return err
	}
	if out.json() {
		return writeJSON(cmd.OutOrStdout(), c)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "%d rounds each, interleaved; medians:\n", c.Rounds)
	fmt.Fprintf(w, "submissions/s:            auth off %.0f, on %.0f (on/off %.3f)\n", c.OffSubmissionsPerSec, c.OnSubmissionsPerSec, c.SubmissionsRatio)
	fmt.Fprintf(w, "32-rank gang → running:   auth off %.1f ms, on %.1f ms (on/off %.3f)\n", c.OffGang32Ms, c.OnGang32Ms, c.Gang32Ratio)
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
