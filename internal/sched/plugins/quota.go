package plugins

import (
	"fmt"

	"github.com/qunhq/qun/internal/sched"
)

// QuotaName is the admission plugin "quota".
const QuotaName = "quota"

// Quota admits a job when its queue may use its chips on some accepted
// kind: within the queue's guarantee, or borrowing within every borrowing
// limit on its path while enough capacity is lendable (sched.Quotas.Check).
type Quota struct{}

var _ sched.Admit = Quota{}

func newQuota(args map[string]any) (sched.Plugin, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("takes no arguments")
	}
	return Quota{}, nil
}

// Name implements sched.Plugin.
func (Quota) Name() string { return QuotaName }

// Admit implements sched.Admit.
func (Quota) Admit(cs *sched.CycleState, j *sched.Job) *sched.Status {
	if j.RankMilli == 0 || cs.Quotas == nil {
		return nil
	}
	var first *sched.Status
	for _, k := range cs.Kinds(j) {
		s := cs.Quotas.Check(j, k)
		if s == nil {
			return nil
		}
		if first == nil {
			first = s
		}
	}
	return first
}
