// Package plugins holds the scheduler's built-in plugins and the registry
// that names them. Other packages add their plugins with one line each in
// Default.
package plugins

import (
	"slices"

	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sched/score"
)

// Default returns a registry of every plugin the qun binary ships.
func Default() sched.Registry {
	r := sched.Registry{}
	r.Register(OrderName, newOrder)
	r.Register(QuotaName, newQuota)
	r.Register(FitsName, newFits)
	r.Register(HostScoreName, newHostScore)
	r.Register(FirstFitName, newFirstFit)
	r.Register(place.Name, newTopology)
	score.Register(r)
	return r
}

// DefaultProfile returns sched.DefaultProfileYAML built with Default. It
// panics if that fails, which is a bug caught by the package's tests.
func DefaultProfile() *sched.Profile {
	p, err := sched.LoadProfile("default-profile.yaml", []byte(sched.DefaultProfileYAML), Default())
	if err != nil {
		panic("plugins: default profile: " + err.Error())
	}
	return p
}

// Reasons returns every reason constant this package's plugins give,
// sorted; the cycle's own are sched.Reasons.
func Reasons() []string {
	out := []string{ReasonMaxRanks, ReasonInsufficientCPU, ReasonInsufficientMemory, ReasonInsufficientChips,
		ReasonNoHost, ReasonShortfall, ReasonAllocate}
	slices.Sort(out)
	return out
}
