package decode

// apply runs one segment through both endpoints' state machines, as RFC
// 9293 §3.10 processes it: the sender's transition (a call made it send a
// SYN or FIN), then the receiver's — the ACK field first, then the FIN.
// It fills st with what happened.
func (c *Connection) apply(s *Segment, from Side, st *Step) {
	to := from.Other()
	if c.SelfConnect {
		to = from // one socket both sends and receives
	}
	c.Packets++
	c.End = s.Time
	st.Segment = s
	st.From = from
	st.Index = c.Packets
	st.Before = [2]State{c.State(Client), c.State(Server)}
	mark := [2]int{len(c.States(Client)), len(c.States(Server))}

	if s.Flags&SYN != 0 {
		c.base[from], c.hasBase[from] = s.Seq, true
	} else if !c.hasBase[from] {
		// Midstream: count from just before the first byte seen, as
		// Wireshark does.
		c.base[from], c.hasBase[from] = s.Seq-1, true
	}
	st.RelSeq = s.Seq - c.base[from]
	st.RelAck = 0
	if s.Flags&ACK != 0 && c.hasBase[to] {
		st.RelAck = s.Ack - c.base[to]
	}

	switch {
	case s.Flags&RST != 0:
		st.Kind = c.applyRST(from, to)
	case s.Flags&(SYN|ACK) == SYN:
		st.Kind = c.applySYN(s, from, to)
	case s.Flags&SYN != 0:
		st.Kind = c.applySYNACK(s, from, to)
	default:
		st.Kind = c.applyOther(s, from, to)
	}
	c.recordHistory(s, from, st.Kind)
	if c.lingering {
		st.Kind = StepLate
	}
	st.After = [2]State{c.State(Client), c.State(Server)}
	st.Passed = [2][]State{c.States(Client)[mark[Client]:], c.States(Server)[mark[Server]:]}
	if c.inferring {
		c.inferCalls(st)
	}
}

func (c *Connection) applySYN(s *Segment, from, to Side) StepKind {
	kind := StepSYN
	switch {
	case c.sawSYN[from] && s.Seq == c.isn[from]:
		if from == Client {
			c.SYNRetransmits++
		}
		kind = StepSYNRetransmit
	case from == Server:
		kind = StepSimultaneousSYN
	}
	c.sawSYN[from] = true
	c.isn[from] = s.Seq
	c.noteSent(s, from)
	if from == Client {
		c.lastSYN = s.Time
	}
	if st := c.state[from]; st == Closed || st == Unknown {
		c.setState(from, SynSent) // connect() sent it
	}
	// A SYN that meets a socket in SYN_SENT is a simultaneous open (a
	// self-connect meets its own SYN): that socket moves to SYN_RECEIVED.
	// A listening server shows no state until it answers.
	if c.state[to] == SynSent && kind != StepSYNRetransmit {
		c.setState(to, SynReceived)
	}
	return kind
}

func (c *Connection) applySYNACK(s *Segment, from, to Side) StepKind {
	c.sawSYNACK[from] = true
	c.isn[from] = s.Seq
	c.noteSent(s, from)
	switch c.state[from] {
	case Unknown, Closed, Listen:
		// The server was listening all along; the SYN-ACK shows it.
		if c.state[from] != Listen {
			c.setState(from, Listen)
		}
		c.setState(from, SynReceived)
	}
	if c.state[to] == SynSent || c.state[to] == SynReceived {
		if s.Ack == c.isn[to]+1 {
			c.setState(to, Established)
			if c.SelfConnect {
				c.noteHandshakeDone(s)
			}
		}
	}
	return StepSYNACK
}

func (c *Connection) applyRST(from, to Side) StepKind {
	kind := StepRST
	if c.state[to] == SynSent && !c.sawSYNACK[from] && !c.sawSYN[from] {
		// The kernel answered a SYN for a port with no listening socket.
		c.refused = true
		kind = StepRefused
	}
	switch {
	case c.lingering:
		// Both sides had closed with FINs, acknowledged: a RST now answers
		// a stray segment (and ends a TIME_WAIT early, RFC 1337). The
		// close was graceful; the RST is still recorded.
		if c.RSTFrom == NoSide {
			c.RSTFrom = 1 << from
		}
	case !c.rst:
		c.rst = true
		c.RSTFrom = 1 << from
	}
	c.setState(from, Closed)
	c.setState(to, Closed)
	return kind
}

// applyOther handles segments without SYN or RST: acknowledgments, data and
// FINs.
func (c *Connection) applyOther(s *Segment, from, to Side) StepKind {
	kind := StepACK
	if s.Flags&ACK != 0 {
		kind = c.applyACK(s, to, kind)
	}
	if s.Len > 0 {
		if c.isRetransmission(s, from) {
			kind = StepRetransmission
		} else {
			kind = StepData
			// Data from a side that already received the other's FIN:
			// the connection is half-closed and still in use.
			if c.state[from] == CloseWait {
				c.HalfClose = true
			}
		}
	}
	c.noteSent(s, from)
	if s.Flags&FIN != 0 {
		if !c.finSent[from] || s.Seq+uint32(s.Len) != c.finSeq[from] {
			kind = StepFIN
		}
		c.applyFIN(s, from, to)
	}
	return kind
}

