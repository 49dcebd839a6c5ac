package decode

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// pkt is a segment of a script for the tests of issue 10's classes: who
// sends it, when (µs from the start), its header and options.
type pkt struct {
	fromClient bool
	us         int64
	flags      Flags
	seq, ack   uint32
	len        int
	opts       Options
}

// outcome is what a script ended with: the facts per connection and the
// kind of every step.
type outcome struct {
	conns []*connFacts
}

type connFacts struct {
	handshake    Handshake
	close        CloseKind
	bytes        [2]int64
	connState    string
	history      string
	client       []State
	server       []State
	kinds        []StepKind
	relAcks      []uint32
	reordered    []bool
	clientAfter  []State
	synackMissed bool
	rstsIgnored  int
	synRtx       int
	irtt         time.Duration
	hasIRTT      bool
	fastOpen     Sides
	synData      [2]int
	oneDir       Sides
	midstream    bool
	isReordered  bool
}

type factHandler struct {
	live map[int]*connFacts
	out  outcome
}

func (h *factHandler) Segment(c *Connection, st *Step) {
	f := h.live[c.ID]
	if f == nil {
		f = &connFacts{}
		h.live[c.ID] = f
		h.out.conns = append(h.out.conns, f)
	}
	f.kinds = append(f.kinds, st.Kind)
	f.relAcks = append(f.relAcks, st.RelAck)
	f.reordered = append(f.reordered, st.Reordered)
	f.clientAfter = append(f.clientAfter, st.After[Client])
}

func (h *factHandler) Ended(c *Connection) {
	f := h.live[c.ID]
	f.handshake, f.close, f.bytes = c.Handshake(), c.CloseKind(), c.Bytes
	f.connState, f.history = c.ConnState(), c.History()
	f.client, f.server = slices.Clone(c.States(Client)), slices.Clone(c.States(Server))
	f.synackMissed, f.rstsIgnored, f.synRtx = c.SYNACKMissed, c.RSTsIgnored, c.SYNRetransmits
	f.irtt, f.hasIRTT = c.IRTT, c.HasIRTT
	f.fastOpen, f.synData, f.oneDir = c.FastOpen, c.SYNData, c.OneDirection()
	f.midstream, f.isReordered = c.Midstream(), c.Reordered
	delete(h.live, c.ID)
}

func play(script []pkt) outcome {
	return playBetween(cl, sv, script)
}

func playBetween(client, server netip.AddrPort, script []pkt) outcome {
	h := &factHandler{live: map[int]*connFacts{}}
	tr := NewTracker(h, TrackerConfig{})
	t0 := time.Unix(1_700_000_000, 0)
	for _, p := range script {
		x := Segment{Time: t0.Add(time.Duration(p.us) * time.Microsecond), Flags: p.flags, Seq: p.seq, Ack: p.ack,
			Len: p.len, Window: 512, Options: p.opts}
		if x.Options == (Options{}) {
			x.Options.WindowScale = -1
		}
		x.Src, x.Dst = server, client
		if p.fromClient {
			x.Src, x.Dst = client, server
		}
		tr.Observe(&x)
	}
	tr.Flush()
	return h.out
}

// handshake3 is SYN, SYN-ACK, ACK with ISNs c (client) and s (server).
func handshake3(c, s uint32) []pkt {
	return []pkt{{true, 0, SYN, c, 0, 0, Options{}}, {false, 10, SYN | ACK, s, c + 1, 0, Options{}}, {true, 20, ACK, c + 1, s + 1, 0, Options{}}}
}

func one(t *testing.T, o outcome) *connFacts {
	t.Helper()
	if len(o.conns) != 1 {
		t.Fatalf("%d connections, want 1", len(o.conns))
	}
	return o.conns[0]
}

func kinds(ks ...StepKind) []StepKind { return ks }

