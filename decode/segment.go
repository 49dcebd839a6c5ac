package decode

import (
	"net/netip"
	"strings"
	"time"
)

// Flags are the TCP header's control bits.
type Flags uint16

// The control bits, in header order.
const (
	FIN Flags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

var flagNames = [...]string{"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}

// Has reports whether all of want are set.
func (f Flags) Has(want Flags) bool { return f&want == want }

// Names appends the names of the set flags, in the order the JSON schema
// lists them (SYN, ACK, FIN, RST, PSH, URG, ECE, CWR), to dst.
func (f Flags) Names(dst []string) []string {
	for _, b := range [...]Flags{SYN, ACK, FIN, RST, PSH, URG, ECE, CWR} {
		if f&b != 0 {
			dst = append(dst, b.Name())
		}
	}
	return dst
}

// Name is the name of a single flag, such as "SYN".
func (f Flags) Name() string {
	for i := range flagNames {
		if f == 1<<i {
			return flagNames[i]
		}
	}
	return "?"
}

// String writes the flags the way people say them, the ACK last: "SYN",
// "SYN-ACK", "FIN-ACK", "PSH-ACK", "RST-ACK".
func (f Flags) String() string {
	if f == 0 {
		return "none"
	}
	var b strings.Builder
	for _, x := range [...]Flags{SYN, FIN, RST, PSH, URG, ECE, CWR, ACK} {
		if f&x != 0 {
			if b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteString(x.Name())
		}
	}
	return b.String()
}

// Options are the TCP options socktrace reports. Absent options keep their
// zero value, except WindowScale, which is -1 when absent.
type Options struct {
	MSS           uint16 // maximum segment size; 0 when absent
	WindowScale   int8   // shift count; -1 when absent
	SACKPermitted bool
	Timestamps    bool // TSVal and TSEcr are set
	TSVal, TSEcr  uint32
	// FastOpen is set when the segment carries a TCP Fast Open option
	// (RFC 7413: kind 34, or the experimental kind 254 with magic 0xF989
	// that early implementations sent). FastOpenCookie is the cookie's
	// length: 0 for a request for a cookie.
	FastOpen       bool
	FastOpenCookie uint8
	// SACK holds the first SACKBlocks (at most 4) SACK blocks of the
	// segment (RFC 2018, kind 5): the absolute [left, right) edges of
	// bytes the receiver holds beyond its ACK number, or, for the first
	// block, bytes it got twice (a D-SACK, RFC 2883).
	SACK       [4][2]uint32
	SACKBlocks uint8
}

// The values of Segment.ECN, the two ECN bits of the IPv4 TOS or IPv6
// traffic class byte.
const (
	NotECT uint8 = iota // the sender does not use ECN
	ECT1                // ECN-capable transport (1): L4S senders
	ECT0                // ECN-capable transport (0): classic ECN
	CE                  // Congestion Experienced: a router marked it
)

// Segment is one TCP segment as seen at the capture point.
//
// Payload aliases the packet's buffer and is valid only as long as the
// packet is; everything else is a value.
type Segment struct {
	Time     time.Time
	Src, Dst netip.AddrPort
	Seq, Ack uint32 // absolute sequence and acknowledgment numbers
	Flags    Flags
	Window   uint16 // the raw window field, unscaled
	// Len is the payload length the IP header announces. A packet cut
	// short by the snap length still counts its whole payload here.
	Len int
	// Payload is the part of the payload that was captured (at most Len
	// bytes).
	Payload []byte
	Options Options
	// Truncated is set when the snap length cut the TCP header or payload.
	Truncated bool
	// Fragments is the number of IP fragments the segment arrived in, 0
	// when it was not fragmented.
	Fragments int
	// ECN is the IP header's ECN field (RFC 3168): NotECT, ECT1, ECT0 or
	// CE, the mark a congested router sets instead of dropping. For
	// reassembled fragments it is the last fragment's.
	ECN uint8

	frag fragment // the IP fragment Decode found, when it returns ErrFragment
	// Tunnel is the innermost tunnel the segment came through, nil for
	// none. Like Payload it points into the decoder's buffers.
	Tunnel *Tunnel
}

// SeqLen is the amount of sequence space the segment occupies: its payload,
// plus one for SYN and one for FIN.
func (s *Segment) SeqLen() uint32 {
	n := uint32(s.Len)
	if s.Flags&SYN != 0 {
		n++
	}
	if s.Flags&FIN != 0 {
		n++
	}
	return n
}
