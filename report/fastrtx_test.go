package report

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/decode"
)

// TestFastRetransmit: a resend that follows, at once, duplicate ACKs or a
// SACK that shows its bytes missing is explained as a fast retransmit
// (RFC 5681 §3.2, RFC 6675), not as a timer's; a SACK that reports new
// bytes past the hole makes a duplicate ACK though the window changed. A
// resend long after, or a second resend, keeps the timer's sentence.
// Scripted segments through the real tracker; the captured case is
// veth-sack-loss.pcap (TestVethCaptures).
func TestFastRetransmit(t *testing.T) {
	cli := netip.MustParseAddrPort("10.0.0.1:40000")
	srv := netip.MustParseAddrPort("10.0.0.2:80")
	const ci, si = 1000, 5000
	const A, PA = decode.ACK, decode.PSH | decode.ACK
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(us int) time.Time { return t0.Add(time.Duration(us) * time.Microsecond) }
	data := make([]byte, 100)
	c2s := func(us int, seq uint32, n int) decode.Segment {
		return decode.Segment{Time: at(us), Src: cli, Dst: srv, Seq: ci + seq, Ack: si + 1, Flags: PA, Len: n, Payload: data[:n], Window: 500}
	}
	// ack is the server's bare ACK of the client's byte a, with the window
	// and SACK blocks (relative edges) given.
	ack := func(us int, a uint32, win uint16, sack ...[2]uint32) decode.Segment {
		s := decode.Segment{Time: at(us), Src: srv, Dst: cli, Seq: si + 1, Ack: ci + a, Flags: A, Window: win}
		for i, b := range sack {
			s.Options.SACK[i] = [2]uint32{ci + b[0], ci + b[1]}
		}
		s.Options.SACKBlocks = uint8(len(sack))
		return s
	}
	open := []decode.Segment{
		{Time: at(0), Src: cli, Dst: srv, Seq: ci, Flags: decode.SYN, Window: 500},
		{Time: at(100), Src: srv, Dst: cli, Seq: si, Ack: ci + 1, Flags: decode.SYN | decode.ACK, Window: 500},
		{Time: at(200), Src: cli, Dst: srv, Seq: ci + 1, Ack: si + 1, Flags: A, Window: 500}, // irtt 100 µs
	}
	const timer = "the first copy was not acknowledged in time"
	tests := []struct {
		name      string
		segs      []decode.Segment
		want, not []string
	}{
		{
			name: "three duplicate ACKs",
			segs: []decode.Segment{c2s(1000, 1, 100), c2s(1001, 101, 100), c2s(1002, 201, 100), c2s(1003, 301, 100), c2s(1004, 401, 100),
				ack(1100, 101, 500), ack(1200, 101, 500), ack(1201, 101, 500), ack(1202, 101, 500), c2s(1210, 101, 100), ack(1300, 501, 500)},
			want: []string{"(fast retransmit): 3 duplicate ACKs from the server still ask for byte 101", "resends it 8 µs after the last"},
			not:  []string{timer},
		},
		{
			name: "two duplicate ACKs, then the timer",
			segs: []decode.Segment{c2s(1000, 1, 100), c2s(1001, 101, 100), c2s(1002, 201, 100), c2s(1003, 301, 100),
				ack(1100, 101, 500), ack(1200, 101, 500), ack(1201, 101, 500), c2s(201201, 101, 100), ack(201300, 401, 500)},
			want: []string{timer},
			not:  []string{"fast retransmit):"},
		},
		{
			name: "SACK, window grown",
			segs: []decode.Segment{c2s(1000, 1, 100), c2s(1001, 101, 100), c2s(1002, 201, 100),
				ack(1100, 101, 500), ack(1200, 101, 502, [2]uint32{201, 301}), c2s(1220, 101, 100), ack(1300, 301, 502)},
			want: []string{"A duplicate ACK (RFC 6675): the receiver still expects byte 101",
				"(fast retransmit): the server's last ACK still asks for byte 101 while its SACK shows", "resends it 20 µs after that ACK"},
			not: []string{timer},
		},
		{
			name: "SACK, resent by the timer",
			segs: []decode.Segment{c2s(1000, 1, 100), c2s(1001, 101, 100), c2s(1002, 201, 100),
				ack(1100, 101, 500), ack(1200, 101, 500, [2]uint32{201, 301}), c2s(250000, 101, 100), ack(250100, 301, 500)},
			want: []string{"A duplicate ACK", timer},
			not:  []string{"fast retransmit):"},
		},
		{
			name: "fast, then resent again by the timer",
			segs: []decode.Segment{c2s(1000, 1, 100), c2s(1001, 101, 100), c2s(1002, 201, 100),
				ack(1100, 101, 500), ack(1200, 101, 500, [2]uint32{201, 301}), c2s(1210, 101, 100),
				ack(1400, 101, 500, [2]uint32{201, 301}), c2s(1410, 101, 100), ack(1500, 301, 500)},
			want: []string{"(fast retransmit): the server's last ACK", timer},
		},
		{
			name: "the same SACK again is no new duplicate",
			segs: []decode.Segment{c2s(1000, 1, 100), c2s(1001, 101, 100), c2s(1002, 201, 100),
				ack(1100, 101, 500), ack(1200, 101, 502, [2]uint32{201, 301}), ack(1300, 101, 504, [2]uint32{201, 301})},
			want: []string{"A duplicate ACK (RFC 6675)"},
		},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		tx := NewText(&out, TextOptions{Lang: English, Ephemeral: testEphemeral})
		tr := decode.NewTracker(tx, decode.TrackerConfig{})
		for _, s := range append(append([]decode.Segment{}, open...), tt.segs...) {
			tr.Observe(&s)
		}
		tr.Flush()
		if err := tx.Summary(Summary{Connections: 1, Dropped: -1}); err != nil {
			t.Fatal(err)
		}
		flat := strings.Join(strings.Fields(out.String()), " ")
		for _, w := range tt.want {
			if !strings.Contains(flat, w) {
				t.Errorf("%s: no %q in:\n%s", tt.name, w, out.String())
			}
		}
		for _, n := range tt.not {
			if strings.Contains(flat, n) {
				t.Errorf("%s: %q in:\n%s", tt.name, n, out.String())
			}
		}
		if tt.name == "the same SACK again is no new duplicate" && strings.Count(flat, "A duplicate ACK (RFC 6675)") != 1 {
			t.Errorf("%s: %d duplicate-ACK notes, want 1 (the second SACK reports nothing new):\n%s", tt.name, strings.Count(flat, "A duplicate ACK (RFC 6675)"), out.String())
		}
	}
}
