package decode

import "slices"

// apply runs one segment through both endpoints' state machines, as RFC
// 9293 §3.10 processes it: the sender's transition (a call made it send a
// SYN or FIN), then the receiver's — the RST check, the ACK field, the
// FIN. It fills st with what happened.
func (c *Connection) apply(s *Segment, from Side, st *Step) {
	to := from.Other()
	if c.SelfConnect {
		to = from // one socket both sends and receives
	}
	c.Packets++
	c.sent[from]++
	st.Reordered = false
	if s.Time.Before(c.End) {
		// Captured after a segment stamped later: the capture's clock
		// readings are out of order (multi-queue NICs stamp packets on
		// different CPUs).
		c.Reordered = true
		st.Reordered = true
	} else {
		c.End = s.Time
	}
	if s.Time.Before(c.Start) {
		c.Start = s.Time
	}
	st.Segment = s
	st.From = from
	st.Index = c.Packets
	// Step's arrays are set an element at a time: an array literal is
	// built on the stack by narrow stores and copied by wide loads,
	// which stalls the CPU (~3 % of a replay for Passed alone).
	if s.Flags&(SYN|ACK) == SYN && c.state[from] == Unknown && c.sawSYN[to] {
		// The other half of a simultaneous open: a side that sends a SYN
		// of its own called connect(), so it was CLOSED, not listening.
		c.setState(from, Closed)
	}
	st.Before[Client], st.Before[Server] = c.State(Client), c.State(Server)
	mark := [2]int{len(c.States(Client)), len(c.States(Server))}

	if s.Flags&SYN != 0 {
		c.base[from], c.hasBase[from] = s.Seq, true
	} else if !c.hasBase[from] {
		// Midstream: count from just before the first byte seen, as
		// Wireshark does.
		c.base[from], c.hasBase[from] = s.Seq-1, true
	}
	if s.Flags&ACK != 0 && s.Flags&RST == 0 && !c.hasBase[to] {
		// The other side's numbers are known first from this ACK (its
		// SYN was not seen): count from just before it, so that relative
		// numbers start at 1, as Zeek does.
		c.base[to], c.hasBase[to] = s.Ack-1, true
	}
	st.RelSeq = relative(s.Seq, c.base[from])
	st.RelAck = 0
	if s.Flags&ACK != 0 && c.hasBase[to] {
		st.RelAck = relative(s.Ack, c.base[to])
	}

	if s.Flags&(SYN|ACK) == SYN && from == Client && !c.sawSYN[Client] && c.sawSYNACK[Server] {
		// The SYN-ACK that answers this SYN was captured before it: the
		// capture's order is not the order on the wire.
		c.Reordered = true
		st.Reordered = true
		c.midstream = false
		if len(c.states[Client]) > 0 && c.states[Client][0] == SynSent {
			// The client was CLOSED before connect(), as for any SYN.
			c.states[Client] = slices.Insert(c.states[Client], 0, Closed)
			mark[Client]++
		}
	}
	c.zeekStep(s, from)
	// A keep-alive probe: no new data, one byte below the next sequence
	// number its sender would use, so that the receiver must answer.
	probe := s.Flags&(SYN|FIN|RST) == 0 && s.Flags&ACK != 0 && s.Len <= 1 && c.hasNext[from] && s.Seq == c.next[from]-1
	st.Probes = 0
	if s.Flags&RST != 0 {
		st.Probes = c.probes[from]
	}
	held := c.crossedUntaken(to) && !c.finAckedBy(to)
	switch {
	case s.Flags&RST != 0:
		st.Kind = c.applyRST(s, from, to)
	case s.Flags&(SYN|ACK) == SYN:
		st.Kind = c.applySYN(s, from, to)
	case s.Flags&SYN != 0:
		st.Kind = c.applySYNACK(s, from, to)
	default:
		st.Kind = c.applyOther(s, from, to)
	}
	if c.lingering && st.Kind != StepRSTIgnored {
		st.Kind = StepLate
	}
	st.AckedUnseen = c.ackedUnseen
	c.ackedUnseen = 0
	c.noteOffload(s, from, st)
	c.noteSACK(s, from, to, st)
	if st.Kind == StepRetransmission && !probe {
		if q := &c.seq[from]; q.ok {
			x := q.unwrap(s.Seq)
			c.rtx[from] = span{x, x + uint64(s.SeqLen())}
		}
	}
	// The first ACK of a crossing FIN whose sender's move waits (crossedUntaken).
	st.HeldFIN = held && c.finAckedBy(to) && c.crossedUntaken(to)
	st.After[Client], st.After[Server] = c.State(Client), c.State(Server)
	st.Passed[Client] = c.States(Client)[mark[Client]:]
	st.Passed[Server] = c.States(Server)[mark[Server]:]
	if c.inferring {
		c.inferCalls(st)
	}
	c.probes[to] = 0 // anything from this side answers the other's probes
	switch {
	case !probe:
		c.probes[from] = 0
	case c.probes[from] < 255:
		c.probes[from]++
	}
}

