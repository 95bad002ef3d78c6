package job

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Cause is why an attempt of a job ended. The restart policy's on list
// names the causes that start a recovery; a fault with any other cause fails
// the job.
type Cause string

// Causes an attempt can end with.
const (
	CauseNodeLost        Cause = "node-lost"        // the node's agent stopped heartbeating, or it was removed
	CauseDeviceUnhealthy Cause = "device-unhealthy" // a chip a rank holds turned unhealthy
	CauseRankFailed      Cause = "rank-failed"      // a rank exited with a non-zero code
	CauseRankSignaled    Cause = "rank-signaled"    // a rank was killed by a signal it was not sent by Qun
	CausePreempted       Cause = "preempted"        // the scheduler evicted the job for another
)

// Causes lists every cause in documentation order.
var Causes = []Cause{CauseNodeLost, CauseDeviceUnhealthy, CauseRankFailed, CauseRankSignaled, CausePreempted}

// Restart policy defaults and limits.
const (
	DefaultMaxRestarts = 3
	DefaultBackoff     = Duration(10 * time.Second)
	// MaxBackoff caps the exponential backoff: attempt n waits
	// backoff × 2^(n-1), at most MaxBackoff.
	MaxBackoff     = Duration(5 * time.Minute)
	MaxMaxRestarts = 1000
)

// DefaultOn is the on list of a policy that gives none.
var DefaultOn = []Cause{CauseNodeLost, CauseDeviceUnhealthy, CauseRankFailed, CausePreempted}

// RestartPolicy says when and how often a job is restarted after a fault.
// The zero value means every default: at most DefaultMaxRestarts restarts,
// DefaultBackoff doubling per restart up to MaxBackoff, on DefaultOn.
// A job without a checkpoint directory restarts from the beginning; one
// with a checkpoint directory gets the same directory in every attempt and
// resumes from what it saved there.
type RestartPolicy struct {
	// MaxRestarts is how many times the job may be restarted after faults
	// (preemptions do not count); nil means DefaultMaxRestarts, 0 never.
	MaxRestarts *int `yaml:"maxRestarts,omitempty" json:"maxRestarts,omitempty"`
	// Backoff is the wait before the first restart; it doubles with every
	// further restart, up to MaxBackoff. 0 means DefaultBackoff.
	Backoff Duration `yaml:"backoff,omitempty" json:"backoff,omitempty"`
	// On lists the causes that restart the job; empty means DefaultOn. A
	// preemption whose cause is not listed fails the job instead of
	// returning it to the queue.
	On []Cause `yaml:"on,omitempty" json:"on,omitempty"`
}

// Max returns the number of restarts allowed after defaults.
func (p RestartPolicy) Max() int {
	if p.MaxRestarts == nil {
		return DefaultMaxRestarts
	}
	return *p.MaxRestarts
}

// Restarts reports whether the policy restarts the job after cause.
func (p RestartPolicy) Restarts(c Cause) bool {
	on := p.On
	if len(on) == 0 {
		on = DefaultOn
	}
	return slices.Contains(on, c)
}

// Delay is the backoff before restart number n (1 for the first).
func (p RestartPolicy) Delay(n int) time.Duration {
	b := time.Duration(p.Backoff)
	if b <= 0 {
		b = time.Duration(DefaultBackoff)
	}
	for i := 1; i < n && b < time.Duration(MaxBackoff); i++ {
		b *= 2
	}
	return min(b, time.Duration(MaxBackoff))
}

// Normalized returns the policy with every default filled in.
func (p RestartPolicy) Normalized() RestartPolicy {
	n := p.Max()
	out := RestartPolicy{MaxRestarts: &n, Backoff: p.Backoff, On: slices.Clone(p.On)}
	if out.Backoff <= 0 {
		out.Backoff = DefaultBackoff
	}
	if len(out.On) == 0 {
		out.On = slices.Clone(DefaultOn)
	}
	return out
}

func causeNames() string {
	s := make([]string, len(Causes))
	for i, c := range Causes {
		s[i] = string(c)
	}
	return strings.Join(s, ", ")
}

func (c *checker) restart(s *Spec) {
	p := s.RestartPolicy
	if p.MaxRestarts != nil && (*p.MaxRestarts < 0 || *p.MaxRestarts > MaxMaxRestarts) {
		c.add("restartPolicy.maxRestarts", "%d is out of range (allowed: 0 to %d; 0 never restarts)", *p.MaxRestarts, MaxMaxRestarts)
	}
	if p.Backoff < 0 {
		c.add("restartPolicy.backoff", "%s is negative (allowed: a positive Go duration such as 10s; it doubles per restart up to %s)", p.Backoff, MaxBackoff)
	}
	seen := map[Cause]bool{}
	for i, cause := range p.On {
		f := fmt.Sprintf("restartPolicy.on[%d]", i)
		switch {
		case !slices.Contains(Causes, cause):
			c.add(f, "%q is not a restart cause (allowed: %s)", cause, causeNames())
		case seen[cause]:
			c.add(f, "%q is listed twice", cause)
		}
		seen[cause] = true
	}
}
