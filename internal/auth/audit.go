package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Entry is one audited request: who did what, when, and the result.
type Entry struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Who    string    `json:"who"`    // "token ID (NAME, ROLE)", "node NAME", "join ID", "anonymous"
	Action string    `json:"action"` // METHOD PATH
	Status int       `json:"status"` // HTTP status of the answer
	Result string    `json:"result"` // "ok", or the error code
	Prev   string    `json:"prev"`   // hash of the previous entry; "" for the first
}

// The audit log is a file of JSON lines. Each line is the entry's JSON
// with one more member at the end, "hash": the SHA-256 (hex) of the line
// without that member, i.e. of the bytes `{…,"prev":"…"}`. Because every
// entry holds its predecessor's hash, editing any line breaks the chain
// from there on. Removing lines from the end keeps the chain intact, so a
// sidecar file (audit.head), written after the log, holds the count and the
// hash of the last entry: a log shorter than its head was truncated.

const hashSuffixLen = len(`,"hash":"`) + hashLen + len(`"}`)

// appendEntry appends the line of e (with its newline) to dst and returns
// it with the entry's hash. The body is what json.Marshal(e) gives, byte
// for byte (FuzzAppendEntryIsJSONMarshal, FuzzAuditEntry), written without
// reflection: every mutating request appends one.
func appendEntry(dst []byte, e Entry) ([]byte, string) {
	start := len(dst)
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"time":"`...)
	dst = e.Time.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","who":`...)
	dst = appendJSONString(dst, e.Who)
	dst = append(dst, `,"action":`...)
	dst = appendJSONString(dst, e.Action)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(e.Status), 10)
	dst = append(dst, `,"result":`...)
	dst = appendJSONString(dst, e.Result)
	dst = append(dst, `,"prev":`...)
	dst = appendJSONString(dst, e.Prev)
	dst = append(dst, '}')
	sum := sha256.Sum256(dst[start:])
	var hx [hashLen]byte
	hex.Encode(hx[:], sum[:])
	dst = append(dst[:len(dst)-1], `,"hash":"`...)
	dst = append(dst, hx[:]...)
	dst = append(dst, "\"}\n"...)
	return dst, string(hx[:])
}

// appendJSONString appends s as encoding/json writes a string: quoted,
// with HTML characters, control characters, U+2028, U+2029 and invalid
// UTF-8 escaped as json.Marshal escapes them. Plain ASCII is copied; the
// rest goes through json.Marshal itself.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(dst, q...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// decodeEntry parses one line (without its newline) and checks its own
// hash; the chain is the caller's.
func decodeEntry(line []byte) (Entry, string, error) {
	var e Entry
	if len(line) < hashSuffixLen+2 || !bytes.HasSuffix(line, []byte(`"}`)) {
		return e, "", errors.New("not an audit entry (no hash)")
	}
	cut := len(line) - hashSuffixLen
	if !bytes.Equal(line[cut:cut+len(`,"hash":"`)], []byte(`,"hash":"`)) {
		return e, "", errors.New("not an audit entry (no hash at the end)")
	}
	h := string(line[cut+len(`,"hash":"`) : len(line)-2])
	body := append(append([]byte(nil), line[:cut]...), '}')
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return e, "", fmt.Errorf("not an audit entry: %v", err)
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != h {
		return e, h, errors.New("its hash does not match its content (the entry was edited)")
	}
	return e, h, nil
}

// Log appends entries to an audit log. Append returns once the entry is on
// disk; concurrent appends share one fsync (group commit). After a write
// error every later Append fails: the log stays a prefix of the truth.
//
// Enqueue only adds an entry to the batch being filled. A batch is written
// when someone needs it: Wait for one of its entries, or Cut, which the
// server calls as it starts each state commit so that the audit entries of
// the requests in that commit are fsynced beside it, one audit fsync per
// state commit rather than one per gap in the writer's work (an fsync
// costs the kernel 100–150 µs of CPU on the 2-core test machine:
// BenchmarkAuditSync). One writer goroutine, started when a batch is
// wanted and running while wanted batches wait, writes them one at a time.
// Each batch has a channel, closed once it is durable (or the log failed),
// so a waiter wakes once, for its own batch.
type Log struct {
	f, head *os.File

	mu      sync.Mutex
	idle    *sync.Cond // signalled when the writer goroutine exits (Close)
	seq     uint64
	last    string
	buf     []byte        // the batch being filled
	spare   []byte        // the buffer of the batch written last, for reuse
	cur     uint64        // batch being filled
	durable uint64        // last batch on disk
	want    uint64        // newest batch someone needs written (Wait, Cut)
	filling chan struct{} // closed when batch cur is durable
	writing chan struct{} // closed when batch cur-1 is durable
	bg      bool          // the writer goroutine runs
	err     error

	headSynced time.Time // last fsync of the head; only the writer goroutine and Close touch it

	batches, entries atomic.Uint64 // written (fsynced) so far: Stats
	written          uint64        // seq of the last entry written; only the writer goroutine touches it
}

