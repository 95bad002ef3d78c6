package server

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/qunhq/qun/api"
	"github.com/qunhq/qun/internal/strictyaml"
)

// RunAsSpec is a queue's runAs in the queues file: the user (and group)
// the ranks of its jobs run as on every node.
type RunAsSpec struct {
	User  string `yaml:"user"`
	Group string `yaml:"group"`
}

var posixNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$|^[0-9]{1,10}$`)

// LoadQueueRunAs returns each queue's runAs from a queues file (queues
// without one are absent). Names are user and group names or numeric IDs;
// the agent resolves them.
func LoadQueueRunAs(file string, data []byte) (map[string]api.RunAs, error) {
	var f QueuesFile
	pos, err := strictyaml.Decode(file, data, &f)
	if err != nil {
		return nil, err
	}
	var probs strictyaml.Problems
	out := map[string]api.RunAs{}
	for i, q := range f.Queues {
		if q.RunAs == nil {
			continue
		}
		field := fmt.Sprintf("queues[%d].runAs", i)
		if !posixNameRE.MatchString(q.RunAs.User) {
			probs = append(probs, pos.At(field+".user", "%q is not a user name or ID (lower-case letters, digits, '_' and '-', or a number)", q.RunAs.User))
		}
		if q.RunAs.Group != "" && !posixNameRE.MatchString(q.RunAs.Group) {
			probs = append(probs, pos.At(field+".group", "%q is not a group name or ID", q.RunAs.Group))
		}
		out[q.Name] = api.RunAs{User: q.RunAs.User, Group: q.RunAs.Group}
	}
	if len(probs) > 0 {
		return nil, probs.Sorted()
	}
	return out, nil
}

// runAs returns the runAs of queue: its own, else its nearest ancestor's.
// nil: none (the agent decides).
func (s *Server) runAs(queue string) *api.RunAs {
	for q := queue; q != ""; {
		if r, ok := s.cfg.RunAs[q]; ok {
			return &r
		}
		i := strings.LastIndexByte(q, '/')
		if i < 0 {
			break
		}
		q = q[:i]
	}
	return nil
}
