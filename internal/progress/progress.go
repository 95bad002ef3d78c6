package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// width is the bar's length in cells.
const width = 30

// Reporter draws one progress bar on w and prints lines above it.
type Reporter struct {
	mu          sync.Mutex
	w           io.Writer
	tty         bool
	label       string
	done, total int
	pct         int  // percentage last drawn
	shown       bool // a bar is on the current line
}

// New returns a reporter writing to w; the bar is drawn only when tty is
// true (IsTerminal(w), or a flag a test sets).
func New(w io.Writer, tty bool) *Reporter {
	return &Reporter{w: w, tty: tty, pct: -1}
}

// Terminal reports whether the reporter draws a bar.
func (r *Reporter) Terminal() bool { return r != nil && r.tty }

// Update sets the bar to done of total under label and redraws it when the
// label or its whole percentage changed. Without a terminal it does nothing.
func (r *Reporter) Update(label string, done, total int) {
	if r == nil || !r.tty || total <= 0 {
		return
	}
	done = min(max(done, 0), total)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done, r.total = done, total
	if r.shown && label == r.label && done*100/total == r.pct {
		return
	}
	r.label = label
	r.draw()
}

// draw writes the bar over the current line; r.mu is held.
func (r *Reporter) draw() {
	r.pct = r.done * 100 / r.total
	fill := r.done * width / r.total
	fmt.Fprintf(r.w, "\r\x1b[K%s [%s%s] %3d%% %d/%d", r.label,
		strings.Repeat("#", fill), strings.Repeat("-", width-fill), r.pct, r.done, r.total)
	r.shown = true
}

// Println prints line on a line of its own, above the bar, which is then
// drawn again.
func (r *Reporter) Println(line string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.shown {
		fmt.Fprintln(r.w, line)
		return
	}
	fmt.Fprintf(r.w, "\r\x1b[K%s\n", line)
	r.draw()
}

// Done clears the bar, leaving the cursor at the start of an empty line;
// the next Update starts a new one.
func (r *Reporter) Done() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.shown {
		fmt.Fprint(r.w, "\r\x1b[K")
	}
	r.shown, r.label, r.pct, r.total = false, "", -1, 0
}
