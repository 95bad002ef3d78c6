package server

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/qunhq/qun/api"
)

// Logs are plain files, DATA_DIR/logs/<job>/<attempt>/<rank>.<stream>,
// appended by agents and read by clients; they are not in the state file.

// logPath checks a log's coordinates against the job and returns its file.
func (s *Server) logPath(id string, q logQuery) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return "", errorf(api.CodeNotFound, "no job %q", id)
	}
	attempt := q.attempt
	if attempt < 0 {
		attempt = j.Attempt
	}
	var probs []api.Problem
	if attempt > j.Attempt {
		probs = append(probs, api.Problem{Field: "attempt", Message: fmt.Sprintf("%d is beyond the job's attempt %d", attempt, j.Attempt)})
	}
	if q.rank >= j.spec.RankCount() {
		probs = append(probs, api.Problem{Field: "rank", Message: fmt.Sprintf("%d is out of range (the job has %d ranks)", q.rank, j.spec.RankCount())})
	}
	if len(probs) > 0 {
		return "", &api.Error{Code: api.CodeBadData, Message: "invalid log selector", Problems: probs}
	}
	return filepath.Join(s.logDir, j.ID, strconv.Itoa(attempt), fmt.Sprintf("%d.%s", q.rank, q.stream)), nil
}

// AppendLog appends data to a rank's log.
func (s *Server) AppendLog(id string, q logQuery, r io.Reader) error {
	path, err := s.logPath(id, q)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// OpenLog opens a rank's log; a log not written yet reads as empty.
func (s *Server) OpenLog(id string, q logQuery) (io.ReadCloser, error) {
	path, err := s.logPath(id, q)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return io.NopCloser(&emptyReader{}), nil
	}
	if err == nil && q.offset > 0 {
		if _, err := f.Seek(q.offset, io.SeekStart); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, err
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, io.EOF }

// logQuery selects one log: attempt < 0 means the current one.
type logQuery struct {
	rank, attempt int
	stream        string
	offset        int64 // reads start here; `qun job logs -f` polls with it
}

// parseLogQuery reads rank, attempt and stream from a query string.
func parseLogQuery(get func(string) string, needAttempt bool) (logQuery, error) {
	q := logQuery{attempt: -1, stream: "stdout"}
	var probs []api.Problem
	num := func(name string, dst *int) {
		v := get(name)
		if v == "" {
			if name == "attempt" && needAttempt {
				probs = append(probs, api.Problem{Field: name, Message: "required"})
			}
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			probs = append(probs, api.Problem{Field: name, Message: fmt.Sprintf("%q is not a non-negative integer", v)})
			return
		}
		*dst = n
	}
	num("rank", &q.rank)
	num("attempt", &q.attempt)
	if v := get("offset"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			probs = append(probs, api.Problem{Field: "offset", Message: fmt.Sprintf("%q is not a non-negative byte offset", v)})
		}
		q.offset = n
	}
	switch v := get("stream"); v {
	case "":
	case "stdout", "stderr":
		q.stream = v
	default:
		probs = append(probs, api.Problem{Field: "stream", Message: fmt.Sprintf("%q is not a stream (allowed: stdout, stderr)", v)})
	}
	if len(probs) > 0 {
		return q, &api.Error{Code: api.CodeBadData, Message: "invalid log selector", Problems: probs}
	}
	return q, nil
}
