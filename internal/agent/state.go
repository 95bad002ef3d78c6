package agent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/qunhq/qun/api"
)

// Files of the state directory (see docs/agent.md).
const (
	bootIDFile = "boot-id"
	ranksFile  = "ranks.json"
)

// loadBootID returns the boot ID kept in dir, creating it on first use.
func loadBootID(dir string) (string, error) {
	path := filepath.Join(dir, bootIDFile)
	data, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(data))
		if id != "" {
			return id, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read boot ID: %w", err)
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	if err := writeFileAtomic(path, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("save boot ID: %w", err)
	}
	return id, nil
}

// rankKey names one rank of one attempt of a job.
type rankKey struct {
	JobID   string
	Attempt int
	Rank    int
}

func (k rankKey) String() string { return fmt.Sprintf("%s/%d/%d", k.JobID, k.Attempt, k.Rank) }

func keyOf(a api.Assignment) rankKey { return rankKey{a.JobID, a.Attempt, a.Rank} }

// rankRecord is what ranks.json keeps of one rank, so that a restarted agent
// can find (and adopt or stop) what its previous incarnation started.
type rankRecord struct {
	JobID      string       `json:"job_id"`
	Attempt    int          `json:"attempt"`
	Rank       int          `json:"rank"`
	PID        int          `json:"pid"`         // the shim, leader of the process group
	StartTicks uint64       `json:"start_ticks"` // /proc start time of PID, against pid reuse
	Dir        string       `json:"dir"`         // the rank directory: logs and status file
	Grace      api.Duration `json:"grace"`
	Exited     bool         `json:"exited,omitempty"`
	ExitCode   *int         `json:"exit_code,omitempty"`
	Signal     string       `json:"signal,omitempty"`
	// StartFailed: the agent could not start the rank.
	StartFailed bool     `json:"start_failed,omitempty"`
	Offsets     [2]int64 `json:"log_offsets"` // bytes of stdout, stderr already shipped
}

func (r rankRecord) key() rankKey { return rankKey{r.JobID, r.Attempt, r.Rank} }

// loadRanks reads ranks.json from dir; a missing file is no ranks.
func loadRanks(dir string) ([]rankRecord, error) {
	data, err := os.ReadFile(filepath.Join(dir, ranksFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read rank state: %w", err)
	}
	var rs []rankRecord
	if err := json.Unmarshal(data, &rs); err != nil {
		return nil, fmt.Errorf("rank state %s: %w", filepath.Join(dir, ranksFile), err)
	}
	return rs, nil
}

// saveRanks writes ranks.json atomically.
func saveRanks(dir string, rs []rankRecord) error {
	if rs == nil {
		rs = []rankRecord{}
	}
	data, err := json.MarshalIndent(rs, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, ranksFile), append(data, '\n'))
}
