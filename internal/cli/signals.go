package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// stopOnSignals is the two-step stop of the commands that run until told
// (qun agent, qun up): the first SIGTERM or SIGINT cancels the returned
// context, after calling first with the signal (nil: nothing) so the
// command can say what it is doing; a second one closes hurry, asking for
// what is left to be killed at once. release stops listening.
func stopOnSignals(parent context.Context, first func(os.Signal)) (ctx context.Context, hurry <-chan struct{}, release func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithCancel(parent)
	h := make(chan struct{})
	go func() {
		s := <-sigs
		if first != nil {
			first(s)
		}
		cancel()
		<-sigs
		close(h)
	}()
	return ctx, h, func() { signal.Stop(sigs); cancel() }
}
