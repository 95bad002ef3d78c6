package plugins

import (
	"fmt"

	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/sched"
)

// QuotaName is the plugin "quota", an Admit and a PostPlace plugin.
const QuotaName = sched.PluginQuota

// Quota admits a job when its queue may use its chips on some accepted
// kind: within the queue's guarantee, or borrowing within every borrowing
// limit on its path while enough capacity is lendable (sched.Quotas.Check).
// After placement it checks the kind the job landed on, which may be
// another accepted kind than the one that admitted it.
type Quota struct{}

var (
	_ sched.Admit     = Quota{}
	_ sched.PostPlace = Quota{}
)

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

// PostPlace implements sched.PostPlace: the quota of the kind of p (its
// first kind when a gang mixes kinds). The refusal keeps Check's reason;
// its detail names the kind.
func (Quota) PostPlace(cs *sched.CycleState, j *sched.Job, p *pool.Placement) *sched.Status {
	if j.RankMilli == 0 || cs.Quotas == nil || len(p.Kinds) == 0 {
		return nil
	}
	s := cs.Quotas.Check(j, p.Kinds[0])
	if s == nil {
		return nil
	}
	kind := cs.Snapshot.Pool.Topology().Kinds[p.Kinds[0]].Name
	return &sched.Status{Code: s.Code, Plugin: QuotaName, Reason: s.Reason,
		Detail: fmt.Sprintf("placed on %s: %s", kind, s.Detail)}
}
