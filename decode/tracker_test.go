package decode

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// seg is a segment in a scripted exchange between cl (client) and sv
// (server): from says who sends it.
type seg struct {
	fromClient bool
	flags      Flags
	seq, ack   uint32
	len        int
}

var (
	cl = netip.MustParseAddrPort("127.0.0.1:40000")
	sv = netip.MustParseAddrPort("127.0.0.1:8080")
)

// collect runs a script through a Tracker and returns the connections it
// ended, as copies of the facts the tests look at.
type ended struct {
	id                          int
	handshake                   Handshake
	close                       CloseKind
	firstFIN, rstFrom, timeWait Sides
	halfClose                   bool
	connState, history          string
	client, server              []State
}

type collector struct{ out []ended }

func (h *collector) Segment(*Connection, *Step) {}
func (h *collector) Ended(c *Connection) {
	h.out = append(h.out, ended{c.ID, c.Handshake(), c.CloseKind(), c.FirstFIN, c.RSTFrom, c.TimeWait, c.HalfClose,
		c.ConnState(), c.History(), slices.Clone(c.States(Client)), slices.Clone(c.States(Server))})
}

func runScript(script []seg) []ended {
	h := &collector{}
	tr := NewTracker(h, TrackerConfig{})
	now := time.Unix(1_700_000_000, 0)
	for i, s := range script {
		x := Segment{Time: now.Add(time.Duration(i) * time.Millisecond), Flags: s.flags, Seq: s.seq, Ack: s.ack, Len: s.len, Window: 512}
		x.Src, x.Dst = sv, cl
		if s.fromClient {
			x.Src, x.Dst = cl, sv
		}
		tr.Observe(&x)
	}
	tr.Flush()
	return h.out
}

// A handshake and a graceful close with the client closing first, ISNs
// 100 (client) and 500 (server), 10 bytes each way.
func gracefulScript(isnC, isnS uint32) []seg {
	return []seg{
		{true, SYN, isnC, 0, 0},
		{false, SYN | ACK, isnS, isnC + 1, 0},
		{true, ACK, isnC + 1, isnS + 1, 0},
		{true, PSH | ACK, isnC + 1, isnS + 1, 10},
		{false, PSH | ACK, isnS + 1, isnC + 11, 10},
		{true, FIN | ACK, isnC + 11, isnS + 11, 0},
		{false, FIN | ACK, isnS + 11, isnC + 12, 0},
		{true, ACK, isnC + 12, isnS + 12, 0},
	}
}

