package decode

import (
	"net/netip"
	"slices"
	"testing"
	"time"
)

// stepFacts is what the offload, capture-gap and SACK tests read of each
// step and of the connection.
type stepFacts struct {
	offload, dsack, spurious []bool
	unseen                   []uint32
	conn                     Connection // the fields read below, copied at Ended
}

func (f *stepFacts) Segment(c *Connection, st *Step) {
	f.offload = append(f.offload, st.Offload)
	f.dsack = append(f.dsack, st.DSACK)
	f.spurious = append(f.spurious, st.DSACKSpurious)
	f.unseen = append(f.unseen, st.AckedUnseen)
}

func (f *stepFacts) Ended(c *Connection) {
	f.conn.Uncaptured, f.conn.Offload, f.conn.DSACKSpurious = c.Uncaptured, c.Offload, c.DSACKSpurious
	f.conn.OffloadMSS, f.conn.OffloadLargest, f.conn.MSSEstimated = c.OffloadMSS, c.OffloadLargest, c.MSSEstimated
}

func playSteps(client, server netip.AddrPort, script []pkt) *stepFacts {
	f := &stepFacts{}
	tr := NewTracker(f, TrackerConfig{})
	t0 := time.Unix(1_700_000_000, 0)
	for _, p := range script {
		x := Segment{Time: t0.Add(time.Duration(p.us) * time.Microsecond), Flags: p.flags, Seq: p.seq, Ack: p.ack,
			Len: p.len, Window: 512, Options: p.opts}
		if x.Options.MSS == 0 && x.Options.SACKBlocks == 0 {
			x.Options.WindowScale = -1
		}
		x.Src, x.Dst = server, client
		if p.fromClient {
			x.Src, x.Dst = client, server
		}
		tr.Observe(&x)
	}
	tr.Flush()
	return f
}

func mssOpt(m uint16) Options { return Options{MSS: m, WindowScale: 7, SACKPermitted: true} }

func sackOpt(blocks ...[2]uint32) Options {
	o := Options{WindowScale: -1, SACKBlocks: uint8(len(blocks))}
	copy(o.SACK[:], blocks)
	return o
}

// TestCaptureGap: an ACK of bytes the capture never saw counts them once,
// per direction, across sequence wraparound; bytes lost on the wire and
// sent again (the copy captured before the ACK) are no gap, and neither
// are bytes from before a capture that began midstream.
func TestCaptureGap(t *testing.T) {
	var c, s uint32 = 0xFFFFFF00, 5000 // the client's numbers wrap after 255 bytes
	tests := []struct {
		name       string
		script     []pkt
		unseen     []uint32 // per step
		uncaptured [2]int64
	}{
		{
			name: "gap across wraparound",
			script: append(handshake3(c, s),
				pkt{true, 100, PSH | ACK, c + 1, s + 1, 100, Options{}},
				pkt{false, 110, ACK, s + 1, c + 101, 0, Options{}},
				// 1000 bytes (c+101 to c+1101, past 2^32) never captured.
				pkt{false, 210, ACK, s + 1, c + 1101, 0, Options{}},
				pkt{true, 300, PSH | ACK, c + 1101, s + 1, 10, Options{}},
				pkt{false, 310, ACK, s + 1, c + 1111, 0, Options{}},
				// The server's bytes: 50 captured, 30 not.
				pkt{false, 400, PSH | ACK, s + 1, c + 1111, 50, Options{}},
				pkt{true, 410, ACK, c + 1111, s + 81, 0, Options{}},
			),
			unseen:     []uint32{0, 0, 0, 0, 0, 1000, 0, 0, 0, 30},
			uncaptured: [2]int64{1000, 30},
		},
		{
			name: "real loss, sent again",
			script: append(handshake3(c, s),
				pkt{true, 100, PSH | ACK, c + 1, s + 1, 100, Options{}},
				pkt{true, 101, PSH | ACK, c + 101, s + 1, 100, Options{}},
				pkt{false, 110, ACK, s + 1, c + 1, 0, sackOpt([2]uint32{c + 101, c + 201})},
				pkt{true, 120, PSH | ACK, c + 1, s + 1, 100, Options{}},
				pkt{false, 130, ACK, s + 1, c + 201, 0, Options{}},
			),
			unseen: make([]uint32, 8),
		},
		{
			name: "midstream: nothing before the first ACK counts",
			script: []pkt{
				{false, 0, ACK, s, c + 500_000, 0, Options{}},
				{true, 10, PSH | ACK, c + 500_000, s, 100, Options{}},
				{false, 20, ACK, s, c + 500_100, 0, Options{}},
			},
			unseen: make([]uint32, 3),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := playSteps(cl, sv, tt.script)
			if !slices.Equal(f.unseen, tt.unseen) {
				t.Errorf("acked unseen per step %v, want %v", f.unseen, tt.unseen)
			}
			if f.conn.Uncaptured != tt.uncaptured {
				t.Errorf("uncaptured %v, want %v", f.conn.Uncaptured, tt.uncaptured)
			}
		})
	}
}

