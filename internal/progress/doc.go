// Package progress reports the progress of a long command (qun sim, qun
// bench) on its stderr: a bar redrawn in place when stderr is a terminal,
// nothing of the bar when it is not (a pipe or a file gets only the plain
// lines the command prints through it), so logs and scripts read what they
// read before.
//
// A Reporter is safe for concurrent use. It reads no clock: the bar is
// redrawn when its label or its whole percentage changes, so a million
// updates draw at most a hundred bars per label.
package progress
