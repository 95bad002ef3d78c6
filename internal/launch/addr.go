package launch

import (
	"fmt"

	"github.com/qunhq/qun/internal/pool"
)

// Addressing says where hosts and devices are reachable. Pool files carry
// no addresses: Placeholder derives stable ones from the topology, and an
// agent that has discovered the real ones passes its own functions.
type Addressing struct {
	// HostIP returns the address of a host (server_id and host_ip in
	// hccl.json, MASTER_ADDR).
	HostIP func(host pool.DomainID) string
	// DeviceIP returns the address of a device's NIC (device_ip in
	// hccl.json).
	DeviceIP func(host pool.DomainID, device int) string
}

// Placeholder returns deterministic placeholder addresses for t: host i (its
// index in t.Hosts(), from 0) is 10.0.0.0 + i + 1, and chip c is
// 100.64.0.0 + c (the shared address space of RFC 6598, 4,194,304
// addresses). They are unique per pool and stable across runs, and are not
// meant to be routable: replace them with discovered ones.
func Placeholder(t *pool.Topology) Addressing {
	idx := make(map[pool.DomainID]int, len(t.Hosts()))
	for i, h := range t.Hosts() {
		idx[h] = i
	}
	return Addressing{
		HostIP: func(h pool.DomainID) string { return ipv4(10<<24 + uint32(idx[h]) + 1) },
		DeviceIP: func(h pool.DomainID, dev int) string {
			lo, hi := t.ChipRange(h)
			for c := lo; c < hi; c++ {
				if t.ChipIndex(c) == dev {
					return ipv4(100<<24 | 64<<16 + uint32(c)&(1<<22-1))
				}
			}
			return ""
		},
	}
}

func ipv4(v uint32) string {
	return fmt.Sprintf("%d.%d.%d.%d", v>>24, v>>16&255, v>>8&255, v&255)
}