func TestTrackerScripts(t *testing.T) {
	tests := []struct {
		name   string
		script []seg
		want   []ended
	}{
		{
			name:   "graceful, client first",
			script: gracefulScript(100, 500),
			want: []ended{{1, ThreeWay, Graceful, ClientSide, NoSide, ClientSide, false, "SF", "ShADdFf",
				[]State{Closed, SynSent, Established, FinWait1, FinWait2, TimeWait},
				[]State{Listen, SynReceived, Established, CloseWait, LastAck, Closed}}},
		},
		{
			// Seen on real loopback captures: after both FINs were
			// acknowledged, a stray ACK from TIME_WAIT draws a RST from
			// the closed server. The close was graceful.
			name: "RST after a graceful close",
			script: append(gracefulScript(100, 500),
				seg{false, ACK, 511, 112, 0},
				seg{true, ACK, 112, 512, 0},
				seg{false, RST, 512, 0, 0}),
			// Zeek keeps SF: after both FINs a RST does not change a
			// CLOSED endpoint (UpdateClosedState).
			want: []ended{{1, ThreeWay, Graceful, ClientSide, ServerSide, ClientSide, false, "SF", "ShADdFfar",
				[]State{Closed, SynSent, Established, FinWait1, FinWait2, TimeWait, Closed},
				[]State{Listen, SynReceived, Established, CloseWait, LastAck, Closed}}},
		},
		{
			// Loopback reuses a port while the old connection is in
			// TIME_WAIT: a new SYN with a new ISN is a new connection.
			name:   "port reuse",
			script: append(gracefulScript(100, 500), gracefulScript(70000, 9000)...),
			want: []ended{
				{1, ThreeWay, Graceful, ClientSide, NoSide, ClientSide, false, "SF", "ShADdFf",
					[]State{Closed, SynSent, Established, FinWait1, FinWait2, TimeWait},
					[]State{Listen, SynReceived, Established, CloseWait, LastAck, Closed}},
				{2, ThreeWay, Graceful, ClientSide, NoSide, ClientSide, false, "SF", "ShADdFf",
					[]State{Closed, SynSent, Established, FinWait1, FinWait2, TimeWait},
					[]State{Listen, SynReceived, Established, CloseWait, LastAck, Closed}},
			},
		},
		{
			// Both send FIN before seeing the other's: both pass through
			// CLOSING and both end in TIME_WAIT.
			name: "simultaneous close",
			script: []seg{
				{true, SYN, 100, 0, 0},
				{false, SYN | ACK, 500, 101, 0},
				{true, ACK, 101, 501, 0},
				{true, FIN | ACK, 101, 501, 0},
				{false, FIN | ACK, 501, 101, 0},
				{true, ACK, 102, 502, 0},
				{false, ACK, 502, 102, 0},
			},
			want: []ended{{1, ThreeWay, Graceful, BothSides, NoSide, BothSides, false, "SF", "ShAFfa",
				[]State{Closed, SynSent, Established, FinWait1, Closing, TimeWait},
				[]State{Listen, SynReceived, Established, FinWait1, Closing, TimeWait}}},
		},
		{
			name: "half-close: the server sends after the client's FIN",
			script: []seg{
				{true, SYN, 100, 0, 0},
				{false, SYN | ACK, 500, 101, 0},
				{true, ACK, 101, 501, 0},
				{true, FIN | ACK, 101, 501, 0},
				{false, ACK, 501, 102, 0},
				{false, PSH | ACK, 501, 102, 20},
				{true, ACK, 102, 521, 0},
				{false, FIN | ACK, 521, 102, 0},
				{true, ACK, 102, 522, 0},
			},
			want: []ended{{1, ThreeWay, Graceful, ClientSide, NoSide, ClientSide, true, "SF", "ShAFadf",
				[]State{Closed, SynSent, Established, FinWait1, FinWait2, TimeWait},
				[]State{Listen, SynReceived, Established, CloseWait, LastAck, Closed}}},
		},
		{
			name:   "refused",
			script: []seg{{true, SYN, 100, 0, 0}, {false, RST | ACK, 0, 101, 0}},
			want: []ended{{1, Refused, CloseNone, NoSide, ServerSide, NoSide, false, "REJ", "Sr",
				[]State{Closed, SynSent, Closed}, []State{Closed}}},
		},
		{
			name:   "unanswered, retransmitted",
			script: []seg{{true, SYN, 100, 0, 0}, {true, SYN, 100, 0, 0}},
			want: []ended{{1, Unanswered, CloseNone, NoSide, NoSide, NoSide, false, "S0", "S",
				[]State{Closed, SynSent}, nil}},
		},
		{
			// The capture began after the handshake: roles by port (8080
			// is the server's, so the roles are flipped: Zeek's '^'),
			// states assumed ESTABLISHED. Zeek: the server is PARTIAL, the
			// client CLOSED by its FIN: SH. The server's ACK of the
			// FIN is not in the capture: nothing shows it received the
			// FIN, so it stays ESTABLISHED.
			name:   "midstream",
			script: []seg{{false, PSH | ACK, 500, 100, 10}, {true, FIN | ACK, 100, 510, 0}},
			want: []ended{{1, Midstream, HalfClosed, ClientSide, NoSide, NoSide, false, "SH", "^dF",
				[]State{Established, FinWait1}, []State{Established}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runScript(tt.script)
			if len(got) != len(tt.want) {
				t.Fatalf("%d connections, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.id != w.id || g.handshake != w.handshake || g.close != w.close || g.firstFIN != w.firstFIN ||
					g.rstFrom != w.rstFrom || g.timeWait != w.timeWait || g.halfClose != w.halfClose ||
					g.connState != w.connState || g.history != w.history ||
					!slices.Equal(g.client, w.client) || !slices.Equal(g.server, w.server) {
					t.Errorf("connection %d:\n got %+v\nwant %+v", i+1, g, w)
				}
			}
		})
	}
}

// TestHandshakeIncomplete: a SYN-ACK that nothing from the client
// acknowledges (a SYN flood's forged SYN, a capture that ended) is not a
// completed three-way handshake; every segment of the client that
// acknowledges the server's SYN completes it, whether a bare ACK, data
// or a FIN, and so does an ACK whose SYN-ACK the capture missed.
func TestHandshakeIncomplete(t *testing.T) {
	const c, s = true, false
	tests := []struct {
		name   string
		script []seg
		want   Handshake
	}{
		{"SYN, SYN-ACK only", []seg{{c, SYN, 100, 0, 0}, {s, SYN | ACK, 300, 101, 0}}, Incomplete},
		{"SYN-ACK retransmitted, never answered", []seg{{c, SYN, 100, 0, 0}, {s, SYN | ACK, 300, 101, 0}, {s, SYN | ACK, 300, 101, 0}}, Incomplete},
		{"client resets the SYN-ACK", []seg{{c, SYN, 100, 0, 0}, {s, SYN | ACK, 300, 101, 0}, {c, RST, 101, 0, 0}}, Incomplete},
		{"ACK short of the server's SYN", []seg{{c, SYN, 100, 0, 0}, {s, SYN | ACK, 300, 101, 0}, {c, ACK, 101, 300, 0}}, Incomplete},
		{"bare ACK", []seg{{c, SYN, 100, 0, 0}, {s, SYN | ACK, 300, 101, 0}, {c, ACK, 101, 301, 0}}, ThreeWay},
		{"ACK on data", []seg{{c, SYN, 100, 0, 0}, {s, SYN | ACK, 300, 101, 0}, {c, ACK | PSH, 101, 301, 10}}, ThreeWay},
		{"ACK on a FIN", []seg{{c, SYN, 100, 0, 0}, {s, SYN | ACK, 300, 101, 0}, {c, FIN | ACK, 101, 301, 0}}, ThreeWay},
		{"Fast Open, server data before the ACK", []seg{{c, SYN, 100, 0, 5}, {s, SYN | ACK, 300, 106, 0},
			{s, ACK | PSH, 301, 106, 20}, {c, ACK, 106, 321, 0}}, ThreeWay},
		{"SYN-ACK not captured", []seg{{c, SYN, 100, 0, 0}, {c, ACK, 101, 301, 0}}, ThreeWay},
		{"capture began after the ACK", []seg{{c, ACK | PSH, 101, 301, 10}, {s, ACK, 301, 111, 0}}, Midstream},
		{"capture began after the SYN", []seg{{s, SYN | ACK, 300, 101, 0}, {c, ACK, 101, 301, 0}}, Midstream},
		{"SYN never answered", []seg{{c, SYN, 100, 0, 0}}, Unanswered},
	}
	for _, tt := range tests {
		got := runScript(tt.script)
		if len(got) != 1 || got[0].handshake != tt.want {
			t.Errorf("%s: %+v, want one connection, handshake %v", tt.name, got, tt.want)
		}
	}
}