// relative is n counted from base. A number from before base (a segment
// older than the first one the capture saw) is 0, not a wrapped 4 billion.
func relative(n, base uint32) uint32 {
	if d := int32(n - base); d >= 0 {
		return uint32(d)
	}
	return 0
}

// seqOf is the sequence space of the side's sending direction, started at
// its first number seen.
func (c *Connection) seqOf(side Side, first uint32) *seqSpace {
	q := &c.seq[side]
	if !q.ok {
		q.init(first)
	}
	return q
}

// ackAcceptable reports whether ack lies in (isn, next]: it acknowledges the
// side's SYN and nothing it has not sent (RFC 9293 §3.10.7.3, SND.UNA <
// SEG.ACK =< SND.NXT).
func (c *Connection) ackAcceptable(side Side, ack uint32) bool {
	if !c.sawSYN[side] && !c.sawSYNACK[side] {
		return true // the side's numbers are unknown: nothing to check
	}
	return int32(ack-c.isn[side]) > 0 && int32(ack-c.next[side]) <= 0
}

func (c *Connection) applySYN(s *Segment, from, to Side) StepKind {
	kind := StepSYN
	switch {
	case c.sawSYN[from] && s.Seq == c.isn[from]:
		if from == Client {
			c.SYNRetransmits++
		}
		kind = StepSYNRetransmit
		if c.refused {
			// Tried again after a RST with the same ISN (Windows
			// retries a refused SYN): the same connect(), one more
			// attempt.
			c.rst = false
			c.lingering = false
		}
	case from == Server:
		kind = StepSimultaneousSYN
	}
	c.sawSYN[from] = true
	c.isn[from] = s.Seq
	c.noteSYN(s, from)
	// The initial RTT counts from the last SYN of either side, as
	// Wireshark's does: in a simultaneous open whose first SYN was lost,
	// the handshake that completed began with the other side's SYN.
	c.lastSYN = s.Time
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
	if !c.sawSYN[to] && !c.sawSYNACK[from] && !c.hasNext[to] {
		// The SYN this answers was not seen (yet): its number is the
		// one this acknowledges.
		c.isn[to], c.next[to], c.hasNext[to] = s.Ack-1, s.Ack, true
		if !c.seq[to].ok {
			c.seqOf(to, s.Ack)
		}
	}
	c.sawSYNACK[from] = true
	c.isn[from] = s.Seq
	c.noteSYN(s, from)
	switch c.state[from] {
	case Unknown, Closed, Listen:
		// The server was listening all along; the SYN-ACK shows it.
		if c.state[from] != Listen {
			c.setState(from, Listen)
		}
		c.setState(from, SynReceived)
	}
	c.noteACK(s, to)
	if (c.state[to] == SynSent || c.state[to] == SynReceived) && c.ackAcceptable(to, s.Ack) {
		c.setState(to, Established)
		if c.SelfConnect {
			c.noteHandshakeDone(s)
		}
	}
	return StepSYNACK
}

// applyRST validates a RST as the receiving stack would (RFC 9293
// §3.10.7, RFC 5961 §3) and applies it only when the stack would accept
// it.
func (c *Connection) applyRST(s *Segment, from, to Side) StepKind {
	if !c.rstAcceptable(s, from, to) {
		c.RSTsIgnored++
		return StepRSTIgnored
	}
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
		if c.RSTFrom == NoSide {
			c.RSTFrom = 1 << from
		}
	}
	c.setState(from, Closed)
	c.setState(to, Closed)
	return kind
}

