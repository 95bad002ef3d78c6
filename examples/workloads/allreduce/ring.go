package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"
)

// Wire format of the data plane. Every frame is a fixed header, big enough
// to catch a desynchronised peer, then Count float64 values:
//
//	magic  uint32  "QAR1"
//	kind   uint32  frameHello or frameChunk
//	seq    uint64  collective number (hello: the sender's rank)
//	chunk  uint32  chunk index within the vector
//	count  uint32  number of float64 values that follow
//	values count × float64 (IEEE 754 bits)
//
// All integers and values are little-endian (encoding/binary).
const (
	frameMagic    = 0x31524151 // "QAR1" little-endian
	frameHello    = 1
	frameChunk    = 2
	maxFrameCount = 1 << 24 // 128 MiB of float64 per frame
)

type frameHeader struct {
	Magic uint32
	Kind  uint32
	Seq   uint64
	Chunk uint32
	Count uint32
}

const frameHeaderSize = 24

func writeFrame(w *bufio.Writer, h frameHeader, vals []float64) error {
	h.Magic = frameMagic
	h.Count = uint32(len(vals))
	var hb [frameHeaderSize]byte
	binary.LittleEndian.PutUint32(hb[0:], h.Magic)
	binary.LittleEndian.PutUint32(hb[4:], h.Kind)
	binary.LittleEndian.PutUint64(hb[8:], h.Seq)
	binary.LittleEndian.PutUint32(hb[16:], h.Chunk)
	binary.LittleEndian.PutUint32(hb[20:], h.Count)
	if _, err := w.Write(hb[:]); err != nil {
		return err
	}
	var vb [8]byte
	for _, v := range vals {
		binary.LittleEndian.PutUint64(vb[:], math.Float64bits(v))
		if _, err := w.Write(vb[:]); err != nil {
			return err
		}
	}
	return w.Flush()
}

// readFrame reads one frame into buf (grown as needed) and returns the
// header and the values.
func readFrame(r io.Reader, buf []float64) (frameHeader, []float64, error) {
	var hb [frameHeaderSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return frameHeader{}, nil, err
	}
	h := frameHeader{
		Magic: binary.LittleEndian.Uint32(hb[0:]),
		Kind:  binary.LittleEndian.Uint32(hb[4:]),
		Seq:   binary.LittleEndian.Uint64(hb[8:]),
		Chunk: binary.LittleEndian.Uint32(hb[16:]),
		Count: binary.LittleEndian.Uint32(hb[20:]),
	}
	if h.Magic != frameMagic {
		return h, nil, fmt.Errorf("bad frame magic %#x: peer is not an allreduce rank", h.Magic)
	}
	if h.Count > maxFrameCount {
		return h, nil, fmt.Errorf("frame of %d values exceeds the limit of %d", h.Count, maxFrameCount)
	}
	if cap(buf) < int(h.Count) {
		buf = make([]float64, h.Count)
	}
	buf = buf[:h.Count]
	var vb [8]byte
	for i := range buf {
		if _, err := io.ReadFull(r, vb[:]); err != nil {
			return h, nil, fmt.Errorf("frame cut after %d of %d values: %w", i, h.Count, err)
		}
		buf[i] = math.Float64frombits(binary.LittleEndian.Uint64(vb[:]))
	}
	return h, buf, nil
}

// ring is this rank's place in the ring: it sends to rank+1 and receives
// from rank−1 (mod world). Not safe for concurrent use.
type ring struct {
	rank, world int
	next, prev  net.Conn
	w           *bufio.Writer
	r           *bufio.Reader
	seq         uint64
	timeout     time.Duration
	buf         []float64
}

