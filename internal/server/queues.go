package server

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/strictyaml"
)

// QueuesFile is the queues file of `qun server --queues` (docs/operations.md).
type QueuesFile struct {
	Queues []QueueSpec `yaml:"queues"`
}

// QueueSpec is one queue as written: quotas are chips per chip kind ("*"
// for every kind not named), whole or fractional.
type QueueSpec struct {
	Name       string               `yaml:"name"` // path such as research/llm
	Weight     float64              `yaml:"weight"`
	Guaranteed map[string]job.Milli `yaml:"guaranteed"`
	Borrowing  map[string]job.Milli `yaml:"borrowing"`
	Lending    map[string]job.Milli `yaml:"lending"`
	RunAs      *RunAsSpec           `yaml:"runAs"` // runas.go
}

var queuePartRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// LoadQueues decodes a queues file. Every problem is reported with its line,
// as strictyaml.Problems.
func LoadQueues(file string, data []byte) ([]sched.Queue, error) {
	var f QueuesFile
	pos, err := strictyaml.Decode(file, data, &f)
	if err != nil {
		return nil, err
	}
	var probs strictyaml.Problems
	seen := map[string]bool{}
	var out []sched.Queue
	for i, q := range f.Queues {
		field := fmt.Sprintf("queues[%d]", i)
		bad := func(sub, format string, args ...any) {
			probs = append(probs, pos.At(field+sub, format, args...))
		}
		ok := q.Name != ""
		for _, part := range strings.Split(q.Name, "/") {
			ok = ok && len(part) <= 63 && queuePartRE.MatchString(part)
		}
		if !ok {
			bad(".name", "%q is not a queue path (names of lower-case letters, digits and '-', joined by '/')", q.Name)
		} else if seen[q.Name] {
			bad(".name", "queue %q is declared twice", q.Name)
		}
		seen[q.Name] = true
		if q.Weight < 0 || math.IsNaN(q.Weight) || q.Weight > 1e6 {
			bad(".weight", "%g is out of range (0 to 1000000; omit it for 1)", q.Weight)
		}
		sq := sched.Queue{Name: q.Name, Weight: q.Weight}
		if sq.Weight == 0 {
			sq.Weight = 1
		}
		if i := strings.LastIndexByte(q.Name, '/'); i > 0 {
			sq.Parent = q.Name[:i]
		}
		for _, m := range []struct {
			name string
			in   map[string]job.Milli
			out  *map[string]int64
		}{{"guaranteed", q.Guaranteed, &sq.Guaranteed}, {"borrowing", q.Borrowing, &sq.Borrowing}, {"lending", q.Lending, &sq.Lending}} {
			if m.in == nil {
				continue
			}
			*m.out = map[string]int64{}
			for k, v := range m.in {
				if v < 0 {
					bad("."+m.name+"."+k, "%s is negative", v)
				}
				(*m.out)[k] = int64(v)
			}
		}
		out = append(out, sq)
	}
	if len(probs) > 0 {
		return nil, probs.Sorted()
	}
	return out, nil
}
