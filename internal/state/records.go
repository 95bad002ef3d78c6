package state

// RecordStore is the durable record store a server keeps its job, node
// and server records in, as opaque bytes: Bolt on one machine, Etcd for an
// HA cluster. Every write returns once it is durable (fsynced, or
// committed by a quorum). Implementations are safe for concurrent use.
type RecordStore interface {
	// CreateJob numbers and stores one new job record; build gets the next
	// job sequence number and returns the record's key and value. build
	// may run more than once and must not keep side effects of a run whose
	// write failed.
	CreateJob(build func(seq uint64) (key string, value []byte, err error)) error
	// Commit writes the records, all of them or, on error, none.
	Commit(r Records) error
	// ServerRecord returns a copy of a server record, or nil when absent.
	ServerRecord(key string) ([]byte, error)
	// Load calls job for every job record and node for every node record,
	// in key order. The value slices are valid only during the call.
	Load(job, node func(key string, value []byte) error) error
	// JobSequence returns the last job sequence number handed out.
	JobSequence() (uint64, error)
	// Close releases the store.
	Close() error
}

var _ RecordStore = (*Bolt)(nil)