// TestOffload: payload longer than the path's MSS (the SYNs' options, or
// without them a 1500-byte path shown by a full-size segment) is an
// offload super-segment; a loopback or jumbo path's large segments are
// not, without a SYN to say so.
func TestOffload(t *testing.T) {
	const c, s = 1000, 5000
	v6c, v6s := netip.MustParseAddrPort("[fd00::1]:40000"), netip.MustParseAddrPort("[fd00::2]:80")
	syns := func(cm, sm uint16) []pkt {
		return []pkt{{true, 0, SYN, c, 0, 0, mssOpt(cm)}, {false, 10, SYN | ACK, s, c + 1, 0, mssOpt(sm)}, {true, 20, ACK, c + 1, s + 1, 0, Options{}}}
	}
	tests := []struct {
		name      string
		v6        bool
		script    []pkt
		offload   []bool
		count     [2]int
		mss       int
		estimated bool
	}{
		{
			name: "MSS from the SYNs, the smaller one",
			script: append(syns(1460, 1400),
				pkt{true, 100, PSH | ACK, c + 1, s + 1, 1388, Options{}},
				pkt{true, 101, PSH | ACK, c + 1389, s + 1, 1401, Options{}},
				pkt{true, 102, PSH | ACK, c + 2790, s + 1, 65160, Options{}},
				pkt{false, 110, PSH | ACK, s + 1, c + 67950, 1400, Options{}},
			),
			offload: []bool{false, false, false, false, true, true, false},
			count:   [2]int{2, 0},
			mss:     1400,
		},
		{
			name: "loopback's MSS: 65483 bytes are one segment",
			script: append(syns(65495, 65495),
				pkt{true, 100, PSH | ACK, c + 1, s + 1, 65483, Options{}},
			),
			offload: []bool{false, false, false, false},
		},
		{
			name: "midstream: a 1448-byte segment shows a 1500-byte path",
			script: []pkt{
				{true, 0, ACK, c, s, 7240, Options{}}, // before: not known yet
				{true, 1, ACK, c + 7240, s, 1448, Options{}},
				{true, 2, PSH | ACK, c + 8688, s, 2896, Options{}},
			},
			offload:   []bool{false, false, true},
			count:     [2]int{1, 0},
			mss:       1460,
			estimated: true,
		},
		{
			name: "midstream IPv6: 1428 bytes show it",
			v6:   true,
			script: []pkt{
				{false, 1, ACK, s, c, 1428, Options{}},
				{false, 2, PSH | ACK, s + 1428, c, 1441, Options{}},
			},
			offload:   []bool{false, true},
			count:     [2]int{0, 1},
			mss:       1440,
			estimated: true,
		},
		{
			name: "midstream jumbo path: no full-size Ethernet segment, nothing claimed",
			script: []pkt{
				{true, 1, ACK, c, s, 8948, Options{}},
				{true, 2, ACK, c + 8948, s, 1000, Options{}},
				{true, 3, ACK, c + 9948, s, 8948, Options{}},
			},
			offload: []bool{false, false, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := cl, sv
			if tt.v6 {
				client, server = v6c, v6s
			}
			f := playSteps(client, server, tt.script)
			if !slices.Equal(f.offload, tt.offload) {
				t.Errorf("offload per step %v, want %v", f.offload, tt.offload)
			}
			if f.conn.Offload != tt.count || f.conn.OffloadMSS != tt.mss || f.conn.MSSEstimated != tt.estimated {
				t.Errorf("offload %v, MSS %d (estimated %v); want %v, %d (%v)", f.conn.Offload, f.conn.OffloadMSS, f.conn.MSSEstimated, tt.count, tt.mss, tt.estimated)
			}
		})
	}
}

