package auth

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestAuditEnqueueWait: entries enqueued by many goroutines are all on
// disk, in one chain, once their Waits return; an entry enqueued without a
// Wait is written by the background leader and is on disk after Close.
func TestAuditEnqueueWait(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := l.Enqueue(Entry{Time: time.Unix(int64(i), 0).UTC(), Who: "w", Action: fmt.Sprintf("POST /%d", i), Status: 201, Result: "ok"})
			if err == nil {
				err = l.Wait(b)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, _, err := Verify(path); err != nil || got != n {
		t.Fatalf("after the Waits: Verify = %d entries, %v; want %d, nil", got, err, n)
	}
	if _, err := l.Enqueue(Entry{Who: "w", Action: "POST /last", Status: 201, Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _, err := Verify(path); err != nil || got != n+1 {
		t.Fatalf("after Close: Verify = %d entries, %v; want %d, nil", got, err, n+1)
	}
}
