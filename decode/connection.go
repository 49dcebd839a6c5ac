package decode

import (
	"net/netip"
	"time"

	"github.com/socktrace/socktrace/calls"
)

// Handshake says how a connection opened.
type Handshake uint8

// The handshake kinds, as the JSON schema spells them.
const (
	ThreeWay         Handshake = iota // SYN, SYN-ACK, ACK
	SimultaneousOpen                  // both sides sent a SYN without ACK (a self-connect is one)
	Refused                           // the SYN was answered with RST: nothing listened
	Unanswered                        // the SYN got no answer in the capture
	Midstream                         // the capture began after the handshake
	// Incomplete: SYN and SYN-ACK, and nothing from the client that
	// acknowledges the SYN-ACK (no ACK, data or FIN): a client that never
	// answered (a SYN flood's forged SYN, a SYN-ACK lost on its way) or a
	// capture that ended first. Last, so that the earlier values keep
	// their numbers.
	Incomplete
)

var handshakeNames = [...]string{"three-way", "simultaneous-open", "refused", "unanswered", "midstream", "incomplete"}

func (h Handshake) String() string { return handshakeNames[h] }

// CloseKind says how a connection ended.
type CloseKind uint8

// The close kinds, as the JSON schema spells them.
const (
	CloseNone  CloseKind = iota // it never opened (refused, unanswered)
	Graceful                    // both sides sent FIN
	Reset                       // a RST ended it
	HalfClosed                  // one side sent FIN, the other had not when the capture ended
	Open                        // no FIN or RST seen
)

var closeNames = [...]string{"none", "graceful", "reset", "half-closed", "open"}

func (k CloseKind) String() string { return closeNames[k] }