// applyACK moves the receiver of an acknowledgment: the ACK that completes
// the handshake, and the ACKs of a FIN.
func (c *Connection) applyACK(s *Segment, to Side, kind StepKind) StepKind {
	switch c.state[to] {
	case SynReceived:
		if c.hasBase[to] && s.Ack == c.isn[to]+1 {
			c.setState(to, Established)
			c.noteHandshakeDone(s)
			kind = StepHandshakeACK
		}
	case FinWait1:
		if c.finAcked(s, to) {
			c.setState(to, FinWait2)
		}
	case Closing:
		if c.finAcked(s, to) {
			c.setState(to, TimeWait)
		}
	case LastAck:
		if c.finAcked(s, to) {
			c.setState(to, Closed)
		}
	}
	return kind
}

func (c *Connection) applyFIN(s *Segment, from, to Side) {
	if !c.finSent[from] && c.state[from] == CloseWait && c.finSent[to] && s.Flags&ACK != 0 && !c.finAcked(s, to) {
		// This FIN does not acknowledge the other side's FIN, which the
		// capture saw first: the sender had not received it when it
		// closed. Both closed at once; the sender went to FIN_WAIT_1, not
		// CLOSE_WAIT, and the other's FIN then takes it to CLOSING.
		c.states[from][len(c.states[from])-1] = FinWait1
		c.state[from] = FinWait1
		c.finSent[from] = true
		c.finSeq[from] = s.Seq + uint32(s.Len)
		c.setState(from, Closing)
		c.FirstFIN = BothSides
	}
	if !c.finSent[from] {
		c.finSent[from] = true
		c.finSeq[from] = s.Seq + uint32(s.Len)
		if c.FirstFIN == NoSide {
			c.FirstFIN = 1 << from
		}
		switch c.state[from] {
		case Established, SynReceived:
			c.setState(from, FinWait1) // close() or shutdown(SHUT_WR)
		case CloseWait:
			c.setState(from, LastAck) // close() after the peer's FIN
		}
	}
	switch c.state[to] {
	case Established, SynReceived:
		c.setState(to, CloseWait)
	case FinWait1:
		// Both sent FIN before seeing the other's: a simultaneous close.
		c.setState(to, Closing)
		c.FirstFIN = BothSides
	case FinWait2:
		c.setState(to, TimeWait)
	}
}

func (c *Connection) finAcked(s *Segment, side Side) bool {
	return c.finSent[side] && int32(s.Ack-(c.finSeq[side]+1)) >= 0
}

// noteSent advances the side's highest sequence number and counts new
// payload bytes.
func (c *Connection) noteSent(s *Segment, side Side) {
	end := s.Seq + s.SeqLen()
	if !c.hasNext[side] {
		c.next[side], c.hasNext[side] = end, true
		c.Bytes[side] += int64(s.Len)
		return
	}
	if d := int32(end - c.next[side]); d > 0 {
		if int64(d) < int64(s.Len) {
			c.Bytes[side] += int64(d)
		} else {
			c.Bytes[side] += int64(s.Len)
		}
		c.next[side] = end
	}
}

// isRetransmission reports whether the segment's payload was all sent
// before.
func (c *Connection) isRetransmission(s *Segment, side Side) bool {
	return c.hasNext[side] && int32(s.Seq+uint32(s.Len)-c.next[side]) <= 0 && !c.finSeen(s, side)
}

func (c *Connection) finSeen(s *Segment, side Side) bool {
	return s.Flags&FIN != 0 && !c.finSent[side]
}

// noteHandshakeDone records the initial RTT the way Wireshark computes
// tcp.analysis.initial_rtt: from the last SYN to the ACK that completes
// the handshake.
func (c *Connection) noteHandshakeDone(s *Segment) {
	if !c.HasIRTT && !c.lastSYN.IsZero() {
		c.IRTT = s.Time.Sub(c.lastSYN)
		c.HasIRTT = true
	}
}

// recordHistory adds the segment's Zeek history letters.
func (c *Connection) recordHistory(s *Segment, from Side, kind StepKind) {
	h := &c.history
	f := s.Flags
	if f&SYN != 0 && f&(FIN|RST) != 0 {
		h.add(from, 'q')
	}
	switch {
	case f&(SYN|ACK) == SYN:
		h.add(from, 's')
	case f&SYN != 0:
		h.add(from, 'h')
	}
	if f&FIN != 0 {
		h.add(from, 'f')
	}
	if f&RST != 0 {
		h.add(from, 'r')
	}
	if f&ACK != 0 && s.Len == 0 && f&(SYN|FIN|RST) == 0 {
		h.add(from, 'a')
	}
	if s.Len > 0 {
		h.add(from, 'd')
	}
	if kind == StepRetransmission {
		h.add(from, 't')
	}
	if s.Window == 0 && f&RST == 0 {
		h.add(from, 'w')
	}
}
