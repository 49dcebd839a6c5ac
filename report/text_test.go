package report

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// TestTextGolden writes the text report of every capture in both languages
// and compares it with testdata/text/NAME.LANG.txt. The captures with
// observed calls (testdata/*.pcapng: the demo's scenarios, and
// run-edges.pcapng, a program traced under `socktrace run`) check that the
// explanations follow the calls seen: a FIN after shutdown(), a failed
// non-blocking connect(), a failed bind(), SO_LINGER 0, the port bind(…:0)
// got. Regenerate with: go test ./report -run TextGolden -update
func TestTextGolden(t *testing.T) {
	for _, file := range captures(t) {
		for _, lang := range []Lang{English, Korean} {
			base := filepath.Base(file)
			t.Run(base+"/"+string(lang), func(t *testing.T) {
				var out bytes.Buffer
				replayInto(t, file, NewText(&out, TextOptions{Lang: lang, Ephemeral: testEphemeral}))
				checkDiagramShape(t, out.String())
				golden(t, filepath.Join("text", base+"."+string(lang)+".txt"), out.Bytes())
			})
		}
	}
}

// TestNarrowGolden writes the text report and the diagram at 80 columns,
// the narrowest terminal socktrace fits, in both languages: no line is
// wider, and the columns stay in place.
func TestNarrowGolden(t *testing.T) {
	files := []string{"../testdata/half-close.pcap", "../testdata/syn-retransmit.pcap", "testdata/calls-all-scenarios.pcapng", "testdata/run-edges.pcapng"}
	for _, file := range files {
		for _, lang := range []Lang{English, Korean} {
			base := filepath.Base(file)
			t.Run(base+"/"+string(lang), func(t *testing.T) {
				var text, diagram bytes.Buffer
				replayInto(t, file, NewText(&text, TextOptions{Lang: lang, Ephemeral: testEphemeral, Width: 80}))
				checkShape(t, text.String(), 80)
				golden(t, filepath.Join("text", base+"."+string(lang)+".w80.txt"), text.Bytes())
				replayInto(t, file, NewDiagram(&diagram, DiagramOptions{Lang: lang, Ephemeral: testEphemeral, Width: 80}))
				checkShape(t, diagram.String(), 80)
				golden(t, filepath.Join("diagram", base+"."+string(lang)+".w80.txt"), diagram.Bytes())
			})
		}
	}
}

