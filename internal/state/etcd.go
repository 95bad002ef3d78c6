package state

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// ErrFenced is returned by an Etcd store's writes when its fence no longer
// holds: the server lost its leadership, and another server may now write.
var ErrFenced = errors.New("the write's fence failed: this server is no longer the leader")

// etcdTimeout bounds one etcd request of the store.
const etcdTimeout = 10 * time.Second

// EtcdOptions configure an Etcd store.
type EtcdOptions struct {
	// Prefix is the store's key prefix; records live below PREFIX/jobs/,
	// PREFIX/nodes/ and PREFIX/server/.
	Prefix string
	// Fence is the conditions every write must meet, checked by etcd in
	// the write's own transaction: for an HA leader, that its election key
	// still exists with the revision it was created at. A write whose
	// fence fails changes nothing and returns an error wrapping ErrFenced.
	Fence []clientv3.Cmp
	// Mirror, when set, is a warm copy of the prefix that Load reads
	// (after it caught up with the store's own writes) instead of asking
	// etcd for everything again.
	Mirror *EtcdMirror
	// Timeout bounds each etcd request; default 10 s.
	Timeout time.Duration
}

// Etcd is the record store of an HA cluster, a state.Durable beside Bolt:
// the same records, kept in etcd under a prefix. Every Commit (one batch of
// the server's group commit) is one etcd transaction that also checks the
// writer's fence, so a batch is durable once a quorum committed it and a
// deposed leader writes nothing. It does not own the client.
type Etcd struct {
	cli *clientv3.Client
	opt EtcdOptions

	mu      sync.Mutex
	lastRev int64 // revision of the store's last write (or of its opening)

	fencedOnce sync.Once
	fenced     chan struct{}
}

var _ Durable = (*Etcd)(nil)

// OpenEtcd opens the record store under opt.Prefix of the cluster cli
// talks to.
func OpenEtcd(ctx context.Context, cli *clientv3.Client, opt EtcdOptions) (*Etcd, error) {
	if opt.Prefix == "" || strings.HasSuffix(opt.Prefix, "/") {
		return nil, fmt.Errorf("etcd store: prefix %q: want a non-empty prefix without a trailing slash, e.g. /qun", opt.Prefix)
	}
	if opt.Timeout <= 0 {
		opt.Timeout = etcdTimeout
	}
	e := &Etcd{cli: cli, opt: opt, fenced: make(chan struct{})}
	ctx, cancel := context.WithTimeout(ctx, opt.Timeout)
	defer cancel()
	resp, err := cli.Get(ctx, opt.Prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("etcd store %s: %w", opt.Prefix, err)
	}
	e.lastRev = resp.Header.Revision
	return e, nil
}

func (e *Etcd) key(kind, k string) string { return e.opt.Prefix + "/" + kind + "/" + k }

// Fenced is closed once a write failed its fence.
func (e *Etcd) Fenced() <-chan struct{} { return e.fenced }

// Close implements Durable; the client stays open.
func (e *Etcd) Close() error { return nil }

// txn runs one transaction of ops under the fence; it returns the
// revision it committed at. A failed fence is ErrFenced.
func (e *Etcd) txn(ops []clientv3.Op) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.opt.Timeout)
	defer cancel()
	resp, err := e.cli.Txn(ctx).If(e.opt.Fence...).Then(ops...).Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd store %s: %w", e.opt.Prefix, err)
	}
	if !resp.Succeeded {
		e.fencedOnce.Do(func() { close(e.fenced) })
		return 0, fmt.Errorf("etcd store %s: %w", e.opt.Prefix, ErrFenced)
	}
	return resp.Header.Revision, nil
}

