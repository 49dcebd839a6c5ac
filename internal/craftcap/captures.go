package craftcap

import (
	"net/netip"
	"time"
)

// conv builds the packets of one connection between a client and a
// server, with ISNs ic and is: seq and ack below are relative to them
// (1 is the first byte after the SYN), as tcpdump and Wireshark show.
type conv struct {
	client, server netip.AddrPort
	ic, is         uint32
	base           time.Duration
	out            []Packet
}

func newConv(client, server string, ic, is uint32, base time.Duration) *conv {
	return &conv{client: netip.MustParseAddrPort(client), server: netip.MustParseAddrPort(server), ic: ic, is: is, base: base}
}

const us = time.Microsecond

// c adds a segment from the client at µs from the connection's base.
func (v *conv) c(at int, flags uint8, seq, ack uint32, n int) *Packet {
	v.out = append(v.out, Packet{At: v.base + time.Duration(at)*us, Src: v.client, Dst: v.server, Flags: flags,
		Seq: v.ic + seq, Ack: v.is + ack, Len: n, IPID: uint16(len(v.out) + 1)})
	return &v.out[len(v.out)-1]
}

// s adds a segment from the server.
func (v *conv) s(at int, flags uint8, seq, ack uint32, n int) *Packet {
	v.out = append(v.out, Packet{At: v.base + time.Duration(at)*us, Src: v.server, Dst: v.client, Flags: flags,
		Seq: v.is + seq, Ack: v.ic + ack, Len: n, IPID: uint16(len(v.out) + 1000)})
	return &v.out[len(v.out)-1]
}

func (v *conv) handshake() {
	v.c(0, SYN, 0, 0, 0)
	v.s(40, SYN|ACK, 0, 1, 0)
	v.c(80, ACK, 1, 1, 0)
}

// closeBoth: the client closes first, after sending cn bytes and
// receiving sn.
func (v *conv) closeBoth(at int, cn, sn uint32) {
	v.c(at, FIN|ACK, cn+1, sn+1, 0)
	v.s(at+40, FIN|ACK, sn+1, cn+2, 0)
	v.c(at+80, ACK, cn+2, sn+2, 0)
}

// All returns the crafted captures, one or more per class of issue 10.
func All() []Capture {
	return []Capture{gapFill(), noSYNACK(), synackData(), fastOpen(), synRetry(), reordered(), forgedRST(),
		fragments(), midstream(), oneDirection(), zeekEdges(), selfAddressed()}
}

// A1: server bytes 2898–3954 arrive first, then 2–1450 and 1450–2898;
// bytes whose first copy was lost before the capture point; a spurious
// retransmission; a FIN that overtakes its data.
func gapFill() Capture {
	v := newConv("192.0.2.10:51000", "198.51.100.20:80", 1_000_000, 3_000_000, 0)
	v.handshake()
	v.c(100, PSH|ACK, 1, 1, 1)
	v.s(300, ACK, 2898, 2, 1056)
	v.s(301, ACK, 2, 2, 1448)
	v.s(302, ACK, 1450, 2, 1448)
	v.c(340, ACK, 2, 3954, 0)
	v.s(600, ACK, 2, 2, 1448) // again, all acknowledged: spurious
	// 3954–5402 lost before the capture point; 5402–6850 seen.
	v.s(700, ACK, 5402, 2, 1448)
	v.c(740, ACK, 2, 6850, 0) // the retransmission reached the client
	// The FIN overtakes 6850–7850.
	v.s(800, FIN|ACK, 7850, 2, 0)
	v.s(801, PSH|ACK, 6850, 2, 1000)
	v.c(840, ACK, 2, 7851, 0)
	v.c(900, FIN|ACK, 2, 7851, 0)
	v.s(940, ACK, 7851, 3, 0)
	return Capture{"a1-gap-fill", "out-of-order, lost-before-capture and spurious segments; a FIN that overtakes its data", v.out}
}

