package capture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/socktrace/socktrace/internal/gencap"
)

// benchPcap returns a generated pcap of conns short loopback connections
// (gencap.PacketsPerConnection small TCP packets each).
func benchPcap(tb testing.TB, conns int) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := gencap.Write(&buf, gencap.Options{Connections: conns, Seed: 1}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// benchPcapng is benchPcap converted to pcapng by PcapngWriter.
func benchPcapng(tb testing.TB, conns int) []byte {
	tb.Helper()
	r, err := NewFileReader(bytes.NewReader(benchPcap(tb, conns)))
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, PcapngWriterOptions{Application: "socktrace test"})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := w.AddInterface(Interface{Name: "lo", LinkType: r.LinkType(), SnapLen: MaxSnapLen}); err != nil {
		tb.Fatal(err)
	}
	var p Packet
	for {
		if err := r.ReadPacket(&p); err == io.EOF {
			break
		} else if err != nil {
			tb.Fatal(err)
		}
		if err := w.WritePacket(&p); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

const benchConns = 10000 // 100k packets

func benchRead(b *testing.B, data []byte) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var p Packet
	n := 0
	for b.Loop() {
		r, err := NewFileReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		for {
			if err := r.ReadPacket(&p); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
}

// BenchmarkReadPcap reads a 100k-packet pcap from memory; ns/op is per
// file, ns/packet and packets/s per packet. The allocations per op are the
// reader's one-time buffer, none per packet.
func BenchmarkReadPcap(b *testing.B) { benchRead(b, benchPcap(b, benchConns)) }

// BenchmarkReadPcapng is BenchmarkReadPcap on the same packets as pcapng.
func BenchmarkReadPcapng(b *testing.B) { benchRead(b, benchPcapng(b, benchConns)) }

// BenchmarkReadPcapFile reads the 100k-packet pcap from a file with
// OpenFile, read(2) calls included.
func BenchmarkReadPcapFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.pcap")
	if err := os.WriteFile(path, benchPcap(b, benchConns), 0o644); err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(path)
	b.SetBytes(fi.Size())
	b.ReportAllocs()
	var p Packet
	n := 0
	for b.Loop() {
		r, err := OpenFile(path)
		if err != nil {
			b.Fatal(err)
		}
		for r.ReadPacket(&p) == nil {
			n++
		}
		r.Close()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
}

// BenchmarkWritePcapng writes the 100k packets as pcapng to io.Discard.
func BenchmarkWritePcapng(b *testing.B) {
	r, err := NewFileReader(bytes.NewReader(benchPcap(b, benchConns)))
	if err != nil {
		b.Fatal(err)
	}
	var pkts []Packet
	var p Packet
	for r.ReadPacket(&p) == nil {
		q := p
		q.Data = bytes.Clone(p.Data)
		pkts = append(pkts, q)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		w, err := NewPcapngWriter(io.Discard, PcapngWriterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		w.AddInterface(Interface{LinkType: r.LinkType()})
		for i := range pkts {
			if err := w.WritePacket(&pkts[i]); err != nil {
				b.Fatal(err)
			}
		}
		w.Close()
		n += len(pkts)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
}
