package cli

import (
	"bytes"
	"io"

	"github.com/spf13/cobra"

	"github.com/qunhq/qun/internal/progress"
)

// stderrIsTerminal decides whether long commands draw a progress bar; tests
// replace it.
var stderrIsTerminal = progress.IsTerminal

// newProgress returns the progress reporter of a long command (qun sim, qun
// bench): a bar on its stderr when that is a terminal, plain lines only
// otherwise.
func newProgress(cmd *cobra.Command) *progress.Reporter {
	w := cmd.ErrOrStderr()
	return progress.New(w, stderrIsTerminal(w))
}

// lineWriter prints what is written to it line by line above a progress
// bar (for the stage lines internal/bench writes to an io.Writer).
type lineWriter struct {
	r   *progress.Reporter
	buf []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.r.Println(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

var _ io.Writer = (*lineWriter)(nil)
