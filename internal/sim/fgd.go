package sim

import (
	"fmt"
	"math/rand"
	"sort"
	"strings"

	"github.com/qunhq/qun/internal/sched"
	"github.com/qunhq/qun/internal/sim/trace"
)

// FGDSetup is the input of one run of the FGD paper's experiment, prepared
// exactly as its artifact does (see PrepareFGD).
type FGDSetup struct {
	// Jobs in arrival order: the pod list shuffled, then the tuning clones.
	Jobs []trace.Job
	// NodeOrder lists node indexes (into the name-sorted node list) in the
	// order that breaks score ties: by the artifact's permuted name prefix.
	NodeOrder []int
	// Nodes are the nodes sorted by name.
	Nodes []trace.Node
	// Typical is the workload the artifact's FGD measures against: the most
	// frequent pod shapes of the original list covering 95% of its pods.
	Typical *sched.Workload
	// Rand is the seeded source after the artifact's draws; policies draw
	// from it next.
	Rand *rand.Rand
	// CapacityMilli is the cluster's GPU capacity in thousandths.
	CapacityMilli int64
}

// PrepareFGD prepares the experiment for one seed. It draws from a
// math/rand source seeded with seed in the artifact's order: one Int, a
// Shuffle of the name-ordered pods, one Intn per tuning draw (including the
// draw that stops the tuning), and a Perm over the name-ordered nodes.
//
// Tuning appends uniformly drawn clones of the name-ordered pods until the
// next clone would push the requested total past ratio × capacity; like the
// artifact, the test compares the running total plus the clone's per-GPU
// share (not its whole request). A list already above the target loses
// uniformly drawn pods instead. ratio ≤ 0 skips tuning.
func PrepareFGD(nodes []trace.Node, pods []trace.Job, seed int64, ratio float64) (*FGDSetup, error) {
	if len(pods) == 0 {
		return nil, fmt.Errorf("the pod list is empty")
	}
	s := &FGDSetup{Nodes: append([]trace.Node(nil), nodes...)}
	sort.SliceStable(s.Nodes, func(a, b int) bool { return s.Nodes[a].Name < s.Nodes[b].Name })
	for _, n := range s.Nodes {
		s.CapacityMilli += int64(n.GPUs) * 1000
	}
	if s.CapacityMilli == 0 {
		return nil, fmt.Errorf("the node list has no GPUs")
	}
	byName := append([]trace.Job(nil), pods...)
	sort.SliceStable(byName, func(a, b int) bool { return byName[a].Name < byName[b].Name })
	s.Typical = TypicalWorkload(byName, 0.95)

	r := rand.New(rand.NewSource(seed))
	r.Int()
	list := append([]trace.Job(nil), byName...)
	r.Shuffle(len(list), func(i, j int) { list[i], list[j] = list[j], list[i] })
	var total int64
	for i := range list {
		total += list[i].TotalMilli()
	}
	if ratio > 0 {
		target := ratio * float64(s.CapacityMilli)
		switch {
		case float64(total) < target:
			for i := 0; ; i++ {
				c := byName[r.Intn(len(byName))]
				if float64(total+int64(c.GPUMilli)) > target {
					break
				}
				total += c.TotalMilli()
				c.Name = fmt.Sprintf("%s-tuned-%d", c.Name, i)
				list = append(list, c)
			}
		case float64(total) > target:
			for float64(total) > target && len(list) > 0 {
				i := r.Intn(len(list))
				total -= list[i].TotalMilli()
				list = append(list[:i], list[i+1:]...)
			}
		}
	}
	s.Jobs = list
	perm := r.Perm(len(s.Nodes))
	names := make([]string, len(s.Nodes))
	order := make([]int, len(s.Nodes))
	for i, n := range s.Nodes {
		// The artifact renames node i to "%04d-" + name with the permuted
		// index and breaks ties by the smallest name, so sorting the very
		// same strings reproduces its order (also past 9999 nodes, where
		// the prefix stops sorting numerically).
		names[i] = fmt.Sprintf("%04d-%s", perm[i], n.Name)
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return names[order[a]] < names[order[b]] })
	s.NodeOrder = order
	s.Rand = r
	return s, nil
}

// shapeKey is a pod shape as the FGD artifact counts them; CPU is the
// scheduler's non-zero request (0 counts as 100).
type shapeKey struct {
	cpu   int64
	milli int
	chips int
	kinds string
}

func keyOf(j *trace.Job) shapeKey {
	cpu := j.CPUMilli
	if cpu == 0 {
		cpu = 100
	}
	k := shapeKey{cpu: cpu, milli: j.GPUMilli, chips: j.GPUs, kinds: strings.Join(j.Models, "|")}
	if j.GPUs == 0 {
		k.milli = 0
	}
	return k
}

func (a shapeKey) less(b shapeKey) bool {
	switch {
	case a.cpu != b.cpu:
		return a.cpu < b.cpu
	case a.milli != b.milli:
		return a.milli < b.milli
	case a.chips != b.chips:
		return a.chips < b.chips
	}
	return a.kinds < b.kinds
}

// TypicalWorkload returns the most frequent pod shapes of jobs, by count,
// until they cover the fraction cover of all jobs (CPU-only jobs
// included), with weights renormalised to sum to 1. Ties in count go to the
// larger shape, as in the FGD artifact.
func TypicalWorkload(jobs []trace.Job, cover float64) *sched.Workload {
	counts := map[shapeKey]float64{}
	for i := range jobs {
		counts[keyOf(&jobs[i])]++
	}
	keys := make([]shapeKey, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool {
		ca, cb := counts[keys[a]], counts[keys[b]]
		if ca != cb {
			return ca > cb
		}
		return keys[b].less(keys[a])
	})
	total := float64(len(jobs))
	var cum float64
	n := 0
	for n < len(keys) && cum < cover*total {
		cum += counts[keys[n]]
		n++
	}
	w := &sched.Workload{}
	for _, k := range keys[:n] {
		var kinds []string
		if k.kinds != "" {
			kinds = strings.Split(k.kinds, "|")
		}
		chips := k.chips
		if k.milli == 0 {
			chips = 0
		}
		w.Shapes = append(w.Shapes, sched.WorkloadShape{Chips: chips, Milli: k.milli, CPUMilli: k.cpu,
			Kinds: kinds, Weight: counts[k] / cum})
	}
	return w
}
