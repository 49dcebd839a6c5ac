package decode

// Zeek's conn_state and history follow Zeek's TCP analyzer, not only the
// table in its conn.log documentation: each endpoint runs Zeek's own small
// state machine (INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED,
// CLOSED, RESET; see zeek/src/packet_analysis/protocol/tcp/
// TCPSessionAdapter.cc, UpdateStateMachine), and conn_state is computed
// from the two final states the way base/protocols/conn/main.zeek does.
// The client is Zeek's originator. This machine is separate from the RFC
// 9293 one on purpose: Zeek does not validate sequence numbers, so its
// answer for forged or odd segments differs, and users compare the two.

// zeekState is a Zeek TCP endpoint state.
type zeekState uint8

const (
	zeekInactive zeekState = iota
	zeekSYNSent
	zeekSYNACKSent
	zeekPartial
	zeekEstablished
	zeekClosed
	zeekReset
)

// zeekEndpoint is one side as Zeek's analyzer sees it.
type zeekEndpoint struct {
	state, prev zeekState
	// lastSYN, lastFIN and lastRST are the sequence numbers of the last
	// SYN, FIN and RST, for Zeek's rule that a second one at a new number
	// repeats its history letter.
	lastSYN, lastFIN, lastRST uint32
	rxmit, zeroWin            int // counts for the scaled letters T and W
	rxmitNext, zeroWinNext    int // the count at which the letter is added again
	started                   bool
	startSeq, lastSeq         uint32
}

func (e *zeekEndpoint) set(s zeekState) { e.prev, e.state = e.state, s }

func (e *zeekEndpoint) inactive() bool { return e.state == zeekInactive || e.state == zeekPartial }

// zeekStep runs s through Zeek's endpoint machines and history.
func (c *Connection) zeekStep(s *Segment, from Side) {
	if c.SelfConnect {
		from = Client
	}
	e, peer := &c.zeek[from], &c.zeek[from.Other()]
	orig := from == Client
	f := s.Flags
	segLen := s.SeqLen()
	if f&RST != 0 {
		segLen -= uint32(s.Len) // a RST's data is not stream data
	}
	if !e.started {
		e.started = true
		if f&SYN != 0 {
			e.startSeq = s.Seq
		} else {
			e.startSeq = s.Seq - 1
		}
		e.lastSeq = e.startSeq
		if f&SYN == 0 {
			e.lastSeq = s.Seq // the first segment is not a retransmission
		}
	}
	relSeq := s.Seq - e.startSeq
	c.zeekHistory(s, from, e, relSeq)
	if s.Window == 0 && f&RST == 0 && peer.state != zeekClosed && e.state != zeekReset {
		e.zeroWin++
		c.scaledLetter(from, 'w', e.zeroWin, &e.zeroWinNext)
	}
	// update_last_seq: data that does not advance the highest number
	// sent is a retransmission to Zeek (out-of-order data included).
	last := s.Seq + segLen
	delta := int32(last - e.lastSeq)
	const tooLarge = 1 << 20
	switch {
	case f&(SYN|RST) != 0 && (delta > tooLarge || delta < -tooLarge):
	case f&FIN != 0 && e.lastSeq == e.startSeq+1:
		e.lastSeq = last
	case e.state == zeekReset:
	case delta > 0:
		e.lastSeq = last
	case s.Len > 0:
		e.rxmit++
		c.scaledLetter(from, 't', e.rxmit, &e.rxmitNext)
	}

	switch e.state {
	case zeekInactive:
		if f&SYN != 0 {
			if orig {
				if f&ACK != 0 {
					e.set(zeekSYNACKSent)
				} else {
					e.set(zeekSYNSent)
				}
			} else {
				if peer.state == zeekSYNSent {
					peer.set(zeekEstablished)
				}
				e.set(zeekEstablished)
			}
		}
		if f&FIN != 0 {
			e.set(zeekClosed)
		}
		if f&RST != 0 {
			e.set(zeekReset)
		}
		if e.state == zeekInactive {
			switch {
			case !orig && s.Len == 0 && c.zeek[Client].state == zeekSYNSent:
				// An ACK of the SYN before the SYN-ACK: not a partial
				// connection.
			case f&ACK != 0 && peer.state == zeekEstablished:
				// The SYN was missed, the SYN-ACK seen: established.
				e.set(zeekEstablished)
			default:
				e.set(zeekPartial)
			}
		}
	case zeekSYNSent, zeekSYNACKSent:
		if f&FIN != 0 {
			e.set(zeekClosed)
		}
		if f&RST != 0 {
			e.set(zeekReset)
		}
	case zeekEstablished, zeekPartial:
		if f&SYN != 0 && e.state == zeekPartial && peer.state == zeekInactive && f&ACK == 0 {
			e.set(zeekSYNSent)
		}
		if f&FIN != 0 && f&RST == 0 {
			e.set(zeekClosed)
			if peer.state == zeekReset && peer.prev == zeekClosed {
				// The peer's FIN was followed by a RST: a normal close.
				peer.set(zeekClosed)
			}
		}
		if f&RST != 0 {
			e.set(zeekReset)
		}
	case zeekClosed:
		// After a FIN exchange a RST does not change the state.
		if f&RST != 0 && peer.state != zeekClosed {
			e.set(zeekReset)
		}
	}
}