// A2: the SYN-ACK is not in the capture.
func noSYNACK() Capture {
	v := newConv("192.0.2.10:51001", "198.51.100.20:646", 110_236, 87_764, 0)
	v.c(0, SYN, 0, 0, 0)
	v.c(27, PSH|ACK, 1, 1, 41)
	v.s(300, PSH|ACK, 1, 42, 59)
	v.c(340, ACK, 42, 60, 0)
	v.closeBoth(1000, 41, 59)
	return Capture{"a2-no-synack", "SYN, then the client's data: the SYN-ACK was lost before the capture point", v.out}
}

// A3: a SYN-ACK carrying 110 bytes, answered by ack ISN+111.
func synackData() Capture {
	v := newConv("192.0.2.10:51002", "198.51.100.20:7", 5000, 9000, 0)
	v.c(0, SYN, 0, 0, 0)
	v.s(40, SYN|ACK, 0, 1, 110)
	v.c(80, ACK, 1, 111, 0)
	v.closeBoth(200, 0, 110)
	return Capture{"a3-synack-data", "a SYN-ACK with 110 bytes of data, acknowledged with ISN+111", v.out}
}

// A3: TCP Fast Open: a SYN with a cookie and 20 bytes, the SYN-ACK
// acknowledging them.
func fastOpen() Capture {
	v := newConv("192.0.2.10:51003", "198.51.100.20:443", 7000, 11000, 0)
	syn := v.c(0, SYN, 0, 0, 20)
	syn.Options = []byte{2, 4, 0x05, 0xb4, 34, 10, 1, 2, 3, 4, 5, 6, 7, 8} // MSS, TFO cookie (8 bytes)
	synack := v.s(40, SYN|ACK, 0, 21, 0)
	synack.Options = []byte{2, 4, 0x05, 0xb4}
	v.c(80, ACK, 21, 1, 0)
	v.s(120, PSH|ACK, 1, 21, 30)
	v.c(160, ACK, 21, 31, 0)
	v.closeBoth(300, 20, 30)
	return Capture{"a3-tfo", "TCP Fast Open: data and a cookie on the SYN", v.out}
}

// A4: a Windows client's SYN answered by RST three times, 0.5 s apart,
// the same ISN each time.
func synRetry() Capture {
	v := newConv("192.0.2.30:49700", "198.51.100.20:3389", 424242, 0, 0)
	for i := range 3 {
		at := i * 500_000
		v.c(at, SYN, 0, 0, 0)
		v.s(at+300, RST|ACK, 0, 1, 0).Seq = 0
	}
	return Capture{"a4-syn-rst-retry", "one connect(): a SYN refused and tried again twice with the same ISN", v.out}
}

// A5: the SYN-ACK is time-stamped before its SYN (and comes first in the
// file, as a capture sorted by time puts it).
func reordered() Capture {
	v := newConv("192.0.2.10:51004", "198.51.100.20:80", 100, 900, 0)
	v.s(10, SYN|ACK, 0, 1, 0)
	v.c(12, SYN, 0, 0, 0)
	v.c(60, ACK, 1, 1, 0)
	v.c(70, PSH|ACK, 1, 1, 10)
	v.s(110, ACK, 1, 11, 0)
	v.closeBoth(200, 10, 0)
	return Capture{"a5-synack-before-syn", "the SYN-ACK time-stamped before its SYN (multi-queue capture)", v.out}
}

// A6: RSTs the kernel drops: one without ACK and one with a wrong ack
// while the client is in SYN_SENT, one outside the window once
// established.
func forgedRST() Capture {
	v := newConv("192.0.2.10:51005", "198.51.100.20:80", 2000, 6000, 0)
	v.c(0, SYN, 0, 0, 0)
	v.s(10, RST, 0, 0, 0).Seq = 0
	v.s(20, RST|ACK, 0, 77, 0).Seq = 0
	v.s(40, SYN|ACK, 0, 1, 0)
	v.c(80, ACK, 1, 1, 0)
	v.c(90, PSH|ACK, 1, 1, 10)
	v.s(130, ACK, 1, 11, 0)
	v.s(150, RST, 500_000, 0, 0)
	v.closeBoth(200, 10, 0)
	return Capture{"a6-forged-rst", "RSTs outside what RFC 9293 and RFC 5961 accept: ignored, the connection goes on", v.out}
}

