package server

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/qunhq/qun/internal/sched"
)

// usageRecord is the server record holding fair-share history.
const usageRecord = "fairshare-usage"

// usageSaveEvery bounds how stale the stored fair-share history may get
// while nothing else is written: it is saved with every commit that writes
// jobs or nodes, and on its own at most this often.
const usageSaveEvery = time.Minute

// storedUsage is the stored form of the decayed usage.
type storedUsage struct {
	At    time.Time          `json:"at"`
	Usage map[string]float64 `json:"usage_chip_seconds"`
}

// fairShare is the decayed historical usage per queue that the profile's
// fair share reads (sched.Snapshot.Usage), kept across restarts.
type fairShare struct {
	usage   map[string]float64
	at      time.Time // usage is counted up to here
	savedAt time.Time // last written to the state file
	dirty   bool
}

// advanceUsage decays the history to now, counting running for the time
// since it was last advanced. Callers hold mu.
func (s *Server) advanceUsage(now time.Time, running []*sched.Job) {
	hl := s.cfg.Profile.FairShare.HalfLife
	if hl <= 0 {
		return
	}
	fs := &s.fair
	if fs.at.IsZero() || now.Before(fs.at) {
		fs.at = now
		return
	}
	fs.usage = sched.DecayUsage(fs.usage, running, fs.at, now, hl)
	fs.at = now
	fs.dirty = true
}

// usageWrites returns the fair-share record to write with the next commit,
// or nil when it need not be written yet. Callers hold mu.
func (s *Server) usageWrites(withOthers bool, now time.Time) (map[string][]byte, error) {
	fs := &s.fair
	if !fs.dirty || !withOthers && now.Sub(fs.savedAt) < usageSaveEvery {
		return nil, nil
	}
	data, err := json.Marshal(storedUsage{At: fs.at, Usage: fs.usage})
	if err != nil {
		return nil, fmt.Errorf("encode fair-share usage: %w", err)
	}
	return map[string][]byte{usageRecord: data}, nil
}

// recoverUsage loads the stored fair-share history. A record that does not
// decode is logged and dropped: history only tilts fair share, and losing
// it must not keep the server down.
func (s *Server) recoverUsage() error {
	data, err := s.store.ServerRecord(usageRecord)
	if err != nil || data == nil {
		return err
	}
	var u storedUsage
	if err := json.Unmarshal(data, &u); err != nil {
		s.log.Warn("stored fair-share usage is unreadable; starting without history", "err", err)
		return nil
	}
	s.fair = fairShare{usage: u.Usage, at: u.At, savedAt: s.clock.Now()}
	return nil
}

// usageCopy returns the history for a snapshot. Callers hold mu.
func (s *Server) usageCopy() map[string]float64 {
	if s.fair.usage == nil {
		return nil
	}
	return maps.Clone(s.fair.usage)
}
