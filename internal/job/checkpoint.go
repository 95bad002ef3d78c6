package job

import (
	"encoding/json"
	"fmt"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/qunhq/qun/internal/planner"
	"github.com/qunhq/qun/internal/strictyaml"
)

// CheckpointInterval is how often a job checkpoints: a duration, or
// AutoInterval ("auto" in a spec), which Normalize replaces with the
// optimum for the job's size (AutoCheckpointInterval).
type CheckpointInterval Duration

// AutoInterval is `checkpoint.interval: auto` before Normalize resolves it.
const AutoInterval = CheckpointInterval(-1 << 63)

// Assumptions behind `checkpoint.interval: auto` (docs/faults-sim.md): the
// planner's chip MTBF (Llama 3's rate) and an in-memory checkpoint write.
const (
	AutoChipMTBF         = 50700 * time.Hour
	AutoCheckpointWrite  = 2 * time.Second
	autoIntervalRounding = time.Second
)

// AutoCheckpointInterval is Daly's optimal checkpoint interval for a job of
// chips chips: MTBF = AutoChipMTBF / chips, write cost AutoCheckpointWrite.
func AutoCheckpointInterval(chips int) time.Duration {
	if chips <= 0 {
		return 0
	}
	m := AutoChipMTBF.Seconds() / float64(chips)
	tau := planner.DalyInterval(AutoCheckpointWrite.Seconds(), m)
	return time.Duration(tau * float64(time.Second)).Round(autoIntervalRounding)
}

func (c CheckpointInterval) String() string {
	if c == AutoInterval {
		return "auto"
	}
	return Duration(c).String()
}

// UnmarshalYAML accepts "auto" or a duration string.
func (c *CheckpointInterval) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && n.Value == "auto" {
		*c = AutoInterval
		return nil
	}
	var d Duration
	if err := d.UnmarshalYAML(n); err != nil {
		if n.Kind != yaml.ScalarNode {
			return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: cannot unmarshal %s as auto or %s", n.Line, strictyaml.Describe(n), durationHint)}}
		}
		return err
	}
	*c = CheckpointInterval(d)
	return nil
}

// MarshalYAML writes auto or a duration string.
func (c CheckpointInterval) MarshalYAML() (any, error) { return c.String(), nil }

// UnmarshalJSON accepts "auto" or a duration string.
func (c *CheckpointInterval) UnmarshalJSON(b []byte) error {
	if string(b) == `"auto"` {
		*c = AutoInterval
		return nil
	}
	var d Duration
	if err := d.UnmarshalJSON(b); err != nil {
		return err
	}
	*c = CheckpointInterval(d)
	return nil
}

// MarshalJSON writes auto or a duration string.
func (c CheckpointInterval) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }
