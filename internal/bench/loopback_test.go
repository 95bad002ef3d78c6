package bench

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"
)

// BenchmarkLoopbackRoundTrip is the floor under qun bench api's comparison
// of authentication on and off: the CPU of one request/answer round trip
// over loopback (a 400-byte request, a 900-byte answer, as a submission and
// its answer) from 128 connections, plain TCP and TLS 1.3 with a P-256
// certificate, both ends in this process. It reports cpu-µs/op (user and
// system, both ends):
//
//	go test ./internal/bench -run '^$' -bench LoopbackRoundTrip -benchtime 100000x
func BenchmarkLoopbackRoundTrip(b *testing.B) {
	cert := loopbackCert(b)
	for _, secure := range []bool{false, true} {
		name := "plain"
		if secure {
			name = "tls"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					if secure {
						c = tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
					}
					go func() {
						defer c.Close()
						req, answer := make([]byte, 400), make([]byte, 900)
						for {
							if _, err := io.ReadFull(c, req); err != nil {
								return
							}
							if _, err := c.Write(answer); err != nil {
								return
							}
						}
					}()
				}
			}()
			conns := make([]net.Conn, 128)
			for i := range conns {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				if secure {
					tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}) // the test's own certificate
					if err := tc.Handshake(); err != nil {
						b.Fatal(err)
					}
					c = tc
				}
				conns[i] = c
				defer c.Close()
			}
			reqs, answers := make([][]byte, len(conns)), make([][]byte, len(conns))
			for i := range conns {
				reqs[i], answers[i] = make([]byte, 400), make([]byte, 900)
			}
			roundTrips(b, len(conns), func(i int) error {
				req, answer := reqs[i], answers[i]
				if _, err := conns[i].Write(req); err != nil {
					return err
				}
				_, err := io.ReadFull(conns[i], answer)
				return err
			})
		})
	}
}

// loopbackCert is a self-signed P-256 certificate for 127.0.0.1.
func loopbackCert(b *testing.B) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// roundTrips runs b.N round trips (op on connection i), an equal share on
// each of conns connections at once, and reports the process's CPU time
// per round trip (cpu-µs/op). The first error fails the benchmark.
func roundTrips(b *testing.B, conns int, op func(i int) error) {
	per := max(1, b.N/conns)
	b.ResetTimer()
	cpu0 := processCPU()
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(per*conns), "cpu-µs/op")
}
