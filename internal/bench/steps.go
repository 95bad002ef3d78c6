package bench

// Steps receives how far a long measurement is: done of total steps of
// the stage label (a progress bar on a terminal). Nil discards them.
type Steps func(label string, done, total int)

func (s Steps) step(label string, done, total int) {
	if s != nil {
		s(label, done, total)
	}
}