// zeekHistory adds the history letters Zeek's update_history adds: one
// letter per kind and direction, except that a SYN, FIN or RST at a new
// sequence number repeats its letter.
func (c *Connection) zeekHistory(s *Segment, from Side, e *zeekEndpoint, relSeq uint32) {
	f := s.Flags
	h := &c.history
	bits := 0
	for _, b := range [...]Flags{SYN, FIN, RST} {
		if f&b != 0 {
			bits++
		}
	}
	switch {
	case bits > 1:
		if f&(FIN|RST) == FIN|RST {
			h.add(from, 'i')
		} else {
			h.add(from, 'q')
		}
	case f&SYN != 0:
		letter := byte('s')
		if f&ACK != 0 {
			letter = 'h'
		}
		if !h.add(from, letter) && relSeq != e.lastSYN {
			h.again(from, letter)
		}
		e.lastSYN = relSeq
	case f&FIN != 0:
		at := relSeq + uint32(s.Len)
		if !h.add(from, 'f') && at != e.lastFIN {
			h.again(from, 'f')
		}
		e.lastFIN = at
	case f&RST != 0:
		if !h.add(from, 'r') && relSeq != e.lastRST {
			h.again(from, 'r')
		}
		e.lastRST = relSeq
	case s.Len > 0:
		h.add(from, 'd')
	case f&ACK != 0:
		h.add(from, 'a')
	}
}

// scaledLetter adds a letter Zeek repeats on a log scale: at the 1st,
// 10th, 100th, ... occurrence.
func (c *Connection) scaledLetter(from Side, letter byte, count int, next *int) {
	if *next == 0 {
		*next = 1
	}
	if count < *next {
		return
	}
	*next *= 10
	c.history.again(from, letter)
}

// ConnState is Zeek's conn_state for the connection, with the client as
// Zeek's originator, computed from Zeek's endpoint states as
// base/protocols/conn/main.zeek does.
func (c *Connection) ConnState() string {
	// A socket connected to itself is one endpoint: every segment is
	// the originator's to Zeek, and the responder stays INACTIVE.
	os, rs := &c.zeek[Client], &c.zeek[Server]
	switch {
	case rs.state == zeekReset:
		switch {
		case os.state == zeekSYNSent || os.state == zeekSYNACKSent ||
			os.state == zeekReset && c.Bytes[Client] == 0 && c.Bytes[Server] == 0:
			return "REJ"
		case os.inactive():
			return "RSTRH"
		}
		return "RSTR"
	case os.state == zeekReset:
		if rs.inactive() {
			if c.history.synThenReset() {
				return "RSTOS0"
			}
			return "OTH"
		}
		return "RSTO"
	case rs.state == zeekClosed && os.state == zeekClosed:
		return "SF"
	case os.state == zeekClosed:
		if rs.inactive() {
			return "SH"
		}
		return "S2"
	case rs.state == zeekClosed:
		if os.inactive() {
			return "SHR"
		}
		return "S3"
	case os.state == zeekSYNSent && rs.state == zeekInactive:
		return "S0"
	case os.state == zeekEstablished && rs.state == zeekEstablished:
		return "S1"
	}
	return "OTH"
}