// rstAcceptable is the receiver's RST check. In SYN_SENT the RST must
// acknowledge the SYN (RFC 9293 §3.10.7.3: without an acceptable ACK the
// RST is dropped). In a synchronized state its sequence number must be
// exactly the receiver's RCV.NXT (RFC 5961 §3.2); the capture brackets
// RCV.NXT between what the receiver last acknowledged and what the sender
// has sent, and Linux also takes RCV.NXT-1 after the receiver got a FIN.
// Where the capture shows too little to bracket it, the RST is taken.
func (c *Connection) rstAcceptable(s *Segment, from, to Side) bool {
	switch c.state[to] {
	case SynSent:
		return s.Flags&ACK != 0 && c.ackAcceptable(to, s.Ack)
	case Unknown, Closed, Listen:
		return true
	}
	q := &c.seq[from]
	if !q.ok {
		return true
	}
	seq := q.unwrap(s.Seq)
	if q.hasAck {
		lo := q.acked
		if c.state[to] == CloseWait || c.state[to] == LastAck || c.state[to] == Closing {
			lo--
		}
		if seq < lo {
			return false
		}
	}
	if c.hasNext[from] && seq > q.unwrap(c.next[from]) {
		return false
	}
	return true
}

// applyOther handles segments without SYN or RST: acknowledgments, data and
// FINs.
func (c *Connection) applyOther(s *Segment, from, to Side) StepKind {
	kind := StepACK
	if s.Flags&ACK != 0 {
		if c.state[from] == SynSent && !c.SelfConnect {
			// A socket in SYN_SENT sends nothing but SYNs: this one got
			// its SYN-ACK, which the capture missed.
			c.synackMissing(s, from, to)
		}
		if from == Client && c.sawSYNACK[Server] && int32(s.Ack-c.isn[Server]) > 0 {
			// The client's ACK covers the server's SYN: the SYN-ACK
			// arrived and the handshake completed. Data or a FIN carry
			// this ACK too (RFC 9293: every segment after the SYN does).
			c.synackAcked = true
		}
		c.unseenFIN(s, from, to)
		c.noteACK(s, to)
		kind = c.applyACK(s, to, kind)
	}
	if s.Len > 0 {
		switch c.notePayload(s, from, s.Seq) {
		case payloadRepeat, payloadBeforeView:
			kind = StepRetransmission
		case payloadSpurious:
			kind = StepSpuriousRetransmission
		case payloadGapFill:
			kind = StepOutOfOrder
		default:
			kind = StepData
			// Data from a side that already received the other's FIN:
			// the connection is half-closed and still in use.
			if c.state[from] == CloseWait {
				c.HalfClose = true
			}
		}
	}
	c.advanceNext(s, from)
	if s.Flags&FIN != 0 {
		switch {
		case !c.finSent[from] || s.Seq+uint32(s.Len) != c.finSeq[from]:
			kind = StepFIN
		case s.Len == 0 && !c.finAckedBy(from):
			// The same FIN again, not acknowledged yet: its
			// retransmission (as tshark says), not a plain ACK.
			kind = StepRetransmission
		}
		c.sendFIN(s, from, to)
	}
	c.receiveFIN(from, to)
	return kind
}

// synackMissing completes the handshake the capture saw only the ends of:
// the client's SYN and then its ACK. The server sent a SYN-ACK (it was
// listening) and the client received it.
func (c *Connection) synackMissing(s *Segment, client, server Side) {
	c.SYNACKMissed = true
	if !c.sawSYNACK[server] && !c.sawSYN[server] {
		c.isn[server] = s.Ack - 1
		c.next[server], c.hasNext[server] = s.Ack, true
		if !c.seq[server].ok {
			c.seqOf(server, s.Ack)
		}
	}
	switch c.state[server] {
	case Unknown, Closed:
		c.setState(server, Listen)
		c.setState(server, SynReceived)
	case Listen:
		c.setState(server, SynReceived)
	}
	c.setState(client, Established)
	c.sawSYNACK[server] = true
}

