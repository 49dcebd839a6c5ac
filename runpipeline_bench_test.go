package main

import (
	"compress/gzip"
	"errors"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/report"
)

// runRecording is a real traced run to feed run's analysis again: the
// packets as the capture ring handed them over and the calls as the
// recorder reported them (when they returned).
type runRecording struct {
	items   []recordedItem
	packets int
	calls   int
	span    time.Duration
}

type recordedItem struct {
	at   time.Time // when it reached socktrace
	pkt  *capture.Packet
	call *calls.Event
}

// loadRunRecording reads testdata/bench/run-conns.pcapng.gz: `socktrace run
// --tracer ebpf --write` of calls/testdata/conns making 200 loopback
// connections with 1 KiB each way (testdata/README.md), 2000 packets and
// their calls in the packets' comments.
func loadRunRecording(tb testing.TB) *runRecording {
	tb.Helper()
	f, err := os.Open("testdata/bench/run-conns.pcapng.gz")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := capture.NewFileReader(zr)
	if err != nil {
		tb.Fatal(err)
	}
	defer r.Close()
	rec := &runRecording{}
	for {
		var p capture.Packet
		if err := r.ReadPacket(&p); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			tb.Fatal(err)
		}
		p.Data = slices.Clone(p.Data)
		for _, c := range p.Comments {
			calls.ParseComments(c, func(ev calls.Event) {
				rec.items = append(rec.items, recordedItem{at: ev.Exit, call: &ev})
				rec.calls++
			})
		}
		p.Comments = nil
		p.InterfaceIndex = 0
		rec.items = append(rec.items, recordedItem{at: p.Timestamp, pkt: &p})
		rec.packets++
	}
	slices.SortStableFunc(rec.items, func(a, b recordedItem) int { return a.at.Compare(b.at) })
	if rec.packets == 0 || rec.calls == 0 {
		tb.Fatalf("recording: %d packets, %d calls", rec.packets, rec.calls)
	}
	rec.span = rec.items[len(rec.items)-1].at.Sub(rec.items[0].at)
	return rec
}

// BenchmarkRunPipeline measures run's own analysis, as captureLive drives
// it, without the program, the recorder or the capture ring: every packet
// goes through the ownFilter (held in the limbo until a call names its
// connection), the streamer holds packets and calls and feeds the tracker
// in time order, the tracker explains each connection as JSON (thrown
// away). One op is one pass over the recording (200 connections, 2000
// packets, their calls), its times shifted past the previous pass's:
//
//	steady  into one long-running pipeline, as a run that streams for
//	        days (what it allocates per connection once it has grown);
//	fresh   into a new pipeline each time, as a short run (the growing
//	        included: a new connection's buffers, the tables' first chunks).
//
// allocs/op over the 200 connections is the figure to watch; the
// tracker's own allocations per connection are part of it.
func BenchmarkRunPipeline(b *testing.B) {
	rec := loadRunRecording(b)
	b.Run("steady", func(b *testing.B) {
		p := newBenchPipeline()
		b.ReportAllocs()
		for i := range b.N {
			p.feed(rec, time.Duration(i)*(rec.span+10*time.Second))
		}
		b.StopTimer()
		p.end(b)
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rec.packets), "ns/packet")
	})
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			p := newBenchPipeline()
			p.feed(rec, 0)
			p.end(b)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rec.packets), "ns/packet")
	})
}

// benchPipeline is run's analysis as captureLive puts it together.
type benchPipeline struct {
	tracker  *decode.Tracker
	st       *streamer
	own      *ownFilter
	lastTick time.Time
}

func newBenchPipeline() *benchPipeline {
	tracker := decode.NewTracker(report.NewJSON(io.Discard), decode.TrackerConfig{})
	st := newStreamer(tracker)
	own := newOwnFilter(&liveCapture{})
	own.streamTo(st)
	return &benchPipeline{tracker: tracker, st: st, own: own}
}

// feed hands the pipeline the recording, its times shifted, as the
// capture's reader, the recorder and the ticker would.
func (bp *benchPipeline) feed(rec *runRecording, shift time.Duration) {
	var p capture.Packet
	for _, it := range rec.items {
		at := it.at.Add(shift)
		if it.pkt != nil {
			p = *it.pkt
			p.Timestamp = p.Timestamp.Add(shift)
			bp.own.packet(&p)
		} else {
			ev := *it.call // as the recorder hands each call over
			ev.Enter, ev.Exit = ev.Enter.Add(shift), ev.Exit.Add(shift)
			bp.own.called(&ev)
			bp.st.caughtUp(ev.Exit)
		}
		if at.Sub(bp.lastTick) >= 50*time.Millisecond {
			bp.lastTick = at
			bp.own.tick(at)
		}
	}
}

// end settles what is held, as the end of a run does.
func (bp *benchPipeline) end(b *testing.B) {
	bp.own.finish()
	bp.st.drain()
	bp.tracker.Flush()
	if bp.st.counts.TCP == 0 {
		b.Fatal("no packet reached the tracker")
	}
}

// BenchmarkOwnFilter measures the ownFilter alone on the same recording:
// each packet decoded and either kept (its connection's calls known) or
// held in the limbo until a call names it, each call's endpoints learnt.
// The packets kept are handed to a streamer that only gives their slots
// back at the end of each pass (no tracker). One op is one pass: 2000
// packets and their calls.
func BenchmarkOwnFilter(b *testing.B) {
	rec := loadRunRecording(b)
	st := newStreamer(nil)
	dc := &liveCapture{}
	own := newOwnFilter(dc)
	own.streamTo(st)
	var p capture.Packet
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		shift := time.Duration(i) * (rec.span + 10*time.Second)
		for _, it := range rec.items {
			if it.pkt != nil {
				p = *it.pkt
				p.Timestamp = p.Timestamp.Add(shift)
				own.packet(&p)
			} else {
				ev := *it.call
				ev.Enter, ev.Exit = ev.Enter.Add(shift), ev.Exit.Add(shift)
				own.noteCall(&ev)
			}
		}
		for len(st.held) > 0 {
			it := st.held.pop()
			st.bytes -= st.store.size(it.idx)
			st.store.release(it.idx)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*rec.packets), "ns/packet")
	if dc.unrelated != 0 {
		b.Errorf("%d packets of the program's let go as no one's", dc.unrelated)
	}
}
