package comm_test

import (
	"fmt"

	"github.com/qunhq/qun/internal/comm"
)

// cluster is a tiny Fabric: 2 nodes of 8 chips; chip c sits in node c/8.
type cluster struct{}

func (cluster) Levels() []comm.Level {
	return []comm.Level{
		{Name: "cluster", BandwidthGBps: 50, LatencyUs: 10},
		{Name: "node", BandwidthGBps: 450, LatencyUs: 2},
	}
}

func (cluster) Domain(chip int32, lvl int) int32 {
	if lvl == 0 {
		return 0
	}
	return chip / 8
}

func Example() {
	var f cluster
	chips := []int32{3, 12, 0, 9, 15, 6, 1, 8, 14, 5, 11, 2, 7, 10, 4, 13}
	plan := comm.Plan{Tensor: 8, Data: 2}
	vol := comm.Volumes{TensorBytes: 2e9, DataBytes: 1e9}

	mapped := comm.MapRanks(f, chips, plan)
	fmt.Println("ranks 0-7 on", mapped[:8])
	for _, c := range [][]int32{chips, mapped} {
		est := comm.EstimateStep(f, c, plan, vol)
		fmt.Printf("%.4f s:", est.Seconds)
		for _, it := range est.Items {
			fmt.Printf(" %s %s over %s %.4f;", it.Collective, it.Algorithm, it.Level, it.Seconds)
		}
		fmt.Println()
	}
	// Output:
	// ranks 0-7 on [0 1 2 3 4 5 6 7]
	// 0.0367 s: tensor-allreduce hierarchical over cluster 0.0167; data-allreduce ring over cluster 0.0200;
	// 0.0278 s: tensor-allreduce ring over node 0.0078; data-allreduce ring over cluster 0.0200;
}
