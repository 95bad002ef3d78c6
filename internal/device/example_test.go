package device_test

import (
	"context"
	"fmt"
	"os"

	"github.com/qunhq/qun/internal/device"
)

func ExampleParseFakeSpec() {
	ds, err := device.ParseFakeSpec("H100:2,910C:1")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range ds {
		fmt.Println(d.Index, d.Kind, d.UUID, d.HBMMiB)
	}
	_, err = device.ParseFakeSpec("H100:0")
	fmt.Println(err)
	// Output:
	// 0 H100 fake-H100-0 81920
	// 1 H100 fake-H100-1 81920
	// 2 910C fake-910C-0 131072
	// fake device spec token 1 "H100:0": count "0": want an integer 1..1024 in KIND:COUNT
}

func ExampleNew() {
	d, err := device.New("fake", "910B:8")
	if err != nil {
		fmt.Println(err)
		return
	}
	ds, _ := d.Discover(context.Background())
	fmt.Println(d.Name(), len(ds), ds[7].Kind, ds[7].Index)
	// Output: fake 8 910B 7
}

// ExampleParseNPUSMI parses a recorded `npu-smi info` and `npu-smi info -m`
// of an Atlas A3 node: 8 modules of 910C, two dies each, 16 devices.
func ExampleParseNPUSMI() {
	info, _ := os.ReadFile("testdata/npu-smi-info-a3.txt")
	chipMap, _ := os.ReadFile("testdata/npu-smi-info-m-a3.txt")
	ds, err := device.ParseNPUSMI(info, chipMap)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(ds), "devices")
	for _, d := range ds[:3] {
		fmt.Println(d.Index, d.Kind, d.UUID, d.HBMMiB, d.Healthy)
	}
	// Output:
	// 16 devices
	// 0 910C ascend-0000:9D:00.0 65536 true
	// 1 910C ascend-0000:9F:00.0 65536 true
	// 2 910C ascend-0000:99:00.0 65536 true
}
