package main

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/decode"
)

// tcpFrame is a minimal Ethernet/IPv4/TCP frame from src to dst with the
// given TCP flags and no payload.
func tcpFrame(src, dst netip.AddrPort, flags byte) []byte {
	b := make([]byte, 14+20+20)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 40)
	ip[8] = 64
	ip[9] = 6
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], 1000)
	tcp[12] = 5 << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	return b
}

// frameAt is a captured frame from src to dst with the given TCP flags, at
// at past t0.
func frameAt(t0 time.Time, at time.Duration, src, dst netip.AddrPort, flags byte) *capture.Packet {
	data := tcpFrame(src, dst, flags)
	return &capture.Packet{Timestamp: t0.Add(at), LinkType: layers.LinkTypeEthernet, Data: data, Length: len(data)}
}

// TestOwnFilterWaitsForLateCalls: a connection's packets wait in the
// limbo until its call arrives, however long the capture has run on
// meanwhile, as long as the calls have not moved past them; packets no
// call claims within the far limbo's age of the calls' clock are let go.
func TestOwnFilterWaitsForLateCalls(t *testing.T) {
	cli := netip.MustParseAddrPort("127.0.0.1:40000")
	srv := netip.MustParseAddrPort("127.0.0.1:8080")
	other := netip.MustParseAddrPort("127.0.0.1:50000")
	t0 := time.Unix(1_700_000_000, 0)
	pkt := func(at time.Duration, src, dst netip.AddrPort, flags byte) *capture.Packet {
		return frameAt(t0, at, src, dst, flags)
	}
	dc := &liveCapture{linkType: layers.LinkTypeEthernet}
	f := newOwnFilter(dc)
	// The program's handshake, then 5 s of someone else's traffic while
	// the tracer lags: its connect() has not been reported yet.
	f.packet(pkt(0, cli, srv, 0x02))
	f.packet(pkt(time.Millisecond, srv, cli, 0x12))
	f.packet(pkt(2*time.Millisecond, cli, srv, 0x10))
	for i := range 50 {
		f.packet(pkt(time.Duration(i)*100*time.Millisecond, other, srv, 0x10))
	}
	if len(dc.packets) != 0 {
		t.Fatalf("%d packets kept before any call named them", len(dc.packets))
	}
	// The late connect() claims the handshake.
	f.noteCall(&calls.Event{Call: calls.Connect, Local: cli, Remote: srv, Enter: t0, Exit: t0.Add(2 * time.Millisecond)})
	f.packet(pkt(5*time.Second, cli, srv, 0x11))
	if got := len(dc.packets); got != 4 {
		t.Fatalf("kept %d packets, want the handshake and the FIN (4)", got)
	}
	// Once the calls' clock has moved the far limbo's age past the other flow's
	// packets, they are let go as no one's.
	f.noteCall(&calls.Event{Call: calls.Close, Local: cli, Remote: srv, Enter: t0.Add(9 * time.Second), Exit: t0.Add(9 * time.Second)})
	f.packet(pkt(9*time.Second, other, srv, 0x10))
	if dc.unrelated == 0 {
		t.Errorf("no packet of the unrelated flow let go after the calls moved on (limbo %d)", f.limbo.live)
	}
	f.finish()
	if len(dc.packets) != 4 {
		t.Errorf("after finish: %d packets kept, want 4", len(dc.packets))
	}
}

