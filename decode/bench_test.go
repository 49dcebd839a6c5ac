package decode

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/internal/gencap"
)

// benchPackets generates a capture of n connections in memory and returns
// its packets, each with its own copy of the bytes.
func benchPackets(b *testing.B, conns int) []capture.Packet {
	b.Helper()
	var buf bytes.Buffer
	if err := gencap.Write(&buf, gencap.Options{Connections: conns, Interleave: 8}); err != nil {
		b.Fatal(err)
	}
	r, err := capture.NewFileReader(&buf)
	if err != nil {
		b.Fatal(err)
	}
	var pkts []capture.Packet
	for {
		var p capture.Packet
		if err := r.ReadPacket(&p); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		p.Data = bytes.Clone(p.Data)
		pkts = append(pkts, p)
	}
	return pkts
}

func BenchmarkDecode(b *testing.B) {
	pkts := benchPackets(b, 1000)
	var s Segment
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Decode(&pkts[i%len(pkts)], &s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

type nopHandler struct{}

func (nopHandler) Segment(*Connection, *Step) {}
func (nopHandler) Ended(*Connection)          {}

// BenchmarkTracker measures the state machines and the connection table on
// decoded segments; one op is one segment.
func BenchmarkTracker(b *testing.B) {
	pkts := benchPackets(b, 10000)
	segs := make([]Segment, len(pkts))
	for i := range pkts {
		if err := Decode(&pkts[i], &segs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	t := NewTracker(nopHandler{}, TrackerConfig{})
	for i := 0; i < b.N; i++ {
		// Each pass over the capture starts a fresh tracker so that
		// connection identities start over, as a new file would.
		if i%len(segs) == 0 && i > 0 {
			t.Flush()
		}
		t.Observe(&segs[i%len(segs)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkRun measures reading, decoding and tracking a capture held in
// memory; one op is one packet.
func BenchmarkRun(b *testing.B) {
	var buf bytes.Buffer
	if err := gencap.Write(&buf, gencap.Options{Connections: 10000, Interleave: 8}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.ReportAllocs()
	b.ResetTimer()
	var packets int64
	for packets < int64(b.N) {
		r, err := capture.NewFileReader(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		t := NewTracker(nopHandler{}, TrackerConfig{})
		n, err := Run(context.Background(), r, t, RunOptions{})
		if err != nil {
			b.Fatal(err)
		}
		t.Flush()
		packets += n.Packets
	}
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "packets/s")
}
