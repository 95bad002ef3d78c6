// Package bench holds the benchmark harnesses behind `qun bench`: the
// placement-quality benchmark (Quality: topology-aware placement against
// its lower bound and first fit on churned backgrounds made by FillWith
// from a BackgroundMix), the scheduler benchmark on the 524,288-chip
// SuperCluster (Sched), the API benchmark against an in-process server
// with fake agents (API) and the control-plane benchmark (Control: a real
// `qun server` process and simulated agents on node streams in generator
// processes, Generate; docs/agent.md). They measure and return figures; the CLI parses
// flags and prints them. Formulas, defaults and the measured figures are
// in docs/placement.md and docs/scheduler.md.
//
// Harnesses read the wall clock to time what they measure; nothing they
// call inside the scheduler does.
package bench

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/qunhq/qun/examples"
	"github.com/qunhq/qun/internal/pool"
)

// LoadPool loads a pool file. A path below examples/ that does not exist
// on disk (a binary run outside the checkout) is read from the copy
// embedded in the binary.
func LoadPool(path string) (*pool.Topology, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if rel, ok := strings.CutPrefix(filepath.ToSlash(filepath.Clean(path)), "examples/"); ok {
			if b, e := examples.FS.ReadFile(rel); e == nil {
				data, err = b, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return pool.Load(path, data, pool.DefaultCatalog())
}
