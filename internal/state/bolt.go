package state

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The bbolt file's buckets (see docs/operations.md for the record formats).
var (
	boltMeta  = []byte("meta")  // "format" → "1"
	boltJobs  = []byte("jobs")  // job ID → record; the bucket sequence numbers job IDs
	boltNodes = []byte("nodes") // node name → record
)

// BoltFormat is the on-disk format version written to meta/format.
const BoltFormat = "1"

// formatKey is the meta record holding BoltFormat.
const formatKey = "format"

// ErrBoltFormat is returned by OpenBolt for a file of another format.
var ErrBoltFormat = errors.New("unsupported state file format")

// Bolt is the durable, embedded record store of a single server, the
// default Durable: one bbolt file holding job and node records as opaque
// bytes. Every write is one bbolt transaction, fsynced before it returns,
// so a record a caller saw written survives kill -9. It is safe for
// concurrent use. The server batches its changes itself (one Commit per
// batch); concurrent CreateJob calls are grouped into one transaction by
// bbolt's own batching, for callers that write jobs one at a time.
//
// Bolt knows nothing of what the records mean; the server encodes them.
type Bolt struct {
	db *bolt.DB
}

var _ Durable = (*Bolt)(nil)

// OpenBolt opens (creating if needed) the state file at path. It fails
// after a second if another process holds the file.
func OpenBolt(path string) (*Bolt, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, FreelistType: bolt.FreelistMapType,
		NoFreelistSync: true, InitialMmapSize: 256 << 20})
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	db.MaxBatchDelay = 2 * time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{boltMeta, boltJobs, boltNodes} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(boltMeta)
		switch v := meta.Get([]byte(formatKey)); {
		case v == nil:
			return meta.Put([]byte(formatKey), []byte(BoltFormat))
		case string(v) != BoltFormat:
			return fmt.Errorf("%w: %s is format %q, this server reads %q", ErrBoltFormat, path, v, BoltFormat)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	return &Bolt{db: db}, nil
}

// Close closes the file.
func (b *Bolt) Close() error { return b.db.Close() }

// CreateJob numbers and stores one new job record in a single transaction
// shared with concurrent calls. build gets the next job sequence number
// (1, 2, …) and returns the record's key and value; it may run more than
// once (bbolt retries a failed batch one call at a time) and must not keep
// side effects of a run whose transaction failed. CreateJob returns when
// the record is on disk.
func (b *Bolt) CreateJob(build func(seq uint64) (key string, value []byte, err error)) error {
	return b.db.Batch(func(tx *bolt.Tx) error {
		jobs := tx.Bucket(boltJobs)
		seq, err := jobs.NextSequence()
		if err != nil {
			return err
		}
		k, v, err := build(seq)
		if err != nil {
			return err
		}
		if jobs.Get([]byte(k)) != nil {
			return fmt.Errorf("job %s already stored", k)
		}
		return jobs.Put([]byte(k), v)
	})
}

// Records is one transaction's writes: job, node and server records by
// key. A nil value deletes the key.
type Records struct {
	Jobs, Nodes map[string][]byte
	// Server holds the server's own records (such as fair-share usage),
	// kept beside the file's format marker, whose key it may not use.
	Server map[string][]byte
}

func (r Records) empty() bool { return len(r.Jobs) == 0 && len(r.Nodes) == 0 && len(r.Server) == 0 }

// Commit writes the records in one transaction: all of them or, on error,
// none.
func (b *Bolt) Commit(r Records) error {
	if r.empty() {
		return nil
	}
	if _, ok := r.Server[formatKey]; ok {
		return fmt.Errorf("server record %q is reserved for the file format", formatKey)
	}
	return b.db.Update(func(tx *bolt.Tx) error {
		for _, w := range []struct {
			bucket []byte
			recs   map[string][]byte
		}{{boltJobs, r.Jobs}, {boltNodes, r.Nodes}, {boltMeta, r.Server}} {
			bk := tx.Bucket(w.bucket)
			// In key order: bbolt splits fewer pages for sorted writes.
			for _, k := range slices.Sorted(maps.Keys(w.recs)) {
				v := w.recs[k]
				var err error
				if v == nil {
					err = bk.Delete([]byte(k))
				} else {
					err = bk.Put([]byte(k), v)
				}
				if err != nil {
					return fmt.Errorf("%s/%s: %w", w.bucket, k, err)
				}
			}
		}
		return nil
	})
}

// ServerRecord returns a copy of the server record key, or nil when there
// is none.
func (b *Bolt) ServerRecord(key string) ([]byte, error) {
	var out []byte
	err := b.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(boltMeta).Get([]byte(key)); v != nil && key != formatKey {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// Load calls job for every job record and node for every node record, in
// key order, inside one read transaction. The value slices are valid only
// during the call.
func (b *Bolt) Load(job, node func(key string, value []byte) error) error {
	return b.db.View(func(tx *bolt.Tx) error {
		if err := tx.Bucket(boltJobs).ForEach(func(k, v []byte) error { return job(string(k), v) }); err != nil {
			return err
		}
		return tx.Bucket(boltNodes).ForEach(func(k, v []byte) error { return node(string(k), v) })
	})
}

// JobSequence returns the last job sequence number CreateJob handed out
// (a server that numbers its jobs itself does not advance it).
func (b *Bolt) JobSequence() (uint64, error) {
	var seq uint64
	err := b.db.View(func(tx *bolt.Tx) error {
		seq = tx.Bucket(boltJobs).Sequence()
		return nil
	})
	return seq, err
}
