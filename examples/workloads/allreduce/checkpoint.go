package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// keepCheckpoints is how many checkpoints each rank keeps; older ones are
// removed after a newer one is written.
const keepCheckpoints = 3

// checkpoint is the on-disk state of one rank after Step steps. All ranks
// hold the same weights (the all-reduce leaves identical sums everywhere);
// each writes its own file so that node-local directories work too.
type checkpoint struct {
	Step     int       `json:"step"`
	Weights  []float64 `json:"weights"` // features weights, then the bias
	Seed     uint64    `json:"seed"`
	Samples  int       `json:"samples"`
	Features int       `json:"features"`
	Rank     int       `json:"rank"`
}

func rankDir(dir string, rank int) string {
	return filepath.Join(dir, fmt.Sprintf("rank-%d", rank))
}

func checkpointPath(dir string, rank, step int) string {
	return filepath.Join(rankDir(dir, rank), fmt.Sprintf("ckpt-%d.json", step))
}

// writeJSONAtomic writes v to path so that path holds either its old content
// or all of the new: temp file in the same directory, fsync, rename, fsync
// of the directory.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// saveCheckpoint writes c for its rank and prunes old checkpoints.
func saveCheckpoint(dir string, c checkpoint) error {
	if err := writeJSONAtomic(checkpointPath(dir, c.Rank, c.Step), c); err != nil {
		return fmt.Errorf("write checkpoint step %d: %w", c.Step, err)
	}
	steps, err := checkpointSteps(dir, c.Rank)
	if err != nil {
		return err
	}
	for len(steps) > keepCheckpoints {
		if err := os.Remove(checkpointPath(dir, c.Rank, steps[0])); err != nil {
			return fmt.Errorf("prune checkpoint: %w", err)
		}
		steps = steps[1:]
	}
	return nil
}

// checkpointSteps lists the steps rank has checkpoint files for, ascending.
// Temp files of interrupted writes are ignored.
func checkpointSteps(dir string, rank int) ([]int, error) {
	entries, err := os.ReadDir(rankDir(dir, rank))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	var steps []int
	for _, e := range entries {
		name := e.Name()
		num, ok := strings.CutPrefix(name, "ckpt-")
		if !ok {
			continue
		}
		num, ok = strings.CutSuffix(num, ".json")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 0 || strconv.Itoa(n) != num {
			continue
		}
		steps = append(steps, n)
	}
	slices.Sort(steps)
	return steps, nil
}

// usableCheckpoints returns the steps of rank's checkpoints that load and
// belong to this problem (same seed, samples, features). A checkpoint of
// another problem is an error: the directory belongs to another run.
func usableCheckpoints(dir string, rank int, want checkpoint, warn func(msg string, args ...any)) ([]int, error) {
	steps, err := checkpointSteps(dir, rank)
	if err != nil {
		return nil, err
	}
	var ok []int
	for _, s := range steps {
		c, err := loadCheckpoint(dir, rank, s)
		if err != nil {
			warn("ignoring unreadable checkpoint", "step", s, "err", err)
			continue
		}
		if c.Seed != want.Seed || c.Samples != want.Samples || c.Features != want.Features {
			return nil, fmt.Errorf("checkpoint %s is for seed=%d samples=%d features=%d, this run has seed=%d samples=%d features=%d: use another --checkpoint-dir",
				checkpointPath(dir, rank, s), c.Seed, c.Samples, c.Features, want.Seed, want.Samples, want.Features)
		}
		ok = append(ok, s)
	}
	return ok, nil
}

func loadCheckpoint(dir string, rank, step int) (checkpoint, error) {
	b, err := os.ReadFile(checkpointPath(dir, rank, step))
	if err != nil {
		return checkpoint{}, err
	}
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return checkpoint{}, err
	}
	if c.Step != step || c.Rank != rank || len(c.Weights) != c.Features+1 {
		return checkpoint{}, fmt.Errorf("inconsistent checkpoint: step %d rank %d with %d weights for %d features", c.Step, c.Rank, len(c.Weights), c.Features)
	}
	return c, nil
}

// latestCommon returns the largest step present in every list, or 0.
func latestCommon(lists [][]int) int {
	if len(lists) == 0 {
		return 0
	}
	count := map[int]int{}
	for _, l := range lists {
		for _, s := range slices.Compact(slices.Sorted(slices.Values(l))) {
			count[s]++
		}
	}
	best := 0
	for s, n := range count {
		if n == len(lists) && s > best {
			best = s
		}
	}
	return best
}
