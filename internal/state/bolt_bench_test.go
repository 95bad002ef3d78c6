package state

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkBoltCommit measures one Commit (one bbolt transaction, fsynced)
// of a batch of new 400-byte job records with increasing keys, as a burst
// of submissions writes them.
func BenchmarkBoltCommit(b *testing.B) {
	for _, n := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			db, err := OpenBolt(filepath.Join(b.TempDir(), "state.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			val := []byte(strings.Repeat("x", 400))
			seq := 0
			for b.Loop() {
				jobs := make(map[string][]byte, n)
				for range n {
					seq++
					jobs[fmt.Sprintf("j-%06d", seq)] = val
				}
				if err := db.Commit(Records{Jobs: jobs}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/record")
		})
	}
}