// Connection is one TCP connection: a 4-tuple over a span of time. The same
// 4-tuple used again after a close (loopback reuses ports constantly) is a
// new Connection.
//
// A Tracker reuses Connection values: a Handler must not keep a
// *Connection, or any slice in it, after its Ended method returns.
type Connection struct {
	// key is what the tracker's table knows the connection by, and
	// newer and older its place in the LRU list: first, beside the
	// fields every segment reads, so that a lookup that compares the key
	// and the segment's work share cache lines (at the end of this
	// 1.2 KB struct the key cost a cache miss of its own per lookup).
	key          connKey
	newer, older *Connection // LRU list

	ID             int // 1, 2, ... in order of first packet
	Client, Server netip.AddrPort
	// SelfConnect is set for a socket that connected to itself: client
	// and server are the same socket.
	SelfConnect bool
	// RolesGuessed is set when the capture began midstream and the client
	// was chosen by port numbers, not by who sent the first SYN.
	RolesGuessed bool
	// Evicted is set when the connection was ended early because the
	// connection table was full; a later packet of it resumes it.
	Evicted bool
	// Resumed is set when this part of the connection began with a packet
	// that came after the connection was evicted: it continues the
	// connection of the same ID (its handshake is not in this part).
	Resumed bool

	Start, End time.Time // first and last segment
	Packets    int
	// Bytes counts the payload bytes each side sent, indexed by Side, by
	// the sequence space they cover: each byte once however often it was
	// sent, and bytes the capture missed (lost before the capture point)
	// once the receiver acknowledged them.
	Bytes [2]int64
	// SYNRetransmits counts the client's SYNs after the first.
	SYNRetransmits int
	// IRTT is the initial round-trip time as Wireshark defines it: from
	// the last SYN to the ACK that completes the handshake. HasIRTT is
	// false when the handshake did not complete.
	IRTT    time.Duration
	HasIRTT bool

	FirstFIN Sides // who sent the first FIN; both for a simultaneous close
	RSTFrom  Sides // who sent the first RST
	TimeWait Sides // who entered TIME_WAIT
	// HalfClose is set when a side sent data after receiving the other
	// side's FIN.
	HalfClose bool

	// SYNACKMissed is set when the handshake completed but the capture
	// has no SYN-ACK: the client's ACK (a socket in SYN_SENT sends
	// nothing else) proves it arrived.
	SYNACKMissed bool
	// FastOpen lists the sides whose SYN carried a TCP Fast Open option
	// (RFC 7413: a cookie, or a request for one).
	FastOpen Sides
	// SYNData counts the payload bytes each side's SYN carried (TCP Fast
	// Open), indexed by Side.
	SYNData [2]int
	// RSTsIgnored counts RSTs the receiving stack would have dropped:
	// outside what RFC 9293 and RFC 5961 §3 accept (a forged or stale
	// RST).
	RSTsIgnored int
	// Reordered is set when the capture's order is not the wire's: a
	// segment time-stamped before one captured earlier, or a SYN-ACK
	// captured before its SYN.
	Reordered bool

	// Uncaptured counts, indexed by Side, the payload bytes each side
	// sent that the capture never saw but the other side acknowledged: a
	// capture gap (a capture that dropped packets, or began late). The
	// bytes did cross the wire; unlike a loss, nothing was sent again.
	Uncaptured [2]int64
	// Offload counts, indexed by Side, the segments longer than the
	// path's MSS (OffloadMSS): super-segments that TSO/GSO had not cut
	// yet (a capture at the sender) or GRO had merged already (at the
	// receiver). The wire carried MSS-sized segments; what one write()
	// gave cannot be told from them.
	Offload [2]int
	// OffloadMSS is the segment size the path carries: the smaller MSS
	// option of the SYNs, or, with no MSS option seen, the full-size
	// segment of a 1500-byte path seen in the capture (MSSEstimated);
	// 0 while neither is known. OffloadLargest is the largest
	// super-segment.
	OffloadMSS     int
	OffloadLargest int
	MSSEstimated   bool
	// DSACKSpurious counts, indexed by Side, the side's retransmissions
	// that the receiver's D-SACK (RFC 2883) showed were not needed: it
	// already had those bytes.
	DSACKSpurious [2]int

	// Calls are the socket calls aligned with this connection, seen or
	// inferred, in time order.
	Calls []calls.Event
	// CallsOmitted counts the calls not kept in Calls, past its bound
	// (1000 calls, then 100 more that are not reads or writes).
	CallsOmitted int
	// KernelEvents is what the kernel itself reported about the
	// connection's sockets (the eBPF recorder: state changes,
	// retransmissions, resets, errors), in time order; at most
	// maxKernelEvents. Kernel compares them with the inferred states.
	KernelEvents []calls.KernelEvent
	// Scenario names the demo scenario the connection came from, if any.
	Scenario string
	// Owners are the processes that held each side's socket, indexed by
	// Side, where watch found them (see Owner); nil when none was (a
	// pointer: most connections have none, and the table's cost per
	// connection is counted).
	Owners *[2]Owner

	state  [2]State
	states [2][]State
	seq    [2]seqSpace     // the sequence space each side sent, indexed by Side
	zeek   [2]zeekEndpoint // Zeek's view of each side, for ConnState
	sent   [2]int          // segments each side sent

	sawSYN, sawSYNACK [2]bool
	hasBase           [2]bool
	base              [2]uint32 // relative sequence numbers count from here
	isn               [2]uint32
	hasNext           [2]bool
	next              [2]uint32 // highest sequence number sent, plus one
	finSent           [2]bool
	finSeq            [2]uint32
	finTaken          [2]bool   // the other side processed the side's FIN
	finCrossed        [2]bool   // the side sent its FIN before it had the other's, which the capture had seen
	finAgain          [2]bool   // the side sent its FIN again before it was acknowledged
	probes            [2]uint8  // keep-alive probes the side sent that nothing answered yet
	mss               [2]uint16 // the MSS option of each side's SYN; 0 when none was seen
	fullSize          int       // a full-size segment of a 1500-byte path seen, when no MSS option was
	rtx               [2]span   // each side's last retransmission, unwrapped (a D-SACK can show it spurious)
	ackedUnseen       uint32    // bytes the segment being applied acknowledged that the capture never saw
	rst               bool
	midstream         bool
	refused           bool
	lastSYN           time.Time
	synackAcked       bool  // the client acknowledged the server's SYN-ACK (or its ACK proved a SYN-ACK the capture missed)
	pendingConnect    int   // 1 + index in Calls of a connect() not yet returned
	inferring         bool  // add the calls segments imply to Calls
	observed          Sides // sides with observed (not inferred) calls
	history           historyLog

	// Tracker bookkeeping (the key is at the top).
	paths      *paths // the tunnels it was seen in, if any (tunnel_track.go)
	gen        uint64 // bumped on reuse, to spot stale queue entries
	lingering  bool   // finished, kept a moment to absorb stragglers
	finishedAt time.Time
}

// State is the side's current state.
func (c *Connection) State(side Side) State {
	if c.SelfConnect {
		side = Client
	}
	return c.state[side]
}

// States lists every state the side passed through, in order. For a
// self-connect both sides are the same socket and list the same states.
func (c *Connection) States(side Side) []State {
	if c.SelfConnect {
		side = Client
	}
	return c.states[side]
}

// Handshake classifies how the connection opened.
func (c *Connection) Handshake() Handshake {
	switch {
	case c.SelfConnect && c.sawSYN[Client] || c.sawSYN[Client] && c.sawSYN[Server]:
		return SimultaneousOpen
	case c.midstream:
		return Midstream
	case c.refused:
		return Refused
	case c.sawSYNACK[Server] && !c.synackAcked:
		// The tracker moved the client to ESTABLISHED at the SYN-ACK,
		// as a socket that receives it moves; nothing shows that one did.
		return Incomplete
	case c.sawSYNACK[Server]:
		return ThreeWay
	}
	return Unanswered
}

