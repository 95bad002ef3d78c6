package place

import (
	"fmt"
	"sort"
)

// Records summarises the decision as explanation records: the outcome, the
// kind choice, and how many candidates lost for each reason.
func (d *Decision) Records() []Record {
	var out []Record
	if d.Placed {
		out = append(out, Record{Reason: ReasonPlaced, Score: d.Score,
			Detail: fmt.Sprintf("%s in %s %s: step communication %s, %.2f× its lower bound %s; fragmentation %.2f",
				d.Kind, d.Level, d.Domain, dur(d.Step.Seconds), d.Ratio, dur(d.LowerBound.Seconds), d.Fragmentation)})
	} else if d.Status != nil {
		out = append(out, Record{Reason: d.Status.Reason, Detail: d.Status.Detail})
	}
	for _, k := range d.Kinds {
		if k.Chosen || len(d.Kinds) == 1 {
			continue
		}
		out = append(out, Record{Reason: k.Reason, Detail: k.Kind + ": " + k.Detail})
	}
	counts := map[string]int{}
	for _, c := range d.Candidates {
		if c.Reason != ReasonChosen {
			counts[c.Reason]++
		}
	}
	for r, n := range d.Skipped {
		counts[r] += n
	}
	reasons := make([]string, 0, len(counts))
	for r := range counts {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		out = append(out, Record{Reason: r, Count: counts[r]})
	}
	return out
}