// LogStats is what a Log has written since it was opened.
type LogStats struct {
	Batches uint64 // writes, one fsync each
	Entries uint64 // entries in them
}

// Stats returns the log's counts.
func (l *Log) Stats() LogStats {
	return LogStats{Batches: l.batches.Load(), Entries: l.entries.Load()}
}

// headSyncEvery bounds how often the head is fsynced. Every batch is
// fsynced in the log before its requests are answered; the head, which
// only detects a cut tail, is rewritten with every batch but fsynced at
// most this often (and on Close), so a batch costs one fsync, not two.
// After a power loss the head may name an earlier entry than the last one
// on disk, which Verify accepts (the entry it names must still match).
const headSyncEvery = 200 * time.Millisecond

// headLen is the fixed size of audit.head: "COUNT HASH\n".
const headLen = 20 + 1 + hashLen + 1

// OpenLog opens (or creates) the log at path and its head at path+".head",
// verifying the existing content first: a log that fails Verify is not
// appended to.
func OpenLog(path string) (*Log, error) {
	n, last, err := Verify(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	head, err := os.OpenFile(path+".head", os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		f.Close()
		return nil, err
	}
	l := &Log{f: f, head: head, seq: n, last: last, written: n, cur: 1, filling: make(chan struct{}), writing: make(chan struct{})}
	close(l.writing) // no batch 0
	l.idle = sync.NewCond(&l.mu)
	if err := l.writeHead(n, last, true); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// writeHead rewrites the head; it fsyncs it when sync is set or
// headSyncEvery has passed since the last fsync.
func (l *Log) writeHead(n uint64, h string, sync bool) error {
	if h == "" {
		h = string(bytes.Repeat([]byte("0"), hashLen))
	}
	rec := fmt.Sprintf("%020d %s\n", n, h)
	if _, err := l.head.WriteAt([]byte(rec), 0); err != nil {
		return err
	}
	if !sync && time.Since(l.headSynced) < headSyncEvery {
		return nil
	}
	l.headSynced = time.Now()
	return l.head.Sync()
}

// Close closes the log.
func (l *Log) Close() error {
	l.mu.Lock()
	if len(l.buf) > 0 && l.err == nil {
		l.wantWritten(l.cur)
	}
	for l.bg {
		l.idle.Wait()
	}
	l.mu.Unlock()
	err := l.head.Sync()
	if ferr := l.f.Close(); err == nil {
		err = ferr
	}
	if herr := l.head.Close(); err == nil {
		err = herr
	}
	return err
}

// Append writes e (its Seq and Prev are set here) and returns once it is
// durable.
func (l *Log) Append(e Entry) error {
	batch, err := l.Enqueue(e)
	if err != nil {
		return err
	}
	return l.Wait(batch)
}

// Enqueue adds e (its Seq and Prev are set here) to the batch being filled
// and starts writing it at once, without waiting: the fsync of the entry
// can overlap other work of the caller (the state commit of the change it
// records). It returns the batch to Wait for; the entry is durable only
// once Wait(batch) has returned nil.
func (l *Log) Enqueue(e Entry) (uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	e.Seq, e.Prev = l.seq+1, l.last
	var h string
	l.buf, h = appendEntry(l.buf, e)
	l.seq, l.last = e.Seq, h
	return l.cur, nil
}

// Cut has the batch being filled written now, without waiting for it;
// Wait for one of its entries returns once it is durable.
func (l *Log) Cut() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 && l.err == nil {
		l.wantWritten(l.cur)
	}
}

// wantWritten has every batch up to batch written, starting the writer
// goroutine if it is not running. Callers hold mu.
func (l *Log) wantWritten(batch uint64) {
	l.want = max(l.want, batch)
	if !l.bg {
		l.bg = true
		go l.background()
	}
}

// Wait returns once batch (from Enqueue) is durable, or the log's error.
func (l *Log) Wait(batch uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.durable < batch && l.err == nil {
		l.wantWritten(batch)
	}
	for l.durable < batch && l.err == nil {
		ch := l.filling
		if batch < l.cur {
			ch = l.writing
		}
		l.mu.Unlock()
		<-ch
		l.mu.Lock()
	}
	return l.err
}

// background writes batches while a wanted one waits.
func (l *Log) background() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.err == nil && len(l.buf) > 0 && l.want >= l.cur {
		l.lead()
	}
	l.bg = false
	l.idle.Broadcast()
}

