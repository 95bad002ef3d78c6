package state

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/qunhq/qun/internal/etcdlocal"
)

var (
	etcdOnce    sync.Once
	etcdCluster *etcdlocal.Cluster
	etcdErr     error
)

// testEtcd returns a client of a real 3-member etcd cluster shared by the
// package's tests, or skips when etcd is not installed.
func testEtcd(t *testing.T) *clientv3.Client {
	t.Helper()
	if !etcdlocal.Available() {
		t.Skip("etcd not installed (scripts/deps.sh installs etcd-server); skipping the etcd store tests")
	}
	etcdOnce.Do(func() {
		dir, err := mkdirTemp()
		if err != nil {
			etcdErr = err
			return
		}
		etcdCluster, etcdErr = etcdlocal.Start(context.Background(), dir, 3)
	})
	if etcdErr != nil {
		t.Fatal(etcdErr)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: etcdCluster.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func TestEtcd(t *testing.T) {
	cli := testEtcd(t)
	prefix := "/test/" + t.Name()
	open := func(t *testing.T) Durable {
		e, err := OpenEtcd(context.Background(), cli, EtcdOptions{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	durableContract(t, open, open)
}

// TestEtcdMirrorLoad: a store reading a warm mirror loads what another
// store wrote.
func TestEtcdMirrorLoad(t *testing.T) {
	cli := testEtcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	prefix := "/test/" + t.Name()
	m, err := StartEtcdMirror(ctx, cli, prefix)
	if err != nil {
		t.Fatal(err)
	}
	w, err := OpenEtcd(ctx, cli, EtcdOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(Records{Jobs: map[string][]byte{"a": []byte("1")}, Nodes: map[string][]byte{"n": []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	r, err := OpenEtcd(ctx, cli, EtcdOptions{Prefix: prefix, Mirror: m})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := r.Load(func(k string, v []byte) error { got["job "+k] = string(v); return nil },
		func(k string, v []byte) error { got["node "+k] = string(v); return nil }); err != nil {
		t.Fatal(err)
	}
	if got["job a"] != "1" || got["node n"] != "2" || len(got) != 2 {
		t.Errorf("loaded from the mirror: %v", got)
	}
	if m.Revision() < r.lastRev {
		t.Errorf("mirror at revision %d, behind the store's %d", m.Revision(), r.lastRev)
	}
}

// TestEtcdFence: once the fence fails, no write of the store changes
// anything and each says ErrFenced.
func TestEtcdFence(t *testing.T) {
	cli := testEtcd(t)
	ctx := context.Background()
	prefix := "/test/" + t.Name()
	if _, err := cli.Put(ctx, prefix+"-leader", "me"); err != nil {
		t.Fatal(err)
	}
	g, err := cli.Get(ctx, prefix+"-leader")
	if err != nil {
		t.Fatal(err)
	}
	fence := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(prefix+"-leader"), "=", g.Kvs[0].CreateRevision)}
	e, err := OpenEtcd(ctx, cli, EtcdOptions{Prefix: prefix, Fence: fence})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Commit(Records{Jobs: map[string][]byte{"a": []byte("1")}}); err != nil {
		t.Fatalf("write under a holding fence: %v", err)
	}
	// Another leader: the key is deleted and created again.
	cli.Delete(ctx, prefix+"-leader")
	cli.Put(ctx, prefix+"-leader", "other")
	if err := e.Commit(Records{Jobs: map[string][]byte{"a": []byte("2")}}); !errors.Is(err, ErrFenced) {
		t.Errorf("commit after losing the fence: %v, want ErrFenced", err)
	}
	if err := e.Commit(Records{Jobs: map[string][]byte{"b": []byte("x")}, Nodes: map[string][]byte{"n": []byte("y")}}); !errors.Is(err, ErrFenced) {
		t.Errorf("a new record after losing the fence: %v, want ErrFenced", err)
	}
	select {
	case <-e.Fenced():
	default:
		t.Error("Fenced() not closed")
	}
	resp, _ := cli.Get(ctx, prefix+"/", clientv3.WithPrefix())
	for _, kv := range resp.Kvs {
		if string(kv.Key) == prefix+"/jobs/a" && string(kv.Value) != "1" || string(kv.Key) == prefix+"/jobs/b" {
			t.Errorf("a fenced write changed %s to %q", kv.Key, kv.Value)
		}
	}
}
