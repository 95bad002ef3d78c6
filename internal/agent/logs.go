package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/qunhq/qun/api"
)

// Log streams, in the order of rankRecord.Offsets.
var streams = [2]string{"stdout", "stderr"}

// Local names of a rank's captured output and exit status, in its directory.
const (
	stdoutFile = "stdout.log"
	stderrFile = "stderr.log"
	statusFile = "exit-status.json"
)

// maxLogChunk is the most bytes one log upload carries.
const maxLogChunk = 256 << 10

// shipper copies a rank's two captured log files to the server, from the
// offsets already shipped. Offsets are read by the agent (for ranks.json)
// while it runs; everything else is the shipper's own goroutine.
type shipper struct {
	srv   Server
	key   rankKey
	paths [2]string
	log   *slog.Logger

	mu  sync.Mutex
	off [2]int64
}

func newShipper(srv Server, key rankKey, dir string, off [2]int64, log *slog.Logger) *shipper {
	return &shipper{
		srv:   srv,
		key:   key,
		paths: [2]string{filepath.Join(dir, stdoutFile), filepath.Join(dir, stderrFile)},
		off:   off,
		log:   log,
	}
}

func (s *shipper) offsets() [2]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.off
}

// run ships new output every interval until exited is closed, then ships
// what is left, retrying for up to drain, and returns.
func (s *shipper) run(ctx context.Context, exited <-chan struct{}, interval, drain time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.shipAll(ctx)
		case <-exited:
			deadline := time.Now().Add(drain)
			for s.shipAll(ctx) != nil && time.Now().Before(deadline) {
				select {
				case <-ctx.Done():
					return
				case <-time.After(interval):
				}
			}
			return
		}
	}
}

// shipAll ships everything written so far; it returns the first transport
// error (the rest is retried on the next call).
func (s *shipper) shipAll(ctx context.Context) error {
	var first error
	for i := range streams {
		if err := s.ship(ctx, i); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *shipper) ship(ctx context.Context, i int) error {
	f, err := os.Open(s.paths[i])
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.Size() <= s.offsets()[i] {
		return err // nothing new
	}
	buf := make([]byte, maxLogChunk)
	for {
		off := s.offsets()[i]
		n, err := f.ReadAt(buf, off)
		if n == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		err = s.srv.AppendLog(ctx, s.key.JobID, s.key.Attempt, s.key.Rank, streams[i], buf[:n])
		switch errorCode(err) {
		case "":
			if err != nil {
				return err
			}
		case api.CodeUnavailable, api.CodeInternal:
			return err
		default:
			// The server will never take these bytes (job gone, too large,
			// refused): skip them rather than retry forever.
			s.log.Warn("server refused log bytes; skipping them", "rank", s.key.String(), "stream", streams[i], "bytes", n, "err", err)
		}
		s.mu.Lock()
		s.off[i] = off + int64(n)
		s.mu.Unlock()
	}
}