// connectRing dials next's address and accepts prev's connection on ln,
// each side announcing itself with a hello frame, retrying the dial until
// deadline.
func connectRing(ln net.Listener, addrs []string, rank int, deadline time.Time, timeout time.Duration) (*ring, error) {
	world := len(addrs)
	nextRank, prevRank := (rank+1)%world, (rank-1+world)%world
	type accepted struct {
		c   net.Conn
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		for {
			if tl, ok := ln.(*net.TCPListener); ok {
				tl.SetDeadline(deadline)
			}
			c, err := ln.Accept()
			if err != nil {
				acc <- accepted{err: fmt.Errorf("waiting for rank %d to connect: %w", prevRank, err)}
				return
			}
			c.SetDeadline(deadline)
			h, _, err := readFrame(c, nil)
			if err != nil || h.Kind != frameHello || h.Seq != uint64(prevRank) {
				c.Close() // a stray or wrong peer; keep waiting for the right one
				continue
			}
			c.SetDeadline(time.Time{})
			acc <- accepted{c: c}
			return
		}
	}()
	next, err := dialRetry(addrs[nextRank], deadline)
	if err != nil {
		ln.Close()
		<-acc
		return nil, fmt.Errorf("connecting to rank %d at %s: %w", nextRank, addrs[nextRank], err)
	}
	w := bufio.NewWriter(next)
	next.SetDeadline(deadline)
	if err := writeFrame(w, frameHeader{Kind: frameHello, Seq: uint64(rank)}, nil); err != nil {
		next.Close()
		ln.Close()
		<-acc
		return nil, fmt.Errorf("hello to rank %d: %w", nextRank, err)
	}
	next.SetDeadline(time.Time{})
	a := <-acc
	if a.err != nil {
		next.Close()
		return nil, a.err
	}
	return &ring{rank: rank, world: world, next: next, prev: a.c, w: w, r: bufio.NewReader(a.c), timeout: timeout}, nil
}

// dialRetry dials addr with exponential backoff (50 ms doubling to 1 s)
// until deadline.
func dialRetry(addr string, deadline time.Time) (net.Conn, error) {
	backoff := 50 * time.Millisecond
	for {
		d := net.Dialer{Deadline: deadline}
		c, err := d.Dial("tcp", addr)
		if err == nil {
			return c, nil
		}
		if time.Now().Add(backoff).After(deadline) {
			return nil, err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
}

func (rg *ring) Close() error {
	return errors.Join(rg.next.Close(), rg.prev.Close())
}

// chunkBounds splits n values into world nearly equal chunks; chunk i is
// [i·n/world, (i+1)·n/world). Chunks are empty when n < world.
func chunkBounds(n, world, i int) (lo, hi int) {
	return i * n / world, (i + 1) * n / world
}

// allReduceSum replaces v on every rank by the element-wise sum of v over
// all ranks: a reduce-scatter (world−1 steps, after which rank r holds the
// full sum of chunk r+1) then an all-gather (world−1 steps passing the
// finished chunks round). Every rank ends with bit-identical values. Each
// step sends and receives at once, so any vector size is safe.
func (rg *ring) allReduceSum(v []float64) error {
	if rg == nil || rg.world == 1 {
		return nil
	}
	rg.seq++
	dl := time.Now().Add(rg.timeout)
	rg.next.SetDeadline(dl)
	rg.prev.SetDeadline(dl)
	n, W, r := len(v), rg.world, rg.rank
	for phase := range 2 {
		for s := range W - 1 {
			sendIdx, recvIdx := (r-s+W)%W, (r-s-1+W)%W
			if phase == 1 {
				sendIdx, recvIdx = (r+1-s+W)%W, (r-s+W)%W
			}
			slo, shi := chunkBounds(n, W, sendIdx)
			sent := make(chan error, 1)
			go func() {
				sent <- writeFrame(rg.w, frameHeader{Kind: frameChunk, Seq: rg.seq, Chunk: uint32(sendIdx)}, v[slo:shi])
			}()
			h, vals, err := readFrame(rg.r, rg.buf)
			if err == nil {
				rg.buf = vals
				rlo, rhi := chunkBounds(n, W, recvIdx)
				switch {
				case h.Kind != frameChunk || h.Seq != rg.seq || int(h.Chunk) != recvIdx || len(vals) != rhi-rlo:
					err = fmt.Errorf("out of step: got kind %d collective %d chunk %d (%d values), want collective %d chunk %d (%d values)",
						h.Kind, h.Seq, h.Chunk, len(vals), rg.seq, recvIdx, rhi-rlo)
				case phase == 0:
					for i, x := range vals {
						v[rlo+i] += x
					}
				default:
					copy(v[rlo:rhi], vals)
				}
			}
			if serr := <-sent; err == nil && serr != nil {
				err = fmt.Errorf("send to rank %d: %w", (r+1)%W, serr)
			} else if err != nil {
				err = fmt.Errorf("receive from rank %d: %w", (r-1+W)%W, err)
			}
			if err != nil {
				return fmt.Errorf("all-reduce %d: %w", rg.seq, err)
			}
		}
	}
	return nil
}
