package server

import (
	"cmp"
	"slices"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/pool"
)

// nodeJob is a placed job with the ranks it has on one node, in rank
// order.
type nodeJob struct {
	j     *jobRec
	ranks []int
}

// addPlaced records that j holds its allocation (j.claims) and indexes it
// under every node it has ranks on. Calling it again re-indexes j, so a
// changed allocation is picked up. Callers hold mu.
func (s *Server) addPlaced(j *jobRec) {
	s.unindex(j)
	s.placed[j.ID] = j
	for r, c := range j.claims {
		if c.Host == pool.NoDomain {
			continue // a lost rank waiting for its re-placement
		}
		node := s.cfg.Pool.Path(c.Host)
		m := s.byNode[node]
		if m == nil {
			m = map[*jobRec][]int{}
			s.byNode[node] = m
		}
		if _, ok := m[j]; !ok {
			j.onNodes = append(j.onNodes, node)
		}
		m[j] = append(m[j], r)
	}
	s.markNodes(j.onNodes)
}

// dropPlaced records that j no longer holds an allocation. Callers hold mu.
func (s *Server) dropPlaced(j *jobRec) {
	delete(s.placed, j.ID)
	s.unindex(j)
}

func (s *Server) unindex(j *jobRec) {
	s.markNodes(j.onNodes) // their heartbeats stop listing j's ranks
	for _, node := range j.onNodes {
		if m := s.byNode[node]; m != nil {
			delete(m, j)
			if len(m) == 0 {
				delete(s.byNode, node)
			}
		}
	}
	j.onNodes = nil
}

// placedOn returns the placed jobs with ranks on a node, in ID order, with
// their ranks there. It costs what the node runs, not what the pool runs.
// Callers hold mu.
func (s *Server) placedOn(node string) []nodeJob {
	m := s.byNode[node]
	if len(m) == 0 {
		return nil
	}
	out := make([]nodeJob, 0, len(m))
	for j, ranks := range m {
		out = append(out, nodeJob{j, ranks})
	}
	slices.SortFunc(out, func(a, b nodeJob) int { return cmp.Compare(a.j.Seq, b.j.Seq) })
	return out
}

// recoverRanks applies the stored rank ends to the attempts they belong to
// and deletes the records of attempts that are over (a crash can leave
// them behind). Callers hold mu.
func (s *Server) recoverRanks(ranks []rankRec) {
	for _, r := range ranks {
		j := s.jobs[r.job]
		if j == nil || j.State.Terminal() || !j.LC.Placed || r.attempt != j.Attempt ||
			r.rank < 0 || r.rank >= len(j.Ranks) || r.rank >= len(j.LC.Ranks) {
			s.dirtyKeys[r.key] = nil
			continue
		}
		st := r.st
		st.Rank, st.Node, st.State = r.rank, j.Ranks[r.rank].Node, api.RankExited
		j.Ranks[r.rank] = st
		lr := &j.LC.Ranks[r.rank]
		lr.Up, lr.Live, lr.Exited, lr.ExitCode, lr.Signal = true, false, true, st.ExitCode, st.Signal
		j.rankKeys = append(j.rankKeys, r.key)
		j.rankAttempt = j.Attempt
	}
}