// unseenFIN infers the FIN of a side the capture never shows (a filter
// that keeps one direction): after its own FIN, a side's ACK that moves
// by exactly one acknowledges the other side's FIN, not a byte of data
// (a peer in CLOSE_WAIT that still sends usually sends more than one).
func (c *Connection) unseenFIN(s *Segment, from, to Side) {
	q := &c.seq[to]
	if c.sent[to] != 0 || c.SelfConnect || !c.finSent[from] || c.finSent[to] || !q.ok || !q.hasAck ||
		q.unwrap(s.Ack) != q.acked+1 || s.Len != 0 {
		return
	}
	q.fin(s.Ack - 1)
	c.finSent[to], c.finSeq[to] = true, s.Ack-1
	if c.FirstFIN == NoSide {
		c.FirstFIN = 1 << to
	}
	if c.state[to] == CloseWait {
		c.setState(to, LastAck)
	}
	if c.state[from] == FinWait1 {
		// A side in CLOSE_WAIT had the FIN: its own FIN acknowledges it.
		c.setState(from, FinWait2)
	}
}

// applyACK moves the receiver of an acknowledgment: the ACK that completes
// the handshake, and the ACKs of a FIN.
func (c *Connection) applyACK(s *Segment, to Side, kind StepKind) StepKind {
	switch c.state[to] {
	case SynReceived:
		if c.ackAcceptable(to, s.Ack) {
			c.setState(to, Established)
			c.noteHandshakeDone(s)
			kind = StepHandshakeACK
		}
	case FinWait1:
		if c.finAcked(s, to) && !c.crossedUntaken(to) {
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

// sendFIN moves the FIN's sender: close() or shutdown(SHUT_WR) made it.
func (c *Connection) sendFIN(s *Segment, from, to Side) {
	finAt := s.Seq + uint32(s.Len)
	c.seqOf(from, s.Seq).fin(finAt)
	if c.finSent[from] {
		if finAt == c.finSeq[from] && !c.finAckedBy(from) {
			c.finAgain[from] = true
		}
		return
	}
	// The other's FIN was captured first, and this FIN does not show
	// that this side had it (it would have been in CLOSE_WAIT and
	// acknowledged it): this FIN crossed it. A socket connected to
	// itself (to == from) has its own FIN at once.
	c.finCrossed[from] = to != from && c.finSent[to] && !c.finTaken[to]
	c.finSent[from] = true
	c.finSeq[from] = finAt
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

// receiveFIN moves the receiver of the sender's FIN once the capture
// shows it processed the FIN: when the receiver acknowledged the FIN, or,
// for a receiver that had sent its own FIN before the capture saw this
// one, when every byte before the FIN has arrived (a FIN that overtook
// its data waits for it, RFC 9293 §3.10.7.4).
//
// A receiver that has not sent a FIN waits for its acknowledgment: until
// then the capture cannot tell whether the FIN reached it before it
// closed too. Where it is captured, a FIN is on its way, and the other
// side may send its own FIN (or data) before the first arrives: on a
// real path within a trip time, on loopback when the receiving socket is
// busy in a call of its own. That FIN does not acknowledge the first,
// and its sender was never in CLOSE_WAIT: it went from ESTABLISHED to
// FIN_WAIT_1, and the first FIN then took it to CLOSING (a simultaneous
// close). Taking the first FIN at once would have shown CLOSE_WAIT, and
// then a move to CLOSING no TCP makes.
//
// A receiver whose own FIN crossed the first (finCrossed) waits for its
// acknowledgment too, not for the first FIN's bytes: the capture saw the
// first FIN leave, not arrive. It may have been lost on the way: the
// receiver then takes the other's ACK of its own FIN in FIN_WAIT_1
// (FIN_WAIT_2), and the first FIN only when it is sent again
// (veth-fin-lost.pcap), not CLOSING. Its ACK shows which happened.
func (c *Connection) receiveFIN(from, to Side) {
	if c.SelfConnect {
		to = from
	}
	if !c.finSent[from] || c.finTaken[from] {
		return
	}
	q := &c.seq[from]
	if !q.ackedPast(c.finSeq[from]) &&
		(!q.contiguousTo(c.finSeq[from]) || c.finCrossed[to] || !c.finSent[to] && c.mayCross(to)) {
		return
	}
	c.takeFIN(from, to)
}

// mayCross reports whether the side, which has sent no FIN, could still
// send segments that cross the other's FIN: it is in a state that
// receiving a FIN changes. A side seen only midstream, or one that never
// sent a segment the capture has (a capture of one direction), shows no
// acknowledgment to wait for.
func (c *Connection) mayCross(side Side) bool {
	return (c.state[side] == Established || c.state[side] == SynReceived) && c.sent[side] > 0
}

// takeFIN moves the receiver of the sender's FIN: the receiver has
// processed it.
func (c *Connection) takeFIN(from, to Side) {
	c.finTaken[from] = true
	switch c.state[to] {
	case Established, SynReceived:
		c.setState(to, CloseWait)
	case FinWait1:
		if c.finAckedBy(to) {
			// Its FIN crossed this one and is acknowledged already;
			// the ACK was held back (crossedUntaken) until now, that
			// this side's ACK shows which it had first.
			c.takeCrossed(from, to)
			return
		}
		// Both sent FIN before seeing the other's: a simultaneous close.
		c.setState(to, Closing)
		c.FirstFIN = BothSides
	case FinWait2:
		c.setState(to, TimeWait)
	}
}

// crossedUntaken reports whether the side's FIN crossed the other's and
// the side has not shown that it took the other's FIN. An ACK of its FIN
// then leaves it in FIN_WAIT_1 until its own ACK of the other's FIN comes:
// if the other's FIN reached it first, it was in CLOSING when the ACK
// came (the usual simultaneous close captured near the other side: that
// side's FIN, the crossing FIN, that side's ACK, this side's ACK); if the
// other's FIN was lost, it was in FIN_WAIT_2 (veth-fin-lost.pcap). The
// capture cannot tell the two apart when the ACK comes.
func (c *Connection) crossedUntaken(side Side) bool {
	return c.finCrossed[side] && !c.finTaken[side.Other()]
}

// takeCrossed moves a side whose FIN crossed the other's, and was
// acknowledged, when its ACK shows it took the other's FIN: through
// FIN_WAIT_2 if the other sent its FIN again before that ACK (the first
// was lost, the ACK of this side's FIN came before the FIN), through
// CLOSING if not (the FIN, sent before that ACK, arrived before it).
func (c *Connection) takeCrossed(from, to Side) {
	if c.finAgain[from] {
		c.setState(to, FinWait2)
	} else {
		c.setState(to, Closing)
		c.FirstFIN = BothSides
	}
	c.setState(to, TimeWait)
}

// finAckedBy reports whether the other side of side has acknowledged
// side's FIN in a segment the capture saw.
func (c *Connection) finAckedBy(side Side) bool {
	q := &c.seq[side]
	return c.finSent[side] && q.ok && q.hasAck && q.acked > q.unwrap(c.finSeq[side])
}

func (c *Connection) finAcked(s *Segment, side Side) bool {
	return c.finSent[side] && int32(s.Ack-(c.finSeq[side]+1)) >= 0
}

// noteSYN records a SYN's sequence number and any data it carries (TCP
// Fast Open, RFC 7413).
func (c *Connection) noteSYN(s *Segment, side Side) {
	c.seqOf(side, s.Seq+1)
	if s.Options.MSS != 0 {
		c.mss[side] = s.Options.MSS
	}
	if s.Options.FastOpen {
		c.FastOpen |= 1 << side
	}
	if s.Len > 0 {
		c.SYNData[side] += s.Len
		c.notePayload(s, side, s.Seq+1)
	}
	c.advanceNext(s, side)
}

// notePayload counts a payload by the sequence space it covers and says
// what it was.
func (c *Connection) notePayload(s *Segment, side Side, first uint32) payloadClass {
	q := c.seqOf(side, first)
	class := q.data(first, s.Len)
	c.Bytes[side] = q.total
	return class
}

// noteACK records what the sender of s acknowledged of side's bytes.
func (c *Connection) noteACK(s *Segment, side Side) {
	if s.Flags&ACK == 0 || c.SelfConnect && !c.seq[side].ok {
		return
	}
	q := c.seqOf(side, s.Ack)
	if n := q.ack(s.Ack); n > 0 {
		c.Uncaptured[side] += n
		c.ackedUnseen += uint32(min(n, 1<<31))
	}
	c.Bytes[side] = q.total
	c.receiveFIN(side, side.Other())
}

// advanceNext advances the side's highest sequence number sent.
func (c *Connection) advanceNext(s *Segment, side Side) {
	end := s.Seq + s.SeqLen()
	if !c.hasNext[side] || int32(end-c.next[side]) > 0 {
		c.next[side], c.hasNext[side] = end, true
	}
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

// pathMSS is the largest payload the path carries in one segment from
// side: the smaller of the SYNs' MSS options (a sender also keeps to its
// own MTU, which its own option reflects), or, with none seen, the MSS of
// a 1500-byte Ethernet path once a full-size segment of one was seen
// (estimated). 0 while neither is known.
func (c *Connection) pathMSS(from Side, v6 bool) (mss int, estimated bool) {
	a, b := int(c.mss[from]), int(c.mss[from.Other()])
	switch {
	case a > 0 && b > 0:
		return min(a, b), false
	case a > 0:
		return a, false
	case b > 0:
		return b, false
	case c.fullSize > 0:
		return ethernetMSS(v6), true
	}
	return 0, false
}

// ethernetMSS is the MSS of a 1500-byte MTU: 1500 less the IPv4 (20) or
// IPv6 (40) header and the TCP header (20).
func ethernetMSS(v6 bool) int {
	if v6 {
		return 1440
	}
	return 1460
}

// noteOffload marks payload longer than the path's MSS: a super-segment
// the kernel or the NIC cuts into MSS-sized ones after the capture point
// (TSO/GSO at the sender) or merged from them before it (GRO at the
// receiver). Without an MSS option the segment size of a 1500-byte path
// is taken once a segment of exactly that size (with or without the 12
// bytes of the timestamp option) shows the path is one: a guess that a
// loopback or jumbo-frame path (larger segments, none of that size)
// does not trigger.
func (c *Connection) noteOffload(s *Segment, from Side, st *Step) {
	st.Offload, st.OffloadFirst = false, false
	if s.Len == 0 || s.Flags&SYN != 0 {
		return
	}
	v6 := s.Src.Addr().Is6() && !s.Src.Addr().Is4In6()
	if c.mss[Client] == 0 && c.mss[Server] == 0 && c.fullSize == 0 {
		if m := ethernetMSS(v6); s.Len == m || s.Len == m-12 {
			c.fullSize = s.Len
		}
	}
	mss, estimated := c.pathMSS(from, v6)
	if mss == 0 || s.Len <= mss {
		return
	}
	st.Offload = true
	st.OffloadFirst = c.Offload[Client]+c.Offload[Server] == 0
	c.Offload[from]++
	c.OffloadMSS, c.MSSEstimated = mss, estimated
	c.OffloadLargest = max(c.OffloadLargest, s.Len)
}

// noteSACK reads an ACK's SACK blocks: a first block below the ACK
// number, or inside the second block, is a D-SACK (RFC 2883): bytes the
// receiver got twice. When they are bytes of the other side's last
// retransmission, that retransmission was not needed: the first copy had
// arrived (its ACK was lost or slow, or the timer fired early).
func (c *Connection) noteSACK(s *Segment, from, to Side, st *Step) {
	st.DSACK, st.DSACKSpurious = false, false
	n := s.Options.SACKBlocks
	if n == 0 || s.Flags&ACK == 0 || s.Flags&(SYN|RST) != 0 {
		return
	}
	q := &c.seq[to]
	if !q.ok {
		return
	}
	b := &s.Options.SACK
	l, r := q.unwrap(b[0][0]), q.unwrap(b[0][1])
	if r <= l {
		return // malformed
	}
	dsack := l < q.unwrap(s.Ack)
	if !dsack && n > 1 {
		dsack = l >= q.unwrap(b[1][0]) && r <= q.unwrap(b[1][1])
	}
	if !dsack {
		return
	}
	st.DSACK = true
	if rt := c.rtx[to]; rt.to > rt.from && l < rt.to && r > rt.from {
		st.DSACKSpurious = true
		c.DSACKSpurious[to]++
		c.rtx[to] = span{} // one D-SACK proves one copy
	}
}
