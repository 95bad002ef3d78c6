package cli

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestStopOnSignals sends this process SIGTERM twice: the first cancels the
// context (after the callback saw it), the second closes hurry.
func TestStopOnSignals(t *testing.T) {
	seen := make(chan os.Signal, 1)
	ctx, hurry, release := stopOnSignals(context.Background(), func(s os.Signal) { seen <- s })
	defer release()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the first SIGTERM did not cancel the context")
	}
	if s := <-seen; s != syscall.SIGTERM {
		t.Errorf("callback got %v, want SIGTERM", s)
	}
	select {
	case <-hurry:
		t.Fatal("hurry closed after one signal")
	default:
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-hurry:
	case <-time.After(10 * time.Second):
		t.Fatal("the second signal did not close hurry")
	}
}