// Established reports whether the connection ever carried data-ready
// state: the handshake completed, or it was already open when the capture
// began.
func (c *Connection) Established() bool {
	if c.midstream {
		return true
	}
	for _, side := range [...]Side{Client, Server} {
		for _, s := range c.States(side) {
			if s == Established {
				return true
			}
		}
	}
	return false
}

// CloseKind classifies how the connection ended.
func (c *Connection) CloseKind() CloseKind {
	switch {
	case !c.Established():
		return CloseNone
	case c.rst:
		return Reset
	case c.finSent[Client] && (c.finSent[Server] || c.SelfConnect):
		return Graceful
	case c.finSent[Client] || c.finSent[Server]:
		return HalfClosed
	}
	return Open
}

// Midstream reports whether the capture began after the connection
// opened: no SYN of it was seen.
func (c *Connection) Midstream() bool { return c.midstream }

// OneDirection reports the side whose segments the capture never has
// although the other side's ACKs prove it sent some (a filter or a tap
// that sees one direction), or NoSide.
func (c *Connection) OneDirection() Sides {
	for _, side := range [...]Side{Client, Server} {
		if c.sent[side] == 0 && c.sent[side.Other()] > 0 && c.seq[side].hasAck && !c.SelfConnect &&
			(c.SYNACKMissed || c.Established()) {
			return 1 << side
		}
	}
	return NoSide
}

// FINSent reports whether the side sent a FIN.
func (c *Connection) FINSent(side Side) bool { return c.finSent[side] }

// History is Zeek's history string: one letter per kind of event, upper
// case for the client (originator), lower case for the server, each letter
// recorded once per direction, in the order first seen.
func (c *Connection) History() string { return c.history.String() }

// AppendHistory appends the history string to b, without allocating.
func (c *Connection) AppendHistory(b []byte) []byte { return append(b, c.history.buf[:c.history.n]...) }

// historyLog records Zeek history letters without allocating.
type historyLog struct {
	buf  [32]byte
	n    uint8
	seen [2]uint32 // letters already recorded, per side (bit = letter-'a')
}

// add records the letter if the side has not had it yet, and reports
// whether it did.
func (h *historyLog) add(side Side, letter byte) bool {
	bit := uint32(1) << (letter - 'a')
	if h.seen[side]&bit != 0 {
		return false
	}
	h.seen[side] |= bit
	h.again(side, letter)
	return true
}

// again records the letter even if the side had it.
func (h *historyLog) again(side Side, letter byte) {
	if int(h.n) == len(h.buf) {
		return
	}
	if letter >= 'a' {
		h.seen[side] |= uint32(1) << (letter - 'a')
		if side == Client {
			letter -= 'a' - 'A'
		}
	}
	h.buf[h.n] = letter
	h.n++
}

// synThenReset matches Zeek's pattern for RSTOS0, ^?S[^HAFGIQ]*R.*: the
// originator's SYN and then its RST, with no SYN-ACK, ACK, FIN, gap,
// inconsistency or multi-flag packet of its own between.
func (h *historyLog) synThenReset() bool {
	b := h.buf[:h.n]
	if len(b) > 0 && b[0] == '^' {
		b = b[1:]
	}
	if len(b) == 0 || b[0] != 'S' {
		return false
	}
	for _, x := range b[1:] {
		switch x {
		case 'R':
			return true
		case 'H', 'A', 'F', 'G', 'I', 'Q':
			return false
		}
	}
	return false
}

func (h *historyLog) String() string { return string(h.buf[:h.n]) }

// setState moves the side to s, recording the transition.
func (c *Connection) setState(side Side, s State) {
	if c.state[side] == s {
		return
	}
	c.state[side] = s
	c.states[side] = append(c.states[side], s)
	if s == TimeWait {
		c.TimeWait |= 1 << side
		if c.SelfConnect {
			c.TimeWait = BothSides // one socket is both ends
		}
	}
}

// finished reports whether both ends are done with the connection, so that
// nothing but stragglers can follow.
func (c *Connection) finished() bool {
	if c.rst {
		return true
	}
	if c.SelfConnect {
		return c.finSent[Client] && c.state[Client] == TimeWait
	}
	done := func(s State) bool { return s == TimeWait || s == Closed }
	return c.finSent[Client] && c.finSent[Server] && done(c.state[Client]) && done(c.state[Server])
}

// reset clears c for reuse, keeping its slices' memory.
func (c *Connection) reset() {
	gen := c.gen + 1
	states := [2][]State{c.states[0][:0], c.states[1][:0]}
	kernelBuf := c.KernelEvents[:0]
	if cap(kernelBuf) > 64 {
		kernelBuf = nil
	}
	callsBuf := c.Calls[:0]
	if cap(callsBuf) > 64 {
		// A connection with many calls does not leave its memory to
		// every connection that reuses this one.
		callsBuf = nil
	}
	*c = Connection{}
	c.gen = gen
	c.states = states
	c.Calls = callsBuf
	c.KernelEvents = kernelBuf
}