// lead writes one batch: everything appended so far. Only the writer
// goroutine calls it, holding mu.
func (l *Log) lead() {
	buf, n, last, batch := l.buf, l.seq, l.last, l.cur
	l.buf, l.spare, l.cur = l.spare[:0], nil, l.cur+1
	done := l.filling
	l.writing, l.filling = done, make(chan struct{})
	l.mu.Unlock()
	err := l.flush(buf, n, last)
	l.mu.Lock()
	if err != nil {
		l.err = fmt.Errorf("audit log: %w", err)
		close(l.filling) // no batch follows; waiters find err
	} else {
		l.durable = batch
		l.batches.Add(1)
		l.entries.Add(n - l.written)
		l.written = n
	}
	if cap(buf) <= 1<<20 {
		l.spare = buf[:0]
	}
	close(done)
}

func (l *Log) flush(buf []byte, n uint64, last string) error {
	if _, err := l.f.Write(buf); err != nil {
		return err
	}
	if err := l.f.Sync(); err != nil {
		return err
	}
	return l.writeHead(n, last, false)
}

// VerifyError says which entry of an audit log is the first bad one.
type VerifyError struct {
	Entry  uint64 // 1-based; the line number
	Reason string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("audit log: entry %d: %s", e.Entry, e.Reason)
}

// Verify checks the log at path against itself and its head file and
// returns the number of entries and the last hash. A missing log with no
// head is empty and fine.
func Verify(path string) (uint64, string, error) {
	var n uint64
	var last string
	err := Scan(path, func(Entry) error { return nil }, &n, &last)
	if err != nil {
		return n, last, err
	}
	head, err := os.ReadFile(path + ".head")
	if errors.Is(err, os.ErrNotExist) {
		if n > 0 {
			return n, last, fmt.Errorf("audit log: the head file %s.head is missing; cannot rule out truncation", path)
		}
		return 0, "", nil
	}
	if err != nil {
		return n, last, err
	}
	if len(head) == 0 {
		if n > 0 {
			return n, last, fmt.Errorf("audit log: the head file %s.head is empty", path)
		}
		return 0, "", nil
	}
	if len(head) != headLen {
		return n, last, fmt.Errorf("audit log: the head file %s.head is not %d bytes", path, headLen)
	}
	count, err := strconv.ParseUint(string(head[:20]), 10, 64)
	if err != nil {
		return n, last, fmt.Errorf("audit log: the head file %s.head is corrupt", path)
	}
	hh := string(head[21 : 21+hashLen])
	switch {
	case count > n:
		return n, last, &VerifyError{Entry: n + 1, Reason: fmt.Sprintf("missing: the log ends after %d entries but held %d (truncated)", n, count)}
	case count == 0:
		return n, last, nil
	}
	// A head behind the log is a crash between the two fsyncs; the
	// entry it names must still be there unchanged.
	var at string
	if err := scanUpTo(path, count, &at); err != nil {
		return n, last, err
	}
	if at != hh {
		return n, last, &VerifyError{Entry: count, Reason: "its hash is not the one the head recorded (the log was rewritten)"}
	}
	return n, last, nil
}

func scanUpTo(path string, count uint64, hash *string) error {
	var i uint64
	stop := errors.New("stop")
	err := scanLines(path, func(_ Entry, h string) error {
		i++
		if i == count {
			*hash = h
			return stop
		}
		return nil
	})
	if errors.Is(err, stop) {
		return nil
	}
	return err
}

// Scan calls fn for every entry in order, checking each entry's hash and
// the chain; the first bad entry ends it with a *VerifyError. If n and last
// are not nil they receive the count and last hash of the good prefix.
func Scan(path string, fn func(Entry) error, n *uint64, last *string) error {
	var prev string
	var seq uint64
	err := scanLines(path, func(e Entry, h string) error {
		seq++
		if e.Seq != seq {
			return &VerifyError{Entry: seq, Reason: fmt.Sprintf("sequence number %d, want %d (an entry was removed or inserted)", e.Seq, seq)}
		}
		if e.Prev != prev {
			return &VerifyError{Entry: seq, Reason: "it does not chain to the entry before it (an entry before it was removed or edited)"}
		}
		prev = h
		if n != nil {
			*n, *last = seq, h
		}
		return fn(e)
	})
	return err
}

func scanLines(path string, fn func(Entry, string) error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var line uint64
	for {
		b, err := r.ReadBytes('\n')
		if len(b) > 0 {
			line++
			if b[len(b)-1] != '\n' {
				return &VerifyError{Entry: line, Reason: "incomplete last line (the log was cut mid-entry)"}
			}
			e, h, derr := decodeEntry(b[:len(b)-1])
			if derr != nil {
				return &VerifyError{Entry: line, Reason: derr.Error()}
			}
			if ferr := fn(e, h); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
