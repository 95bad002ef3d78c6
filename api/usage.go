package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// UsageReport is the answer of GET /v1/usage: chip-hours per queue and chip
// kind over [Since, Until), like Slurm's sreport. A job's chips count from
// its placement to the release of its allocation, per attempt.
type UsageReport struct {
	Since          time.Time  `json:"since"`
	Until          time.Time  `json:"until"`
	Rows           []UsageRow `json:"rows"`
	TotalChipHours float64    `json:"total_chip_hours"`
}

// UsageRow is one queue's use of one chip kind.
type UsageRow struct {
	Queue     string  `json:"queue"`
	Kind      string  `json:"kind"`
	ChipHours float64 `json:"chip_hours"`
	Jobs      int     `json:"jobs"` // jobs that held chips of the kind in the period
}

// UsageOptions selects the period and, optionally, one queue. Zero times
// take the server's defaults: Until now, Since 24 hours before Until.
type UsageOptions struct {
	Since, Until time.Time
	Queue        string
}

// Usage returns the chip-hours per queue and kind of a period.
func (c *Client) Usage(ctx context.Context, o UsageOptions) (*UsageReport, error) {
	q := url.Values{}
	if !o.Since.IsZero() {
		q.Set("since", o.Since.Format(time.RFC3339Nano))
	}
	if !o.Until.IsZero() {
		q.Set("until", o.Until.Format(time.RFC3339Nano))
	}
	if o.Queue != "" {
		q.Set("queue", o.Queue)
	}
	var r UsageReport
	return &r, c.do(ctx, http.MethodGet, "/v1/usage?"+q.Encode(), "", nil, &r)
}
