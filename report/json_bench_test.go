package report

import (
	"context"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/internal/gencap"
)

// jsonRecords keeps what a JSON report would write for a capture, so that
// the writer can be timed apart from the tracker.
type jsonRecords struct {
	segs  []segRec
	conns []connRec
}

func (r *jsonRecords) Segment(c *decode.Connection, st *decode.Step) {
	r.segs = append(r.segs, makeSegRec(c, st))
}

func (r *jsonRecords) Ended(c *decode.Connection) {
	rec := makeConnRec(c)
	rec.states[0], rec.states[1] = slices.Clone(rec.states[0]), slices.Clone(rec.states[1])
	rec.calls = slices.Clone(rec.calls)
	r.conns = append(r.conns, rec)
}

// BenchmarkJSONLines times the JSON writer alone on the lines of 2000
// generated connections (their segments and connection objects, calls
// inferred), the mix a big replay writes. Compare its ns/op before and
// after a change with benchstat; allocs/op must stay 0.
func BenchmarkJSONLines(b *testing.B) {
	path := filepath.Join(b.TempDir(), "lines.pcap")
	if err := gencap.WriteFile(path, gencap.Options{Connections: 2000, Interleave: 8, ClientPorts: 28232}); err != nil {
		b.Fatal(err)
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		b.Fatal(err)
	}
	var recs jsonRecords
	tr := decode.NewTracker(&recs, decode.TrackerConfig{})
	if _, err := decode.Run(context.Background(), src, tr, decode.RunOptions{}); err != nil {
		b.Fatal(err)
	}
	tr.Flush()
	src.Close()
	j := NewJSON(io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		for i := range recs.segs {
			j.writeSegment(&recs.segs[i])
		}
		for i := range recs.conns {
			j.writeConnection(&recs.conns[i])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*(len(recs.segs)+len(recs.conns))), "ns/line")
}
