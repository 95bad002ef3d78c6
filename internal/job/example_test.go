package job_test

import (
	"errors"
	"fmt"

	"github.com/qunhq/qun/internal/job"
	"github.com/qunhq/qun/internal/pool"
	"github.com/qunhq/qun/internal/strictyaml"
)

func ExampleLoad() {
	data := []byte(`apiVersion: qun/v1
kind: Job
name: quick
chips: 8
duration: 1h
command: [python, train.py]
`)
	spec, err := job.Load("quick.yaml", data, pool.DefaultCatalog())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(spec.Queue, spec.Ranks, "ranks of", spec.ChipsPerRank, "chip for", spec.Duration)
	fmt.Printf("%+v\n", spec.Plan())
	// Output:
	// default 8 ranks of 1 chip for 1h
	// {Tensor:1 Pipeline:1 Data:8 Expert:1}
}

func ExampleLoad_problems() {
	data := []byte(`apiVersion: qun/v1
kind: Job
name: big
chips: 64
chipsPerRank: 8
accept: {kinds: [910X]}
parallelism: {tensor: 8, pipeline: 3}
command: [python, train.py]
`)
	_, err := job.Load("big.yaml", data, pool.DefaultCatalog())
	fmt.Println(errors.Is(err, strictyaml.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// big.yaml:6:18: accept.kinds[0]: unknown chip kind "910X" (known: 910, 910B, 910C, 950DT, H100, H20, H200)
	// big.yaml:7:1: parallelism: tensor × pipeline = 8 × 3 = 24 does not divide the job's 64 chips, so data parallelism cannot be derived
}

func ExampleSpec_Validate() {
	// A spec from JSON or Go has no positions; problems name the field.
	s := job.Spec{APIVersion: job.APIVersion, Kind: job.Kind, Name: "serve", Ranks: 3, ChipsPerRank: 1500, Command: []string{"serve"}}
	fmt.Println(s.Validate(nil, nil))
	// Output:
	// chipsPerRank: 1.5 is not allowed (allowed: a whole number of chips from 1 to 64, or a fraction between 0 and 1 in thousandths such as 0.25)
}
