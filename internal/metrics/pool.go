package metrics

import (
	"github.com/qunhq/qun/internal/pool"
)

// Slurm's state words, used for chips (idle, alloc, drain, down) and nodes
// (all five).
const (
	StateIdle  = "idle"  // nothing allocated
	StateAlloc = "alloc" // everything allocated (a chip: any share of it)
	StateMix   = "mix"   // a node with some chips allocated and some idle
	StateDrain = "drain" // takes no new work (cordoned or draining)
	StateDown  = "down"  // no ready agent, or the device reports a fault
)

// ChipStates lists the chip state words in the order metrics report them.
var ChipStates = []string{StateIdle, StateAlloc, StateDrain, StateDown}

// NodeStates lists the node state words in the order metrics report them.
var NodeStates = []string{StateIdle, StateMix, StateAlloc, StateDrain, StateDown}

// SlurmNodeState is the word a Slurm user reads for a node: down when it has
// no ready agent, drain when it takes no new work, else idle, mix or alloc
// by how many of its total chips have any share allocated.
func SlurmNodeState(ready, drain bool, used, total int) string {
	switch {
	case !ready:
		return StateDown
	case drain:
		return StateDrain
	case used == 0:
		return StateIdle
	case used >= total:
		return StateAlloc
	}
	return StateMix
}

// LevelFigures are the pool figures of one topology level.
type LevelFigures struct {
	Level string
	// FreeChips counts the chips of the level's fully free domains: what a
	// gang that wants whole domains of this level can have.
	FreeChips int
	// Fragmentation is 1 − Σ largest free block / Σ free chips over the
	// level's domains (0 when nothing is free): the share of free chips
	// that lie outside the largest fully free aligned block of their
	// domain. 0 means every domain's free chips form one block.
	Fragmentation float64
	// LargestGang is, per chip kind name, the most fully free chips of the
	// kind inside one domain of the level: the largest gang of that kind
	// that could be placed within one domain, before shape rules.
	LargestGang map[string]int
}

// PoolFigures computes the figures of every level of st's topology in one
// pass over the domains. It reads only st.
func PoolFigures(st *pool.State) []LevelFigures {
	t := st.Topology()
	out := make([]LevelFigures, len(t.Levels))
	blocks := make([]int, len(t.Levels))
	free := make([]int, len(t.Levels))
	for i, l := range t.Levels {
		out[i] = LevelFigures{Level: l.Name, LargestGang: map[string]int{}}
	}
	for d := pool.DomainID(0); int(d) < t.NumDomains(); d++ {
		lvl := t.LevelOf(d)
		f := st.FreeChips(d)
		free[lvl] += f
		blocks[lvl] += st.LargestFreeBlock(d)
		if f == t.Size(d) {
			out[lvl].FreeChips += f
		}
		for k := range t.Kinds {
			if t.KindCount(d, pool.KindID(k)) == 0 {
				continue
			}
			name := t.Kinds[k].Name
			out[lvl].LargestGang[name] = max(out[lvl].LargestGang[name], st.FreeChipsOfKind(d, pool.KindID(k)))
		}
	}
	for i := range out {
		if free[i] > 0 {
			out[i].Fragmentation = 1 - float64(blocks[i])/float64(free[i])
		}
	}
	return out
}