// A1: bytes that fill a gap count, and each late segment says what it
// was: out-of-order (fills a hole), retransmission (seen before),
// spurious retransmission (seen and already acknowledged).
func TestGapFillCountsAndClassifies(t *testing.T) {
	const c, s = 1000, 5000
	script := append(handshake3(c, s),
		pkt{false, 100, PSH | ACK, s + 2897, c + 1, 1056, Options{}}, // the third segment first
		pkt{false, 101, ACK, s + 1, c + 1, 1448, Options{}},          // fills the hole's start
		pkt{false, 102, ACK, s + 1449, c + 1, 1448, Options{}},       // and its end
		pkt{true, 200, ACK, c + 1, s + 3953, 0, Options{}},
		pkt{false, 300, ACK, s + 1, c + 1, 1448, Options{}},         // again, after the ACK: spurious
		pkt{false, 400, PSH | ACK, s + 3953, c + 1, 100, Options{}}, // new
		pkt{false, 500, PSH | ACK, s + 3953, c + 1, 100, Options{}}, // again before any ACK: retransmission
		pkt{true, 600, ACK, c + 1, s + 4053, 0, Options{}},
	)
	f := one(t, play(script))
	if f.bytes[Server] != 4052 {
		t.Errorf("server bytes %d, want 4052 (1056+1448+1448+100, each once)", f.bytes[Server])
	}
	want := kinds(StepSYN, StepSYNACK, StepHandshakeACK, StepData, StepOutOfOrder, StepOutOfOrder, StepACK,
		StepSpuriousRetransmission, StepData, StepRetransmission, StepACK)
	if !slices.Equal(f.kinds, want) {
		t.Errorf("kinds\n got %v\nwant %v", f.kinds, want)
	}
}

// A1: the first copy was lost before the capture point: the receiver's
// ACK proves the bytes arrived, so they count; a FIN that overtook its
// data is processed by the receiver only when the data arrives.
func TestBytesLostBeforeCaptureAndEarlyFIN(t *testing.T) {
	const c, s = 1000, 5000
	script := append(handshake3(c, s),
		// [1, 1001) never captured.
		pkt{false, 100, ACK, s + 1001, c + 1, 1000, Options{}},
		pkt{true, 110, ACK, c + 1, s + 2001, 0, Options{}},
		// The FIN overtakes [2001, 3001).
		pkt{false, 200, FIN | ACK, s + 3001, c + 1, 0, Options{}},
		pkt{false, 201, ACK, s + 2001, c + 1, 1000, Options{}},
		pkt{true, 300, ACK, c + 1, s + 3002, 0, Options{}},
		pkt{true, 400, FIN | ACK, c + 1, s + 3002, 0, Options{}},
		pkt{false, 500, ACK, s + 3002, c + 2, 0, Options{}},
	)
	f := one(t, play(script))
	if f.bytes[Server] != 3000 {
		t.Errorf("server bytes %d, want 3000", f.bytes[Server])
	}
	// The client enters CLOSE_WAIT with its ACK of the FIN (step 8):
	// not with the FIN (step 6), which it cannot process before the
	// hole's data, nor with that data (step 7), which lets it process
	// the FIN but does not show that it did.
	wantClient := []State{Closed, SynSent, Established, CloseWait, LastAck, Closed}
	if !slices.Equal(f.client, wantClient) {
		t.Errorf("client states %v, want %v", f.client, wantClient)
	}
	if f.clientAfter[5] != Established || f.clientAfter[6] != Established || f.clientAfter[7] != CloseWait {
		t.Errorf("client after the FIN %v, after the hole's data %v, after its ACK %v; want ESTABLISHED, ESTABLISHED, CLOSE_WAIT",
			f.clientAfter[5], f.clientAfter[6], f.clientAfter[7])
	}
	if f.kinds[6] != StepOutOfOrder {
		t.Errorf("the gap-filling segment is %v, want out-of-order", f.kinds[6])
	}
	if f.close != Graceful || f.connState != "SF" {
		t.Errorf("close %v %s, want graceful SF", f.close, f.connState)
	}
}

