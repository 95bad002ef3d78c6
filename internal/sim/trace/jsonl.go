package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/qunhq/qun/internal/pool"
)

// jsonJob is one line of a generic trace as written.
type jsonJob struct {
	Name      string   `json:"name"`
	Tenant    string   `json:"tenant"`
	Submit    *int64   `json:"submit"`
	Duration  int64    `json:"duration"`
	CPUMilli  int64    `json:"cpu_milli"`
	MemoryMiB int64    `json:"memory_mib"`
	GPUs      int      `json:"gpus"`
	GPUMilli  int      `json:"gpu_milli"`
	Models    []string `json:"gpu_models"`
}

// MaxLineBytes caps one line of a JSONL trace.
const MaxLineBytes = 1 << 20

// ReadJobsFile reads a generic JSONL job trace.
func ReadJobsFile(path string) ([]Job, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read job trace: %w", err)
	}
	defer f.Close()
	return ReadJobs(filepath.Base(path), f)
}

// ReadJobs reads a generic JSONL job trace from r: one JSON object per line,
// blank lines and lines starting with '#' ignored. Unknown fields are
// errors. gpu_milli defaults to 1000 when gpus > 0 and it is omitted; jobs
// are returned in file order (the simulator orders them by submit time,
// stably).
func ReadJobs(file string, r io.Reader) ([]Job, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), MaxLineBytes)
	var out []Job
	names := map[string]int{}
	line := 0
	for sc.Scan() {
		line++
		raw := sc.Bytes()
		trimmed := bytes.TrimSpace(raw)
		if len(trimmed) == 0 || trimmed[0] == '#' {
			continue
		}
		lead := len(raw) - len(bytes.TrimLeft(raw, " \t"))
		var jj jsonJob
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&jj); err != nil {
			return nil, jsonErr(file, line, raw, lead, err)
		}
		if dec.More() {
			off := int(dec.InputOffset())
			return nil, &Error{File: file, Line: line, Column: off + 1 + skipSpace(raw[off:]), Msg: "one JSON object per line; found more after it"}
		}
		j := Job{Name: jj.Name, Tenant: jj.Tenant, Duration: jj.Duration, CPUMilli: jj.CPUMilli, MemoryMiB: jj.MemoryMiB,
			GPUs: jj.GPUs, GPUMilli: jj.GPUMilli, Models: jj.Models}
		at := func(field, format string, args ...any) error {
			return &Error{File: file, Line: line, Column: keyColumn(raw, field), Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		if j.Name == "" {
			return nil, &Error{File: file, Line: line, Column: lead + 1, Field: "name", Msg: "a job name is required"}
		}
		if prev, dup := names[j.Name]; dup {
			return nil, at("name", "job %q is listed twice (first on line %d)", j.Name, prev)
		}
		names[j.Name] = line
		if jj.Submit == nil {
			return nil, &Error{File: file, Line: line, Column: lead + 1, Field: "submit", Msg: "a submit time (seconds from the trace start) is required"}
		}
		j.Submit = *jj.Submit
		if j.GPUs > 0 && j.GPUMilli == 0 {
			j.GPUMilli = 1000
		}
		if j.GPUs == 0 && j.GPUMilli != 0 {
			return nil, at("gpu_milli", "%d given for a job of 0 GPUs", j.GPUMilli)
		}
		if field, msg := validJob(&j); field != "" {
			return nil, at(field, "%s", msg)
		}
		for _, m := range j.Models {
			if !pool.ValidName(m) {
				return nil, at("gpu_models", "%q is not a valid model name", m)
			}
		}
		if j.Tenant == "" {
			j.Tenant = "default"
		}
		out = append(out, j)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &Error{File: file, Line: line + 1, Msg: fmt.Sprintf("line longer than %d bytes", MaxLineBytes)}
		}
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

func skipSpace(b []byte) int { return len(b) - len(bytes.TrimLeft(b, " \t\r")) }

// jsonErr turns a decoding error into a located one.
func jsonErr(file string, line int, raw []byte, lead int, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return &Error{File: file, Line: line, Column: max(1, int(se.Offset)), Msg: se.Error()}
	case errors.As(err, &te):
		col := keyColumn(raw, te.Field)
		if col == 0 {
			col = max(1, int(te.Offset))
		}
		return &Error{File: file, Line: line, Column: col, Field: te.Field,
			Msg: fmt.Sprintf("a %s value cannot hold this (want %s)", te.Value, te.Type)}
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return &Error{File: file, Line: line, Column: len(raw) + 1, Msg: "unexpected end of line inside a JSON value"}
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		name := strings.Trim(f, `"`)
		return &Error{File: file, Line: line, Column: keyColumn(raw, name), Field: name,
			Msg: "unknown field (known: name, tenant, submit, duration, cpu_milli, memory_mib, gpus, gpu_milli, gpu_models)"}
	}
	return &Error{File: file, Line: line, Column: lead + 1, Msg: msg}
}

// keyColumn returns the 1-based column of a key in a JSON line, 0 if absent.
func keyColumn(raw []byte, key string) int {
	if key == "" {
		return 0
	}
	if i := bytes.Index(raw, []byte(`"`+key+`"`)); i >= 0 {
		return i + 1
	}
	return 0
}