// learnerConn feeds a tracker a connection written segment by segment:
// a handshake; the client's first data segment lost before the capture
// point while two more arrive, answered by duplicate ACKs; the lost bytes
// resent (out of order: the capture has no earlier copy); the server's
// window closing and reopening; a keep-alive after a long silence; a RST
// far outside the window (ignored); a graceful close whose last ACK is
// delayed. It returns the text report.
func learnerConn(t *testing.T, lang Lang) string {
	t.Helper()
	var out bytes.Buffer
	tx := NewText(&out, TextOptions{Lang: lang, Ephemeral: testEphemeral})
	tr := decode.NewTracker(tx, decode.TrackerConfig{})
	cli := netip.MustParseAddrPort("10.0.0.1:40000")
	srv := netip.MustParseAddrPort("10.0.0.2:80")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const ci, si = 1000, 5000
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	data := make([]byte, 100)
	c2s := func(ms int, seq, ack uint32, fl decode.Flags, n int, win uint16) decode.Segment {
		return decode.Segment{Time: at(ms), Src: cli, Dst: srv, Seq: ci + seq, Ack: si + ack, Flags: fl, Len: n, Payload: data[:n], Window: win}
	}
	s2c := func(ms int, seq, ack uint32, fl decode.Flags, n int, win uint16) decode.Segment {
		return decode.Segment{Time: at(ms), Src: srv, Dst: cli, Seq: si + seq, Ack: ci + ack, Flags: fl, Len: n, Payload: data[:n], Window: win}
	}
	const A, PA = decode.ACK, decode.PSH | decode.ACK
	segs := []decode.Segment{
		{Time: at(0), Src: cli, Dst: srv, Seq: ci, Flags: decode.SYN, Window: 500},
		s2c(1, 0, 1, decode.SYN|decode.ACK, 0, 500),
		c2s(2, 1, 1, A, 0, 500),
		// 1–100 lost before the capture point.
		c2s(3, 101, 1, A, 100, 500),
		s2c(4, 1, 1, A, 0, 500),
		c2s(5, 201, 1, PA, 100, 500),
		s2c(6, 1, 1, A, 0, 500),
		c2s(7, 1, 1, A, 100, 500),     // fills the hole
		s2c(8, 1, 301, A, 0, 0),       // window closed
		s2c(20, 1, 301, A, 0, 500),    // reopened
		c2s(60000, 300, 1, A, 0, 500), // keep-alive
		s2c(60001, 1, 301, A, 0, 500),
		{Time: at(60002), Src: srv, Dst: cli, Seq: si + 1 + 1<<30, Ack: ci + 301, Flags: decode.RST | decode.ACK},
		c2s(60003, 301, 1, decode.FIN|decode.ACK, 0, 500),
		s2c(60004, 1, 302, decode.FIN|decode.ACK, 0, 500),
		c2s(60045, 302, 2, A, 0, 500),
	}
	for i := range segs {
		tr.Observe(&segs[i])
	}
	tr.Flush()
	if err := tx.Summary(Summary{Connections: 1, Dropped: -1}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// TestLearnerNotes: the notes a learner needs appear where the segments
// call for them, in both languages (golden), and each says what it should.
func TestLearnerNotes(t *testing.T) {
	for _, lang := range []Lang{English, Korean} {
		out := learnerConn(t, lang)
		checkShape(t, out, 100)
		golden(t, filepath.Join("text", "learner-notes."+string(lang)+".txt"), []byte(out))
		if lang != English {
			continue
		}
		flat := strings.Join(strings.Fields(out), " ")
		for _, want := range []string{
			"A duplicate ACK: the receiver still expects byte 1",
			"that fill a gap below bytes it sent later",
			"Window 0: the server's receive buffer is full",
			"A window update: the server's program read",
			"A keep-alive probe: the client's kernel",
			"a forged or stale RST the kernel ignores",
			"a delayed ACK",
			"Its ack=1: the SYN takes one sequence number",
			"Its ack=2: a FIN takes one sequence number",
			"PSH: the sender asks the receiver",
		} {
			if !strings.Contains(flat, want) {
				t.Errorf("no %q in:\n%s", want, out)
			}
		}
	}
}

// TestObservedListenNotInferred: a listener seen calling listen() on its
// first connection is not shown calling listen()* (an inferred call) on
// the next one, in the text, the diagram and the HTML report.
func TestObservedListenNotInferred(t *testing.T) {
	srv := netip.MustParseAddrPort("127.0.0.1:8080")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	feed := func(h decode.Handler) {
		tr := decode.NewTracker(h, decode.TrackerConfig{})
		tr.ObserveCall(calls.Event{Side: calls.Server, Call: calls.Listen, FD: 3, Local: srv, Enter: at(0), Exit: at(1), PID: 7})
		for i, port := range []uint16{40000, 40001} {
			cli := netip.AddrPortFrom(srv.Addr(), port)
			base := 1000 * i
			segs := []decode.Segment{
				{Time: at(base + 10), Src: cli, Dst: srv, Seq: 100, Flags: decode.SYN},
				{Time: at(base + 11), Src: srv, Dst: cli, Seq: 500, Ack: 101, Flags: decode.SYN | decode.ACK},
				{Time: at(base + 12), Src: cli, Dst: srv, Seq: 101, Ack: 501, Flags: decode.ACK},
			}
			for j := range segs {
				tr.Observe(&segs[j])
			}
			if i == 0 {
				tr.ObserveCall(calls.Event{Side: calls.Server, Call: calls.Accept, FD: 3, Result: 4, Local: srv, Remote: cli, Enter: at(base + 13), Exit: at(base + 14), PID: 7})
			}
			rst := decode.Segment{Time: at(base + 20), Src: cli, Dst: srv, Seq: 101, Ack: 501, Flags: decode.RST | decode.ACK}
			tr.Observe(&rst)
		}
		tr.Flush()
	}
	var text, diagram bytes.Buffer
	tx := NewText(&text, TextOptions{Ephemeral: testEphemeral})
	feed(tx)
	d := NewDiagram(&diagram, DiagramOptions{Ephemeral: testEphemeral})
	feed(d)
	for _, h := range []handler{tx, d} {
		if err := h.Summary(Summary{Dropped: -1}); err != nil {
			t.Fatal(err)
		}
	}
	second := func(s string) string {
		_, after, ok := strings.Cut(s, "Connection 2:")
		if !ok {
			t.Fatalf("no second connection in:\n%s", s)
		}
		return after
	}
	if got := second(text.String()); strings.Contains(got, "listen() [inferred]") {
		t.Errorf("text: the second connection's listen() is called inferred:\n%s", got)
	}
	if got := second(diagram.String()); strings.Contains(got, "listen()*") {
		t.Errorf("diagram: the second connection draws listen()*:\n%s", got)
	}
}
