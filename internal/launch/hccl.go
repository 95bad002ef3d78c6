package launch

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/qunhq/qun/internal/pool"
)

// RankTable is an HCCL rank table (hccl.json) as Ascend's HCCL reads it:
// every value is a string. Version "1.0" has servers and devices;
// version "1.2" adds each device's super_device_id and the super_pod_list,
// for pools whose topology has a supernode level.
type RankTable struct {
	Version      string     `json:"version"`
	ServerCount  string     `json:"server_count"`
	ServerList   []Server   `json:"server_list"`
	SuperPodList []SuperPod `json:"super_pod_list,omitempty"`
	Status       string     `json:"status"`
}

// Server is one host of a rank table.
type Server struct {
	ServerID  string   `json:"server_id"`
	HostIP    string   `json:"host_ip,omitempty"`
	Device    []Device `json:"device"`
	HostNicIP string   `json:"host_nic_ip"`
}

// Device is one NPU of a rank table.
type Device struct {
	DeviceID      string `json:"device_id"`
	DeviceIP      string `json:"device_ip"`
	SuperDeviceID string `json:"super_device_id,omitempty"`
	RankID        string `json:"rank_id"`
}

// SuperPod lists the servers of one supernode.
type SuperPod struct {
	SuperPodID string          `json:"super_pod_id"`
	ServerList []SuperPodEntry `json:"server_list"`
}

// SuperPodEntry names a server of a supernode.
type SuperPodEntry struct {
	ServerID string `json:"server_id"`
}

// SuperPodLevel returns the level whose domains are supernodes: the
// innermost level above the host level whose name starts with "super"
// (supernode, superpod), or -1 when the pool has none.
func SuperPodLevel(t *pool.Topology) int {
	for l := t.HostLevel - 1; l >= 0; l-- {
		if strings.HasPrefix(strings.ToLower(t.Levels[l].Name), "super") {
			return l
		}
	}
	return -1
}

// HCCL builds the rank table of tb: servers in the order of their first
// rank, devices in rank order. Every worker must hold a whole HCCL chip.
// Supernode ids are the supernode's index among the pool's supernodes and
// super_device_id the chip's index inside its supernode.
func HCCL(tb *Table, addr Addressing) (*RankTable, error) {
	t := tb.Topology
	sp := SuperPodLevel(t)
	rt := &RankTable{Version: "1.0", Status: "completed"}
	if sp >= 0 {
		rt.Version = "1.2"
	}
	server := map[pool.DomainID]int{}
	spIndex := map[pool.DomainID]int{}
	if sp >= 0 {
		for i, d := range t.DomainsAt(sp) {
			spIndex[d] = i
		}
	}
	spOf := map[pool.DomainID]int{} // super pod domain -> index in SuperPodList
	for _, w := range tb.Workers {
		if w.Chip < 0 || w.Family != pool.FamilyHCCL || w.Milli != pool.Full {
			return nil, fmt.Errorf("rank %d: an HCCL rank table needs a whole HCCL chip per rank, got %s", w.Rank, describe(w))
		}
		i, ok := server[w.Host]
		if !ok {
			i = len(rt.ServerList)
			server[w.Host] = i
			ip := addr.HostIP(w.Host)
			s := Server{ServerID: ip, HostNicIP: "reserve"}
			if sp >= 0 {
				s.HostIP = ip
				d := t.Ancestor(w.Host, sp)
				j, ok := spOf[d]
				if !ok {
					j = len(rt.SuperPodList)
					spOf[d] = j
					rt.SuperPodList = append(rt.SuperPodList, SuperPod{SuperPodID: strconv.Itoa(spIndex[d])})
				}
				rt.SuperPodList[j].ServerList = append(rt.SuperPodList[j].ServerList, SuperPodEntry{ServerID: ip})
			}
			rt.ServerList = append(rt.ServerList, s)
		}
		dev := Device{DeviceID: strconv.Itoa(w.Device), DeviceIP: addr.DeviceIP(w.Host, w.Device), RankID: strconv.Itoa(w.Rank)}
		if sp >= 0 {
			lo, _ := t.ChipRange(t.Ancestor(w.Host, sp))
			dev.SuperDeviceID = strconv.Itoa(int(w.Chip - lo))
		}
		rt.ServerList[i].Device = append(rt.ServerList[i].Device, dev)
	}
	rt.ServerCount = strconv.Itoa(len(rt.ServerList))
	return rt, nil
}

// JSON returns the rank table as indented JSON, as written to hccl.json.
func (rt *RankTable) JSON() []byte {
	b, err := json.MarshalIndent(rt, "", "  ")
	if err != nil {
		panic(err) // only strings: cannot fail
	}
	return append(b, '\n')
}

func describe(w Worker) string {
	switch {
	case w.Chip < 0:
		return "no chip"
	case w.Milli != pool.Full:
		return fmt.Sprintf("%d thousandths of a %s", w.Milli, w.Kind)
	}
	return fmt.Sprintf("a %s (%s)", w.Kind, w.Family)
}
