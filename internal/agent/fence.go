package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/qunhq/qun/internal/atomicfile"
)

// epochFile keeps the newest fencing epoch the agent has seen, in its
// state directory, so a restarted agent still refuses a deposed leader.
const epochFile = "epoch"

// EpochFence is an agent's side of fencing: every heartbeat answer carries
// the epoch of the server that gave it (an HA leader's term, increasing
// with each new leader), and an answer with an older epoch than the newest
// seen is refused, so a deposed leader that has not yet noticed it lost
// its lease can start or stop nothing. Epoch 0 (a single server) is
// always admitted. The zero value admits everything until it has seen an
// epoch; it is safe for concurrent use.
type EpochFence struct {
	mu     sync.Mutex
	newest int64
	path   string // where the newest epoch is kept; "" keeps it in memory
}

// LoadEpochFence returns a fence that keeps its newest epoch in dir.
func LoadEpochFence(dir string) (*EpochFence, error) {
	f := &EpochFence{path: filepath.Join(dir, epochFile)}
	data, err := os.ReadFile(f.path)
	switch {
	case os.IsNotExist(err):
		return f, nil
	case err != nil:
		return nil, fmt.Errorf("fencing epoch: %w", err)
	}
	if f.newest, err = strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err != nil || f.newest < 0 {
		return nil, fmt.Errorf("fencing epoch file %s: %q is not a non-negative number", f.path, data)
	}
	return f, nil
}

// Admit records epoch and returns nil, or an error when it is older than
// the newest epoch seen (the answer must then be ignored).
func (f *EpochFence) Admit(epoch int64) error {
	if epoch == 0 {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if epoch < f.newest {
		return fmt.Errorf("answer of epoch %d, older than epoch %d: it comes from a deposed leader", epoch, f.newest)
	}
	if epoch > f.newest {
		f.newest = epoch
		if f.path != "" {
			// Best effort, as before: a lost write only forgets the
			// newest epoch across an agent restart.
			_ = atomicfile.Write(f.path, []byte(strconv.FormatInt(epoch, 10)+"\n"), 0o644)
		}
	}
	return nil
}

// Newest returns the newest epoch admitted.
func (f *EpochFence) Newest() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.newest
}
