package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"
)

// Control-plane messages, one JSON object per line on the rendezvous
// connection from a rank to rank 0.
type registration struct {
	Rank      int    `json:"rank"`
	WorldSize int    `json:"world_size"`
	Addr      string `json:"addr"`    // the rank's data listener
	Problem   string `json:"problem"` // seed, samples, features: must agree
	Steps     []int  `json:"steps"`   // steps of the rank's usable checkpoints
}

type assignment struct {
	Addrs      []string `json:"addrs,omitempty"` // data address of each rank
	ResumeStep int      `json:"resume_step"`     // latest checkpoint all ranks have; 0: none
	Error      string   `json:"error,omitempty"`
}

// rendezvous is what a rank learns from the rendezvous.
type rendezvous struct {
	ln         net.Listener // this rank's data listener
	addrs      []string
	resumeStep int
}

// rdzvParams are the inputs of the rendezvous.
type rdzvParams struct {
	rank, world int
	master      string // MASTER_ADDR:MASTER_PORT
	bind        string // host for the data listener; "" picks one
	problem     string
	steps       []int
	deadline    time.Time
	log         *slog.Logger
}

// doRendezvous opens this rank's data listener and exchanges addresses and
// checkpoint steps through rank 0. Rank 0 listens on the master address;
// the others dial it with backoff until the deadline. The data listener
// binds to p.bind, else to the address this rank reaches the master from
// (rank 0: the master host).
func doRendezvous(p rdzvParams) (*rendezvous, error) {
	if p.rank == 0 {
		return rendezvousMaster(p)
	}
	conn, err := dialRetry(p.master, p.deadline)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: cannot reach rank 0 at %s: %w", p.master, err)
	}
	defer conn.Close()
	conn.SetDeadline(p.deadline)
	host := p.bind
	if host == "" {
		host = conn.LocalAddr().(*net.TCPAddr).IP.String()
	}
	ln, addr, err := listenData(host)
	if err != nil {
		return nil, err
	}
	reg := registration{Rank: p.rank, WorldSize: p.world, Addr: addr, Problem: p.problem, Steps: p.steps}
	if err := json.NewEncoder(conn).Encode(reg); err != nil {
		ln.Close()
		return nil, fmt.Errorf("rendezvous: register with rank 0: %w", err)
	}
	var a assignment
	if err := json.NewDecoder(conn).Decode(&a); err != nil {
		ln.Close()
		return nil, fmt.Errorf("rendezvous: no answer from rank 0: %w", err)
	}
	if a.Error != "" {
		ln.Close()
		return nil, fmt.Errorf("rendezvous: rank 0 refused: %s", a.Error)
	}
	if len(a.Addrs) != p.world {
		ln.Close()
		return nil, fmt.Errorf("rendezvous: rank 0 sent %d addresses for world size %d", len(a.Addrs), p.world)
	}
	return &rendezvous{ln: ln, addrs: a.Addrs, resumeStep: a.ResumeStep}, nil
}

// listenData opens a data listener on host with an ephemeral port and
// returns it with the address to advertise.
func listenData(host string) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return nil, "", fmt.Errorf("data listener on %s: %w", host, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	return ln, net.JoinHostPort(host, fmt.Sprint(port)), nil
}

func rendezvousMaster(p rdzvParams) (*rendezvous, error) {
	mhost, _, err := net.SplitHostPort(p.master)
	if err != nil {
		return nil, fmt.Errorf("rendezvous: master address %q: %w", p.master, err)
	}
	host := p.bind
	if host == "" {
		host = mhost
	}
	dataLn, dataAddr, err := listenData(host)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*rendezvous, error) {
		dataLn.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", p.master)
	if err != nil {
		return fail(fmt.Errorf("rendezvous: rank 0 cannot listen on %s: %w", p.master, err))
	}
	defer ln.Close()
	ln.(*net.TCPListener).SetDeadline(p.deadline)

	addrs := make([]string, p.world)
	addrs[0] = dataAddr
	regs := map[int]registration{}
	conns := map[int]net.Conn{}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	refuse := func(c net.Conn, msg string) {
		json.NewEncoder(c).Encode(assignment{Error: msg})
	}
	for len(conns) < p.world-1 {
		c, err := ln.Accept()
		if err != nil {
			var missing []string
			for r := 1; r < p.world; r++ {
				if conns[r] == nil {
					missing = append(missing, fmt.Sprint(r))
				}
			}
			return fail(fmt.Errorf("rendezvous: ranks %s did not register with rank 0 at %s: %w", strings.Join(missing, ","), p.master, err))
		}
		c.SetDeadline(p.deadline)
		var reg registration
		if err := json.NewDecoder(c).Decode(&reg); err != nil {
			p.log.Warn("rendezvous: ignoring a connection that sent no registration", "from", c.RemoteAddr(), "err", err)
			c.Close()
			continue
		}
		var bad string
		switch {
		case reg.WorldSize != p.world:
			bad = fmt.Sprintf("rank %d has WORLD_SIZE=%d, rank 0 has %d", reg.Rank, reg.WorldSize, p.world)
		case reg.Rank < 1 || reg.Rank >= p.world:
			bad = fmt.Sprintf("rank %d is outside 1..%d", reg.Rank, p.world-1)
		case reg.Problem != p.problem:
			bad = fmt.Sprintf("rank %d trains %s, rank 0 trains %s", reg.Rank, reg.Problem, p.problem)
		}
		if bad != "" {
			refuse(c, bad)
			c.Close()
			for _, o := range conns {
				refuse(o, bad)
			}
			return fail(errors.New("rendezvous: " + bad))
		}
		if old := conns[reg.Rank]; old != nil {
			p.log.Warn("rendezvous: rank registered again; keeping the newer registration", "rank", reg.Rank)
			old.Close()
		}
		conns[reg.Rank] = c
		regs[reg.Rank] = reg
		addrs[reg.Rank] = reg.Addr
	}
	lists := [][]int{p.steps}
	for r := 1; r < p.world; r++ {
		lists = append(lists, regs[r].Steps)
	}
	resume := latestCommon(lists)
	for r := 1; r < p.world; r++ {
		if err := json.NewEncoder(conns[r]).Encode(assignment{Addrs: addrs, ResumeStep: resume}); err != nil {
			return fail(fmt.Errorf("rendezvous: answer rank %d: %w", r, err))
		}
	}
	return &rendezvous{ln: dataLn, addrs: slices.Clone(addrs), resumeStep: resume}, nil
}