// A2: the SYN-ACK is not in the capture; the client's ACK proves it
// arrived (a socket in SYN_SENT sends nothing else). iRTT is SYN → that
// ACK, as Wireshark computes it.
func TestHandshakeWithoutSYNACK(t *testing.T) {
	script := []pkt{
		{true, 0, SYN, 100, 0, 0, Options{}},
		{true, 30, ACK, 101, 9001, 0, Options{}},
		{true, 40, PSH | ACK, 101, 9001, 41, Options{}},
		{false, 50, PSH | ACK, 9001, 142, 60, Options{}},
		{true, 60, ACK, 142, 9061, 0, Options{}},
	}
	f := one(t, play(script))
	if f.handshake != ThreeWay || !f.synackMissed {
		t.Errorf("handshake %v, SYN-ACK missed %v; want three-way, true", f.handshake, f.synackMissed)
	}
	if !slices.Equal(f.client, []State{Closed, SynSent, Established}) ||
		!slices.Equal(f.server, []State{Listen, SynReceived, Established}) {
		t.Errorf("states %v / %v", f.client, f.server)
	}
	if !f.hasIRTT || f.irtt != 30*time.Microsecond {
		t.Errorf("iRTT %v (%v), want 30µs", f.irtt, f.hasIRTT)
	}
	if f.kinds[1] != StepHandshakeACK {
		t.Errorf("the client's first ACK is %v, want handshake-ack", f.kinds[1])
	}
	if f.bytes != [2]int64{41, 60} {
		t.Errorf("bytes %v", f.bytes)
	}
}

// A3: data on the SYN-ACK, and a TCP Fast Open SYN with data and a
// cookie: the ACK of ISN+1+len completes the handshake.
func TestDataOnSYN(t *testing.T) {
	t.Run("SYN-ACK with 110 bytes", func(t *testing.T) {
		script := []pkt{
			{true, 0, SYN, 100, 0, 0, Options{}},
			{false, 10, SYN | ACK, 500, 101, 110, Options{}},
			{true, 20, ACK, 101, 611, 0, Options{}},
		}
		f := one(t, play(script))
		if !slices.Equal(f.server, []State{Listen, SynReceived, Established}) {
			t.Errorf("server states %v", f.server)
		}
		if f.bytes[Server] != 110 || f.synData[Server] != 110 {
			t.Errorf("server bytes %d, SYN data %d; want 110", f.bytes[Server], f.synData[Server])
		}
	})
	t.Run("TFO SYN with data and cookie", func(t *testing.T) {
		tfo := Options{WindowScale: -1, FastOpen: true, FastOpenCookie: 8}
		script := []pkt{
			{true, 0, SYN, 100, 0, 20, tfo},
			{false, 10, SYN | ACK, 500, 121, 0, Options{}},
			{true, 20, ACK, 121, 501, 0, Options{}},
		}
		f := one(t, play(script))
		if f.handshake != ThreeWay || f.fastOpen != ClientSide || f.bytes[Client] != 20 {
			t.Errorf("handshake %v, fast open %v, client bytes %d", f.handshake, f.fastOpen, f.bytes[Client])
		}
		if !slices.Equal(f.client, []State{Closed, SynSent, Established}) ||
			!slices.Equal(f.server, []State{Listen, SynReceived, Established}) {
			t.Errorf("states %v / %v", f.client, f.server)
		}
	})
}

// A4: a SYN retried after RST with the same ISN is one connect().
func TestSYNRetriedAfterRST(t *testing.T) {
	var script []pkt
	for i := range int64(3) {
		script = append(script,
			pkt{true, i * 500_000, SYN, 7777, 0, 0, Options{}},
			pkt{false, i*500_000 + 300, RST | ACK, 0, 7778, 0, Options{}})
	}
	f := one(t, play(script))
	if f.handshake != Refused || f.synRtx != 2 || f.connState != "REJ" || f.history != "Sr" {
		t.Errorf("got %v, %d retries, %s %s; want refused, 2, REJ Sr", f.handshake, f.synRtx, f.connState, f.history)
	}
}