// TestOwnFilterNearFlowOutlivesStorm: a SYN to the program's listener,
// from a client port no call has named yet (its connect() blocks across
// SYN retransmissions), waits for that call however much other traffic
// passes the filter meanwhile; the other traffic's packets are let go as
// no one's. A loopback storm of another program once pushed the first
// two SYNs of the demo's backlog-full lesson out of the limbo, and the
// lesson showed the last SYN alone.
func TestOwnFilterNearFlowOutlivesStorm(t *testing.T) {
	for _, tc := range []struct {
		name     string
		listener netip.AddrPort // bound by the program's listen()
	}{
		{"listener's own address", netip.MustParseAddrPort("127.0.0.1:8080")},
		{"listening on every address", netip.MustParseAddrPort("0.0.0.0:8080")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cli := netip.MustParseAddrPort("127.0.0.1:40000")
			srv := netip.MustParseAddrPort("127.0.0.1:8080")
			t0 := time.Unix(1_700_000_000, 0)
			pkt := func(at time.Duration, src, dst netip.AddrPort, flags byte) *capture.Packet {
				return frameAt(t0, at, src, dst, flags)
			}
			dc := &liveCapture{linkType: layers.LinkTypeEthernet}
			f := newOwnFilter(dc)
			f.noteCall(&calls.Event{Call: calls.Listen, Local: tc.listener, Enter: t0, Exit: t0})
			storm := 2 * farLimbo.packets
			stormAt := func(i int) time.Duration { return time.Second + time.Duration(i)*time.Second/time.Duration(storm) }
			f.packet(pkt(time.Second, cli, srv, 0x02)) // the SYN, dropped by the full accept queue
			for i := range storm / 2 {
				a := netip.AddrPortFrom(cli.Addr(), uint16(20000+i%1000))
				f.packet(pkt(stormAt(i), a, netip.MustParseAddrPort("127.0.0.1:9999"), 0x10))
			}
			f.packet(pkt(2*time.Second, cli, srv, 0x02)) // retransmitted
			for i := storm / 2; i < storm; i++ {
				a := netip.AddrPortFrom(cli.Addr(), uint16(20000+i%1000))
				f.packet(pkt(stormAt(i)+time.Second, a, netip.MustParseAddrPort("127.0.0.1:9999"), 0x10))
			}
			f.packet(pkt(4*time.Second, cli, srv, 0x02)) // answered
			f.packet(pkt(4*time.Second+time.Millisecond, srv, cli, 0x12))
			if len(dc.packets) != 0 {
				t.Fatalf("%d packets kept before any call named the client", len(dc.packets))
			}
			if dc.unrelated < int64(storm-farLimbo.packets) {
				t.Errorf("%d packets let go as no one's, want at least %d of the storm's", dc.unrelated, storm-farLimbo.packets)
			}
			f.noteCall(&calls.Event{Call: calls.Connect, Local: cli, Remote: srv, Enter: t0.Add(time.Second), Exit: t0.Add(4*time.Second + time.Millisecond)})
			f.finish()
			syns := 0
			for _, p := range dc.packets {
				var seg decode.Segment
				if err := decode.Decode(&p, &seg); err != nil {
					t.Fatal(err)
				}
				if seg.Src != cli && seg.Dst != cli {
					t.Errorf("kept a packet of the storm: %v → %v", seg.Src, seg.Dst)
				}
				if seg.Src == cli && seg.Flags == decode.SYN {
					syns++
				}
			}
			if syns != 3 || len(dc.packets) != 4 {
				t.Errorf("kept %d packets with %d SYNs, want the 3 SYNs and the SYN-ACK", len(dc.packets), syns)
			}
		})
	}
}

// TestOwnFilterNearIsForListeners: only a flow to an address the program
// listens on waits in the near limbo; a flow of another program's on a
// port the program used as a client (the kernel hands ephemeral ports on)
// waits in the far one, and is let go as soon as it is old.
func TestOwnFilterNearIsForListeners(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	pkt := func(src, dst string) *capture.Packet {
		return frameAt(t0, 0, netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst), 0x02)
	}
	dc := &liveCapture{linkType: layers.LinkTypeEthernet}
	f := newOwnFilter(dc)
	f.noteCall(&calls.Event{Call: calls.Connect, Local: netip.MustParseAddrPort("127.0.0.1:40000"), Remote: netip.MustParseAddrPort("10.0.0.1:80"), Enter: t0, Exit: t0})
	f.noteCall(&calls.Event{Call: calls.Listen, Local: netip.MustParseAddrPort("[::]:8080"), Enter: t0, Exit: t0})
	f.packet(pkt("127.0.0.1:40000", "127.0.0.1:9999")) // another program, the port reused
	if f.near.live != 0 || f.limbo.live != 1 {
		t.Errorf("a flow on the program's old client port: near %d, far %d; want it in the far limbo", f.near.live, f.limbo.live)
	}
	f.packet(pkt("127.0.0.1:50000", "127.0.0.1:8080")) // to the program's listener (on every address)
	if f.near.live != 1 {
		t.Errorf("a SYN to the program's listener: near %d, want 1", f.near.live)
	}
}