// TestDSACK: a first SACK block below the ACK number (or inside the
// second block) is a D-SACK; it proves spurious the other side's last
// retransmission when it covers it, and only once. A plain SACK block is
// none.
func TestDSACK(t *testing.T) {
	var c, s uint32 = 0xFFFFFFF0, 5000 // the D-SACK's edges wrap
	tests := []struct {
		name     string
		script   []pkt
		dsack    []bool
		spurious []bool
		count    int
	}{
		{
			name: "retransmission proven spurious",
			script: append(handshake3(c, s),
				pkt{true, 100, PSH | ACK, c + 1, s + 1, 100, Options{}},
				pkt{true, 300, PSH | ACK, c + 1, s + 1, 100, Options{}}, // the ACK was lost before the capture
				pkt{false, 310, ACK, s + 1, c + 101, 0, sackOpt([2]uint32{c + 1, c + 101})},
				pkt{false, 320, ACK, s + 1, c + 101, 0, sackOpt([2]uint32{c + 1, c + 101})}, // the same again proves nothing new
			),
			dsack:    []bool{false, false, false, false, false, true, true},
			spurious: []bool{false, false, false, false, false, true, false},
			count:    1,
		},
		{
			name: "D-SACK inside the second block",
			script: append(handshake3(c, s),
				pkt{true, 100, PSH | ACK, c + 1, s + 1, 100, Options{}},
				pkt{true, 101, PSH | ACK, c + 101, s + 1, 100, Options{}},
				pkt{true, 102, PSH | ACK, c + 201, s + 1, 100, Options{}},
				pkt{true, 300, PSH | ACK, c + 201, s + 1, 100, Options{}},
				pkt{false, 310, ACK, s + 1, c + 1, 0, sackOpt([2]uint32{c + 201, c + 301}, [2]uint32{c + 201, c + 301})},
			),
			dsack:    []bool{false, false, false, false, false, false, false, true},
			spurious: []bool{false, false, false, false, false, false, false, true},
			count:    1,
		},
		{
			name: "plain SACK",
			script: append(handshake3(c, s),
				pkt{true, 100, PSH | ACK, c + 1, s + 1, 100, Options{}},
				pkt{true, 101, PSH | ACK, c + 101, s + 1, 100, Options{}},
				pkt{false, 110, ACK, s + 1, c + 1, 0, sackOpt([2]uint32{c + 101, c + 201})},
			),
			dsack:    []bool{false, false, false, false, false, false},
			spurious: []bool{false, false, false, false, false, false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := playSteps(cl, sv, tt.script)
			if !slices.Equal(f.dsack, tt.dsack) || !slices.Equal(f.spurious, tt.spurious) {
				t.Errorf("dsack %v spurious %v\nwant  %v          %v", f.dsack, f.spurious, tt.dsack, tt.spurious)
			}
			if f.conn.DSACKSpurious[Client] != tt.count {
				t.Errorf("DSACKSpurious %v, want %d for the client", f.conn.DSACKSpurious, tt.count)
			}
		})
	}
}