// Commit implements Durable: one transaction of every record of the
// batch under the fence. Keys may hold '/' (per-rank end records,
// JOBKEY/ATTEMPT/RANK). The batch must fit etcd's --max-txn-ops and
// --max-request-bytes (etcdlocal starts etcd with 100,000 and 64 MiB).
func (e *Etcd) Commit(r Records) error {
	if r.empty() {
		return nil
	}
	var ops []clientv3.Op
	for _, w := range []struct {
		kind string
		recs map[string][]byte
	}{{"jobs", r.Jobs}, {"nodes", r.Nodes}, {"server", r.Server}} {
		for k, v := range w.recs {
			if k == "" {
				return fmt.Errorf("%s record with an empty key", w.kind)
			}
			if v == nil {
				ops = append(ops, clientv3.OpDelete(e.key(w.kind, k)))
			} else {
				ops = append(ops, clientv3.OpPut(e.key(w.kind, k), string(v)))
			}
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rev, err := e.txn(ops)
	if err == nil {
		e.lastRev = rev
	}
	return err
}

// ServerRecord implements Durable.
func (e *Etcd) ServerRecord(key string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), e.opt.Timeout)
	defer cancel()
	resp, err := e.cli.Get(ctx, e.key("server", key))
	if err != nil {
		return nil, fmt.Errorf("etcd store %s: %w", e.opt.Prefix, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0].Value, nil
}

// Load implements Durable: from the mirror once it has seen every
// write of this store, else with one read of the whole prefix.
func (e *Etcd) Load(job, node func(key string, value []byte) error) error {
	e.mu.Lock()
	rev := e.lastRev
	e.mu.Unlock()
	var kvs map[string][]byte
	if m := e.opt.Mirror; m != nil {
		ctx, cancel := context.WithTimeout(context.Background(), e.opt.Timeout)
		err := m.WaitRevision(ctx, rev)
		cancel()
		if err == nil {
			kvs = m.Copy()
		}
	}
	if kvs == nil {
		ctx, cancel := context.WithTimeout(context.Background(), e.opt.Timeout)
		defer cancel()
		resp, err := e.cli.Get(ctx, e.opt.Prefix+"/", clientv3.WithPrefix())
		if err != nil {
			return fmt.Errorf("etcd store %s: load: %w", e.opt.Prefix, err)
		}
		kvs = make(map[string][]byte, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			kvs[string(kv.Key)] = kv.Value
		}
	}
	for _, w := range []struct {
		kind string
		fn   func(string, []byte) error
	}{{"jobs", job}, {"nodes", node}} {
		pre := e.opt.Prefix + "/" + w.kind + "/"
		var keys []string
		for k := range kvs {
			if strings.HasPrefix(k, pre) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			if err := w.fn(strings.TrimPrefix(k, pre), kvs[k]); err != nil {
				return err
			}
		}
	}
	return nil
}

// EtcdMirror is a warm copy of every key under a prefix, kept current by
// a watch: an HA follower holds one so that taking over needs no full
// read of the state.
type EtcdMirror struct {
	mu      sync.Mutex
	kv      map[string][]byte
	rev     int64
	changed chan struct{} // closed and replaced on every change of rev
}

// StartEtcdMirror reads the prefix and follows it until ctx is done. A
// watch that breaks (compaction, a lost member) is started again from a
// fresh read.
func StartEtcdMirror(ctx context.Context, cli *clientv3.Client, prefix string) (*EtcdMirror, error) {
	m := &EtcdMirror{changed: make(chan struct{})}
	rev, err := m.reload(ctx, cli, prefix)
	if err != nil {
		return nil, err
	}
	go m.follow(ctx, cli, prefix, rev)
	return m, nil
}

func (m *EtcdMirror) reload(ctx context.Context, cli *clientv3.Client, prefix string) (int64, error) {
	gctx, cancel := context.WithTimeout(ctx, etcdTimeout)
	defer cancel()
	resp, err := cli.Get(gctx, prefix+"/", clientv3.WithPrefix())
	if err != nil {
		return 0, fmt.Errorf("etcd mirror %s: %w", prefix, err)
	}
	kv := make(map[string][]byte, len(resp.Kvs))
	for _, x := range resp.Kvs {
		kv[string(x.Key)] = x.Value
	}
	m.mu.Lock()
	m.kv = kv
	m.advance(resp.Header.Revision)
	m.mu.Unlock()
	return resp.Header.Revision, nil
}

// advance records rev and wakes waiters. Callers hold mu.
func (m *EtcdMirror) advance(rev int64) {
	if rev > m.rev {
		m.rev = rev
		close(m.changed)
		m.changed = make(chan struct{})
	}
}

func (m *EtcdMirror) follow(ctx context.Context, cli *clientv3.Client, prefix string, rev int64) {
	for ctx.Err() == nil {
		wch := cli.Watch(clientv3.WithRequireLeader(ctx), prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
		for resp := range wch {
			if resp.Err() != nil {
				break
			}
			m.mu.Lock()
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete {
					delete(m.kv, string(ev.Kv.Key))
				} else {
					m.kv[string(ev.Kv.Key)] = ev.Kv.Value
				}
			}
			m.advance(resp.Header.Revision)
			rev = m.rev
			m.mu.Unlock()
		}
		if ctx.Err() != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
		if r, err := m.reload(ctx, cli, prefix); err == nil {
			rev = r
		}
	}
}

// Revision returns the etcd revision the mirror is current to.
func (m *EtcdMirror) Revision() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rev
}

// WaitRevision waits until the mirror is current to rev or later.
func (m *EtcdMirror) WaitRevision(ctx context.Context, rev int64) error {
	for {
		m.mu.Lock()
		if m.rev >= rev {
			m.mu.Unlock()
			return nil
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("etcd mirror: not current to revision %d: %w", rev, ctx.Err())
		}
	}
}

// Copy returns a copy of every key and value of the mirror.
func (m *EtcdMirror) Copy() map[string][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.kv))
	for k, v := range m.kv {
		out[k] = v
	}
	return out
}
