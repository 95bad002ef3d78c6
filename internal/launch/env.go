package launch

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/qunhq/qun/internal/pool"
)

// EnvOptions tune the environment.
type EnvOptions struct {
	// MasterPort is MASTER_PORT; default 29500.
	MasterPort int
	// RankTableFile, when set, is exported as RANK_TABLE_FILE to workers of
	// HCCL chips (the path the agent writes hccl.json to).
	RankTableFile string
}

// Env returns each worker's environment, torchrun style, in rank order:
//
//	MASTER_ADDR, MASTER_PORT  rank 0's host and the rendezvous port
//	WORLD_SIZE, RANK          all workers, this worker's global rank
//	LOCAL_RANK                index within its group (scheduler rank)
//	LOCAL_WORLD_SIZE          workers of its group
//	GROUP_RANK                index of its group
//	NODE_RANK                 index of its host among the job's hosts
//	CUDA_VISIBLE_DEVICES      NCCL chips: the group's device indices in
//	  or ASCEND_RT_VISIBLE_DEVICES  local-rank order (HCCL chips), so that
//	                          LOCAL_RANK indexes the visible devices
//	RANK_ID, RANK_SIZE        HCCL chips: Ascend's names for RANK and WORLD_SIZE
//	RANK_TABLE_FILE           HCCL chips, when EnvOptions.RankTableFile is set
//
// Workers without a chip get no device variable.
func Env(tb *Table, addr Addressing, opts EnvOptions) []map[string]string {
	port := opts.MasterPort
	if port == 0 {
		port = 29500
	}
	hostIdx := map[pool.DomainID]int{}
	for i, h := range tb.Hosts {
		hostIdx[h] = i
	}
	master := addr.HostIP(tb.Workers[0].Host)
	out := make([]map[string]string, len(tb.Workers))
	for g, r := range tb.Groups {
		var devs []string
		for _, w := range tb.Workers[r[0]:r[1]] {
			if w.Device >= 0 {
				devs = append(devs, strconv.Itoa(w.Device))
			}
		}
		for _, w := range tb.Workers[r[0]:r[1]] {
			e := map[string]string{
				"MASTER_ADDR":      master,
				"MASTER_PORT":      strconv.Itoa(port),
				"WORLD_SIZE":       strconv.Itoa(len(tb.Workers)),
				"RANK":             strconv.Itoa(w.Rank),
				"LOCAL_RANK":       strconv.Itoa(w.LocalRank),
				"LOCAL_WORLD_SIZE": strconv.Itoa(r[1] - r[0]),
				"GROUP_RANK":       strconv.Itoa(g),
				"NODE_RANK":        strconv.Itoa(hostIdx[w.Host]),
			}
			switch w.Family {
			case pool.FamilyHCCL:
				e["ASCEND_RT_VISIBLE_DEVICES"] = strings.Join(devs, ",")
				e["RANK_ID"] = e["RANK"]
				e["RANK_SIZE"] = e["WORLD_SIZE"]
				if opts.RankTableFile != "" {
					e["RANK_TABLE_FILE"] = opts.RankTableFile
				}
			case pool.FamilyNCCL:
				e["CUDA_VISIBLE_DEVICES"] = strings.Join(devs, ",")
			}
			out[w.Rank] = e
		}
	}
	return out
}

// FormatEnv writes environments as text: one block per worker headed by
// "# rank N on HOST", variables sorted, as KEY=VALUE lines.
func FormatEnv(tb *Table, envs []map[string]string) string {
	var b strings.Builder
	for i, e := range envs {
		fmt.Fprintf(&b, "# rank %d on %s\n", i, tb.Workers[i].HostPath)
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s\n", k, e[k])
		}
	}
	return b.String()
}
