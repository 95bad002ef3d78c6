package trace

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/qunhq/qun/internal/pool"
)

// OpenB pod phases and QoS classes are kept as they are; only the columns
// below are interpreted.
var (
	nodeColumns = []string{"sn", "cpu_milli", "memory_mib", "gpu", "model"}
	podColumns  = []string{"name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"}
)

// ReadOpenBNodesFile reads an openb node list (for example
// openb_node_list_gpu_node.csv).
func ReadOpenBNodesFile(path string) ([]Node, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read node list: %w", err)
	}
	defer f.Close()
	return ReadOpenBNodes(filepath.Base(path), f)
}

// ReadOpenBPodsFile reads an openb pod list (for example
// openb_pod_list_default.csv).
func ReadOpenBPodsFile(path string) ([]Job, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read pod list: %w", err)
	}
	defer f.Close()
	return ReadOpenBPods(filepath.Base(path), f)
}

// table reads a CSV file with a header, mapping column names to indexes and
// reporting every problem with its line and column.
type table struct {
	file string
	r    *csv.Reader
	cols map[string]int
	rec  []string
	line int
}

func newTable(file string, r io.Reader, required []string) (*table, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	t := &table{file: file, r: cr, cols: map[string]int{}}
	head, err := cr.Read()
	if err == io.EOF {
		return nil, &Error{File: file, Line: 1, Msg: "empty file; a header line is required (" + strings.Join(required, ",") + ")"}
	}
	if err != nil {
		return nil, t.csvErr(err)
	}
	for i, h := range head {
		h = strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))
		if _, dup := t.cols[h]; dup {
			line, col := cr.FieldPos(i)
			return nil, &Error{File: file, Line: line, Column: col, Msg: fmt.Sprintf("column %q appears twice", h)}
		}
		t.cols[h] = i
	}
	for _, c := range required {
		if _, ok := t.cols[c]; !ok {
			return nil, &Error{File: file, Line: 1, Msg: fmt.Sprintf("missing column %q (required: %s)", c, strings.Join(required, ", "))}
		}
	}
	return t, nil
}

func (t *table) csvErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Error{File: t.file, Line: pe.Line, Column: pe.Column, Msg: pe.Err.Error()}
	}
	return fmt.Errorf("%s: %w", t.file, err)
}

// next reads a record; false at the end.
func (t *table) next() (bool, error) {
	rec, err := t.r.Read()
	if err == io.EOF {
		return false, nil
	}
	if err != nil {
		return false, t.csvErr(err)
	}
	t.rec = rec
	t.line, _ = t.r.FieldPos(0)
	return true, nil
}

func (t *table) errAt(col, format string, args ...any) error {
	i, ok := t.cols[col]
	if !ok || i >= len(t.rec) {
		return &Error{File: t.file, Line: t.line, Field: col, Msg: fmt.Sprintf(format, args...)}
	}
	line, c := t.r.FieldPos(i)
	return &Error{File: t.file, Line: line, Column: c, Field: col, Msg: fmt.Sprintf(format, args...)}
}

// str returns a column's value; "" when the row is short or the column is
// absent.
func (t *table) str(col string) string {
	i, ok := t.cols[col]
	if !ok || i >= len(t.rec) {
		return ""
	}
	return strings.TrimSpace(t.rec[i])
}

