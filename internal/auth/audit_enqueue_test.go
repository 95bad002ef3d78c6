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
// Wait is written by Close.
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

// TestAuditCut: enqueued entries wait for a Cut (or a Wait); a Cut writes
// them as one batch without anyone waiting.
func TestAuditCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l, err := OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var batch uint64
	for i := range 5 {
		if batch, err = l.Enqueue(Entry{Who: "w", Action: fmt.Sprintf("POST /%d", i), Status: 201, Result: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.Stats(); got != (LogStats{}) {
		t.Fatalf("before the Cut: Stats = %+v; want nothing written", got)
	}
	l.Cut()
	for deadline := time.Now().Add(10 * time.Second); l.Stats().Batches == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the Cut batch was not written within 10s")
		}
	}
	if err := l.Wait(batch); err != nil {
		t.Fatal(err)
	}
	if got, want := l.Stats(), (LogStats{Batches: 1, Entries: 5}); got != want {
		t.Fatalf("after the Cut: Stats = %+v; want %+v", got, want)
	}
	if got, _, err := Verify(path); err != nil || got != 5 {
		t.Fatalf("Verify = %d entries, %v; want 5, nil", got, err)
	}
}
