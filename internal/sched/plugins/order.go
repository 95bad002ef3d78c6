package plugins

import (
	"fmt"

	"github.com/qunhq/qun/internal/sched"
)

// OrderName is the queue sort plugin "priority-fairshare".
const OrderName = "priority-fairshare"

// Order sorts by priority class (higher first), then jobs holding a
// reservation (oldest first), then hierarchical weighted fair share (lower
// share first), then submission time.
type Order struct{}

var _ sched.QueueSort = Order{}

func newOrder(args map[string]any) (sched.Plugin, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	return Order{}, nil
}

// Name implements sched.Plugin.
func (Order) Name() string { return OrderName }

// Less implements sched.QueueSort.
func (Order) Less(cs *sched.CycleState, a, b *sched.Job) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	ra, rb := !a.Reserved.IsZero(), !b.Reserved.IsZero()
	if ra != rb {
		return ra
	}
	if ra && !a.Reserved.Equal(b.Reserved) {
		return a.Reserved.Before(b.Reserved)
	}
	if cs.Quotas != nil && a.Queue != b.Queue {
		if c := cs.Quotas.CompareShares(a.Queue, b.Queue); c != 0 {
			return c < 0
		}
	}
	return a.Submitted.Before(b.Submitted)
}