// int reads an integer column. Empty optional columns give def; floats with
// an integral value ("12.0", as pandas writes them) are accepted.
func (t *table) int(col string, required bool, def int64) (int64, error) {
	s := t.str(col)
	if s == "" {
		if required {
			if i := t.cols[col]; i >= len(t.rec) {
				return 0, &Error{File: t.file, Line: t.line, Msg: fmt.Sprintf("%d fields, but the header names %d (missing %q)", len(t.rec), len(t.cols), col)}
			}
			return 0, t.errAt(col, "a value is required")
		}
		return def, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err == nil {
		return v, nil
	}
	f, ferr := strconv.ParseFloat(s, 64)
	if ferr == nil && f == float64(int64(f)) && f >= -maxQuantity && f <= maxQuantity {
		return int64(f), nil
	}
	return 0, t.errAt(col, "%q is not an integer", s)
}

// ReadOpenBNodes reads an openb node list from r; file names it in errors.
func ReadOpenBNodes(file string, r io.Reader) ([]Node, error) {
	t, err := newTable(file, r, nodeColumns)
	if err != nil {
		return nil, err
	}
	var out []Node
	seen := map[string]int{}
	for {
		ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		n := Node{Name: t.str("sn"), Model: t.str("model")}
		if n.Name == "" {
			return nil, t.errAt("sn", "a node name is required")
		}
		if prev, dup := seen[n.Name]; dup {
			return nil, t.errAt("sn", "node %q is listed twice (first on line %d)", n.Name, prev)
		}
		seen[n.Name] = t.line
		if n.CPUMilli, err = t.int("cpu_milli", true, 0); err != nil {
			return nil, err
		}
		if n.MemoryMiB, err = t.int("memory_mib", true, 0); err != nil {
			return nil, err
		}
		g, err := t.int("gpu", true, 0)
		if err != nil {
			return nil, err
		}
		switch {
		case n.CPUMilli < 0 || n.CPUMilli > maxQuantity:
			return nil, t.errAt("cpu_milli", "%d is out of range (0 to %d)", n.CPUMilli, int64(maxQuantity))
		case n.MemoryMiB < 0 || n.MemoryMiB > maxQuantity:
			return nil, t.errAt("memory_mib", "%d is out of range (0 to %d)", n.MemoryMiB, int64(maxQuantity))
		case g < 0 || g > MaxGPUsPerNode:
			return nil, t.errAt("gpu", "%d is out of range (0 to %d)", g, MaxGPUsPerNode)
		case g > 0 && n.Model == "":
			return nil, t.errAt("model", "a node with %d GPUs needs a GPU model", g)
		case n.Model != "" && !pool.ValidName(n.Model):
			return nil, t.errAt("model", "%q is not a valid model name (letters, digits, '-', '_', '.')", n.Model)
		}
		if g == 0 {
			n.Model = ""
		}
		n.GPUs = int(g)
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, &Error{File: file, Line: 2, Msg: "no nodes"}
	}
	return out, nil
}

// ReadOpenBPods reads an openb pod list from r; file names it in errors.
// Whole-GPU pods list gpu_milli 1000; a gpu_milli above 1000 is read as
// 1000, as the trace's authors do.
func ReadOpenBPods(file string, r io.Reader) ([]Job, error) {
	t, err := newTable(file, r, podColumns)
	if err != nil {
		return nil, err
	}
	var out []Job
	for {
		ok, err := t.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		j := Job{Name: t.str("name"), Tenant: t.str("qos")}
		if j.Name == "" {
			return nil, t.errAt("name", "a pod name is required")
		}
		if j.CPUMilli, err = t.int("cpu_milli", true, 0); err != nil {
			return nil, err
		}
		if j.MemoryMiB, err = t.int("memory_mib", true, 0); err != nil {
			return nil, err
		}
		g, err := t.int("num_gpu", true, 0)
		if err != nil {
			return nil, err
		}
		m, err := t.int("gpu_milli", false, 0)
		if err != nil {
			return nil, err
		}
		if g < 0 || g > MaxGPUsPerJob {
			return nil, t.errAt("num_gpu", "%d is out of range (0 to %d)", g, MaxGPUsPerJob)
		}
		if m < 0 || m > maxQuantity {
			return nil, t.errAt("gpu_milli", "%d is out of range (0 to 1000)", m)
		}
		j.GPUs = int(g)
		switch {
		case g == 0:
			m = 0
		case m == 0:
			return nil, t.errAt("gpu_milli", "0: a pod with %d GPUs needs a share (1 to 1000)", g)
		case m > 1000:
			m = 1000
		}
		j.GPUMilli = int(m)
		if g > 1 && m != 1000 {
			return nil, t.errAt("gpu_milli", "%d: a pod of %d GPUs takes them whole (1000)", m, g)
		}
		for _, s := range strings.Split(t.str("gpu_spec"), "|") {
			if s = strings.TrimSpace(s); s != "" {
				if !pool.ValidName(s) {
					return nil, t.errAt("gpu_spec", "%q is not a valid model name", s)
				}
				j.Models = append(j.Models, s)
			}
		}
		created, err := t.int("creation_time", false, 0)
		if err != nil {
			return nil, err
		}
		deleted, err := t.int("deletion_time", false, -1)
		if err != nil {
			return nil, err
		}
		j.Submit = created
		if deleted >= 0 {
			if deleted < created {
				return nil, t.errAt("deletion_time", "%d is before creation_time %d", deleted, created)
			}
			j.Duration = deleted - created
		}
		if field, msg := validJob(&j); field != "" {
			col := map[string]string{"gpus": "num_gpu", "submit": "creation_time", "duration": "deletion_time"}[field]
			if col == "" {
				col = field
			}
			return nil, t.errAt(col, "%s", msg)
		}
		out = append(out, j)
	}
	return out, nil
}