// A5: the SYN-ACK is time-stamped before its SYN (and captured first):
// one connection, and the steps say the order is not the wire's.
func TestSYNACKBeforeSYN(t *testing.T) {
	script := []pkt{
		{false, 0, SYN | ACK, 500, 101, 0, Options{}},
		{true, 5, SYN, 100, 0, 0, Options{}},
		{true, 40, ACK, 101, 501, 0, Options{}},
	}
	f := one(t, play(script))
	if f.handshake != ThreeWay || !f.isReordered || !f.reordered[1] {
		t.Errorf("handshake %v, reordered %v %v", f.handshake, f.isReordered, f.reordered)
	}
	t.Run("SYN captured first, stamped later", func(t *testing.T) {
		script := []pkt{
			{true, 10, SYN, 100, 0, 0, Options{}},
			{false, 5, SYN | ACK, 500, 101, 0, Options{}},
			{true, 40, ACK, 101, 501, 0, Options{}},
		}
		f := one(t, play(script))
		if f.handshake != ThreeWay || !f.isReordered || !f.reordered[1] {
			t.Errorf("handshake %v, reordered %v %v", f.handshake, f.isReordered, f.reordered)
		}
	})
}

// A6: a RST the stack would drop is not a close.
func TestUnacceptableRST(t *testing.T) {
	t.Run("SYN_SENT: no ACK", func(t *testing.T) {
		script := append([]pkt{{true, 0, SYN, 100, 0, 0, Options{}},
			{false, 5, RST, 0, 0, 0, Options{}}},
			handshake3(100, 500)[1:]...)
		f := one(t, play(script))
		if f.handshake != ThreeWay || f.rstsIgnored != 1 || f.kinds[1] != StepRSTIgnored {
			t.Errorf("handshake %v, ignored %d, kinds %v", f.handshake, f.rstsIgnored, f.kinds)
		}
	})
	t.Run("SYN_SENT: wrong ack", func(t *testing.T) {
		script := append([]pkt{{true, 0, SYN, 100, 0, 0, Options{}},
			{false, 5, RST | ACK, 0, 4242, 0, Options{}}},
			handshake3(100, 500)[1:]...)
		f := one(t, play(script))
		if f.handshake != ThreeWay || f.rstsIgnored != 1 {
			t.Errorf("handshake %v, ignored %d", f.handshake, f.rstsIgnored)
		}
	})
	t.Run("established: sequence number off", func(t *testing.T) {
		script := append(handshake3(100, 500),
			pkt{false, 30, RST, 9_000_000, 0, 0, Options{}},
			pkt{true, 40, FIN | ACK, 101, 501, 0, Options{}},
			pkt{false, 50, FIN | ACK, 501, 102, 0, Options{}},
			pkt{true, 60, ACK, 102, 502, 0, Options{}})
		f := one(t, play(script))
		if f.close != Graceful || f.rstsIgnored != 1 || f.kinds[3] != StepRSTIgnored {
			t.Errorf("close %v, ignored %d, kinds %v", f.close, f.rstsIgnored, f.kinds)
		}
	})
	t.Run("established: exact RCV.NXT is a close", func(t *testing.T) {
		script := append(handshake3(100, 500), pkt{false, 30, RST | ACK, 501, 101, 0, Options{}})
		f := one(t, play(script))
		if f.close != Reset || f.rstsIgnored != 0 {
			t.Errorf("close %v, ignored %d", f.close, f.rstsIgnored)
		}
	})
}

