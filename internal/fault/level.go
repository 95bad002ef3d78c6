package fault

import (
	"fmt"
	"strings"
)

// Level is what Qun does about a fault, from least to most severe. Levels
// are ordered: a device with several faults is at the most severe one.
type Level int

// The levels Qun acts on.
const (
	// Ignore records the fault and does nothing else.
	Ignore Level = iota
	// RestartJob restarts the job whose rank uses the chip, in place: same
	// chips, next attempt. The chip itself stays in service.
	RestartJob
	// DrainDevice leaves the running work alone but places no new work on
	// the chip until the fault is gone.
	DrainDevice
	// ResetDevice takes the chip out of service until the fault is gone (a
	// reset clears it): its ranks stop and the job recovers elsewhere.
	ResetDevice
	// IsolateDevice takes the chip out of service until an operator
	// returns it: its ranks stop and the job recovers elsewhere.
	IsolateDevice
	// IsolateNode takes the whole node out of service: every rank on it
	// stops and its jobs recover on other nodes.
	IsolateNode
)

var levelNames = [...]string{"ignore", "restart-job", "drain-device", "reset-device", "isolate-device", "isolate-node"}

var levelActions = [...]string{
	"record only",
	"restart the job in place (same chips, next attempt)",
	"no new work on the chip; running work stays",
	"chip out of service until the fault clears; its ranks recover elsewhere",
	"chip out of service until an operator returns it; its ranks recover elsewhere",
	"node out of service; every rank on it recovers elsewhere",
}

// Levels returns every level, least severe first.
func Levels() []Level {
	return []Level{Ignore, RestartJob, DrainDevice, ResetDevice, IsolateDevice, IsolateNode}
}

// String returns the level's name as fault files write it ("reset-device").
func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return fmt.Sprintf("level(%d)", int(l))
	}
	return levelNames[l]
}

// Action says in words what Qun does at this level.
func (l Level) Action() string {
	if l < 0 || int(l) >= len(levelActions) {
		return "unknown"
	}
	return levelActions[l]
}

// Healthy reports whether a chip at this level may receive new work:
// ignore and restart-job leave the chip in service.
func (l Level) Healthy() bool { return l <= RestartJob }

// ParseLevel reads a level name.
func ParseLevel(s string) (Level, error) {
	for i, n := range levelNames {
		if s == n {
			return Level(i), nil
		}
	}
	return 0, fmt.Errorf("level %q: want one of %s", s, strings.Join(levelNames[:], ", "))
}
