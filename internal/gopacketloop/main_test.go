package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/socktrace/socktrace/internal/gencap"
)

// TestCount checks the reference loop against captures whose contents are
// known: tcpdump's handshake capture (one connection, 11 packets) and a
// generated one.
func TestCount(t *testing.T) {
	if _, err := os.Stat("../../testdata/handshake.pcap"); err == nil {
		st, err := count("../../testdata/handshake.pcap")
		if err != nil || st != (stats{packets: 11, tcp: 11, tuples: 1}) {
			t.Errorf("handshake.pcap: %+v, %v; want 11 packets, 11 TCP, 1 tuple", st, err)
		}
	}
	path := filepath.Join(t.TempDir(), "gen.pcap")
	if err := gencap.WriteFile(path, gencap.Options{Connections: 300, ClientPorts: 100, Interleave: 8}); err != nil {
		t.Fatal(err)
	}
	st, err := count(path)
	if err != nil || st != (stats{packets: 3000, tcp: 3000, tuples: 100}) {
		t.Errorf("generated: %+v, %v; want 3000 packets, 3000 TCP, 100 tuples", st, err)
	}
}

// BenchmarkCount is the floor the replay benchmarks compare with, on the
// two shapes of traffic (see BenchmarkReplay in the main package).
func BenchmarkCount(b *testing.B) {
	for _, shape := range []struct {
		name string
		opt  gencap.Options
	}{
		{"reuse", gencap.Options{Connections: 100000, Interleave: 16}},
		{"parallel", gencap.Options{Connections: 100000, Interleave: 8, ClientPorts: 28232}},
	} {
		b.Run(shape.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "1M.pcap")
			if err := gencap.WriteFile(path, shape.opt); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := count(path); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*100000*gencap.PacketsPerConnection)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}