// A7: segments split into IPv4 and IPv6 fragments.
func fragments() Capture {
	v := newConv("192.0.2.10:51006", "198.51.100.20:80", 300, 700, 0)
	v.handshake()
	v.c(100, PSH|ACK, 1, 1, 3000).Fragments = 3
	v.s(140, ACK, 1, 3001, 0)
	v.closeBoth(200, 3000, 0)
	w := newConv("[2001:db8::10]:51007", "[2001:db8::20]:80", 400, 800, time.Millisecond)
	w.handshake()
	w.c(100, PSH|ACK, 1, 1, 2500).Fragments = 2
	w.s(140, ACK, 1, 2501, 0)
	w.closeBoth(200, 2500, 0)
	return Capture{"a7-fragments", "a 3000-byte segment in three IPv4 fragments, a 2500-byte one in two IPv6 fragments", append(v.out, w.out...)}
}

// A8: the capture starts mid-connection; the client's first ACK lags
// behind the first server byte seen.
func midstream() Capture {
	v := newConv("192.0.2.10:51008", "198.51.100.20:80", 10_000, 4_000_000_000, 0)
	v.s(0, PSH|ACK, 20_001, 501, 1000)
	v.c(10, ACK, 501, 19_001, 0)
	v.c(20, ACK, 501, 21_001, 0)
	v.c(30, PSH|ACK, 501, 21_001, 100)
	v.s(70, ACK, 21_001, 601, 0)
	v.closeBoth(200, 600, 21_000)
	return Capture{"a8-midstream", "a capture that begins mid-connection, across the 2^32 wrap of the server's numbers", v.out}
}

// A9: a filter that keeps one direction: only the client's segments.
func oneDirection() Capture {
	v := newConv("192.0.2.10:51009", "198.51.100.20:80", 100, 500, 0)
	v.c(0, SYN, 0, 0, 0)
	v.c(80, ACK, 1, 1, 0)
	v.c(90, PSH|ACK, 1, 1, 22)
	v.c(170, ACK, 23, 28, 0)
	v.c(200, FIN|ACK, 23, 28, 0)
	v.c(280, ACK, 24, 29, 0)
	return Capture{"a9-one-direction", "only the client's segments (a filter such as 'dst port 80')", v.out}
}

// A10: the packets Zeek's conn_state is defined on.
func zeekEdges() Capture {
	var out []Packet
	probe := newConv("192.0.2.40:40000", "198.51.100.20:22", 1, 0, 0)
	probe.c(0, SYN|FIN, 0, 0, 0)
	out = append(out, probe.out...)
	safr := newConv("192.0.2.40:40001", "198.51.100.20:22", 100, 500, 10*time.Millisecond)
	safr.c(0, SYN, 0, 0, 0)
	safr.s(10, ACK, 0, 1, 0)
	safr.c(20, FIN|ACK, 1, 0, 0)
	safr.c(30, RST, 2, 0, 0)
	out = append(out, safr.out...)
	daffa := newConv("192.0.2.40:40002", "198.51.100.20:22", 100, 500, 20*time.Millisecond)
	daffa.c(0, PSH|ACK, 1, 1, 10)
	daffa.s(10, ACK, 1, 11, 0)
	daffa.closeBoth(20, 10, 0)
	out = append(out, daffa.out...)
	h := newConv("192.0.2.40:40003", "198.51.100.20:22", 100, 500, 30*time.Millisecond)
	h.s(0, SYN|ACK, 0, 1, 0)
	h.c(10, ACK, 1, 1, 0)
	h.c(20, PSH|ACK, 1, 1, 5)
	out = append(out, h.out...)
	return Capture{"a10-zeek-states", "SYN+FIN probe (SH), SaFR (OTH), DaFfA (SF), SYN-ACK without SYN (S1)", out}
}

// A11: a lone data segment whose source is its destination.
func selfAddressed() Capture {
	v := newConv("192.0.2.50:7000", "192.0.2.50:7000", 100, 100, 0)
	v.c(0, PSH|ACK, 1, 1, 10)
	return Capture{"a11-self-addressed", "one data segment from an address to itself: not a simultaneous open", v.out}
}