// A8: a capture that starts midstream: relative numbers never wrap, FINs
// still drive the close.
func TestMidstreamNumbers(t *testing.T) {
	script := []pkt{
		{false, 0, PSH | ACK, 20_000, 3000, 1000, Options{}},
		{true, 10, ACK, 3000, 19_000, 0, Options{}}, // lags behind the first byte seen
		{true, 20, ACK, 3000, 21_000, 0, Options{}},
		{true, 30, FIN | ACK, 3000, 21_000, 0, Options{}},
		{false, 40, FIN | ACK, 21_000, 3001, 0, Options{}},
		{true, 50, ACK, 3001, 21_001, 0, Options{}},
	}
	f := one(t, play(script))
	for i, a := range f.relAcks {
		if a > 1<<31 {
			t.Errorf("step %d: relative ack %d wrapped", i+1, a)
		}
	}
	if f.handshake != Midstream || f.close != Graceful || f.bytes != [2]int64{0, 1000} {
		t.Errorf("%v %v bytes %v", f.handshake, f.close, f.bytes)
	}
	if !slices.Equal(f.client, []State{Established, FinWait1, FinWait2, TimeWait}) {
		t.Errorf("client states %v", f.client)
	}
}

// A9: a filter that shows one direction only: the client's ACKs prove
// the server answered and sent data.
func TestOneDirection(t *testing.T) {
	script := []pkt{
		{true, 0, SYN, 100, 0, 0, Options{}},
		{true, 30, ACK, 101, 9001, 0, Options{}},
		{true, 40, PSH | ACK, 101, 9001, 22, Options{}},
		{true, 90, ACK, 123, 9028, 0, Options{}},
		{true, 120, FIN | ACK, 123, 9028, 0, Options{}},
	}
	f := one(t, play(script))
	if f.handshake != ThreeWay || f.oneDir != ServerSide {
		t.Errorf("handshake %v, one direction %v; want three-way, server never seen", f.handshake, f.oneDir)
	}
	if f.bytes != [2]int64{22, 27} {
		t.Errorf("bytes %v, want [22 27]", f.bytes)
	}
}

// A10: conn_state and history as Zeek's code computes them.
func TestZeekStates(t *testing.T) {
	tests := []struct {
		name        string
		script      []pkt
		state, hist string
	}{
		{"SYN+FIN probe", []pkt{{true, 0, SYN | FIN, 100, 0, 0, Options{}}}, "SH", "Q"},
		{"SaFR", []pkt{
			{true, 0, SYN, 100, 0, 0, Options{}},
			{false, 10, ACK, 500, 101, 0, Options{}},
			{true, 20, FIN | ACK, 101, 501, 0, Options{}},
			{true, 30, RST, 102, 0, 0, Options{}},
		}, "OTH", "SaFR"},
		{"no SYN, closed exchange", []pkt{
			{true, 0, PSH | ACK, 100, 500, 10, Options{}},
			{false, 10, ACK, 500, 110, 0, Options{}},
			{true, 20, FIN | ACK, 110, 500, 0, Options{}},
			{false, 30, FIN | ACK, 500, 111, 0, Options{}},
			{true, 40, ACK, 111, 501, 0, Options{}},
		}, "SF", "DaFfA"},
		{"SYN-ACK without SYN", []pkt{
			{false, 0, SYN | ACK, 500, 101, 0, Options{}},
			{true, 10, ACK, 101, 501, 0, Options{}},
			{true, 20, PSH | ACK, 101, 501, 5, Options{}},
		}, "S1", "^hAD"},
		{"SYN then RST", []pkt{
			{true, 0, SYN, 100, 0, 0, Options{}},
			{true, 10, RST, 101, 0, 0, Options{}},
		}, "RSTOS0", "SR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := one(t, play(tt.script))
			if f.connState != tt.state || f.history != tt.hist {
				t.Errorf("got %s %s, want %s %s", f.connState, f.history, tt.state, tt.hist)
			}
		})
	}
}

// A11: a lone data segment whose source is its destination is not a
// simultaneous open.
func TestLoneSelfAddressedSegment(t *testing.T) {
	ep := netip.MustParseAddrPort("10.0.0.1:5000")
	f := one(t, playBetween(ep, ep, []pkt{{true, 0, PSH | ACK, 100, 200, 10, Options{}}}))
	if f.handshake == SimultaneousOpen {
		t.Errorf("handshake %v for one data segment", f.handshake)
	}
	if f.handshake != Midstream {
		t.Errorf("handshake %v, want midstream", f.handshake)
	}
}
