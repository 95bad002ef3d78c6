package place_test

import (
	"fmt"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/place"
	"github.com/qunhq/qun/internal/pool"
)

func Example() {
	topo, err := pool.LoadFile("../../examples/pools/dgx-h100-superpod.yaml")
	if err != nil {
		panic(err)
	}
	st := pool.NewState(topo)
	j := &place.Request{ID: "train", Ranks: 32, RankMilli: 1000, Plan: job.Parallelism{Tensor: 8, Data: 4}}
	d := place.New(place.Options{}).Decide(j, st, place.Env{})
	fmt.Println(d.Kind, "in", d.Level, d.Domain)
	for _, it := range d.Step.Items {
		fmt.Printf("%s: %s over %s\n", it.Collective, it.Algorithm, it.Level)
	}
	fmt.Printf("%.2f× the lower bound\n", d.Ratio)
	// Output:
	// H100 in su su0
	// tensor-allreduce: ring over node
	// data-allreduce: ring over su
	// 1.00× the lower bound
}
