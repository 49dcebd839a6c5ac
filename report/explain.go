package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/internal/neutral"
)

// why is the sentence that explains a step, for someone who has read the
// seed note: which call caused the segment and what it did to each side.
func (t *Text) why(c *decode.Connection, st *textStep, first time.Time) string {
	t.buildWhy(c, st, first)
	return string(t.whyBuf)
}

// put appends a message to the explanation being built.
func (t *Text) put(id msgID, args ...any) {
	t.whyBuf = appendFormat(t.whyBuf, msg(t.opt.Lang, id), args...)
}

// buildWhy writes into t.whyBuf the sentence that explains a step.
func (t *Text) buildWhy(c *decode.Connection, st *textStep, first time.Time) {
	from := t.side(st.from)
	t.whyBuf = t.whyBuf[:0]
	if impossibleFlags(st.flags) {
		// No call made it: say what it is, not a cause that cannot be.
		t.put("why.impossible")
		return
	}
	switch st.kind {
	case decode.StepSYN:
		switch fo := fastOpenCall(c); {
		case c.SelfConnect:
			t.put("why.syn.self", t.mark(c, st.from, calls.Connect), t.synOptions(st.opts, false))
		case fo != nil && st.from == decode.Client:
			t.put("why.syn.fastopen", syscallName(fo), t.synOptions(st.opts, false))
			if st.len == 0 && st.opts.FastOpen && st.opts.FastOpenCookie == 0 {
				t.put("why.syn.fastopen.nocookie")
			}
		default:
			t.put("why.syn", t.mark(c, st.from, calls.Connect), t.synOptions(st.opts, false))
		}
	case decode.StepSYNRetransmit:
		t.put("why.synrtx", t.synCount(st), duration(st.time.Sub(first)))
	case decode.StepSimultaneousSYN:
		t.put("why.simsyn")
	case decode.StepSYNACK:
		switch {
		case c.SelfConnect && st.before[decode.Client] == decode.SynReceived:
			t.put("why.synack.self")
		case c.SelfConnect:
			t.put("why.simsyn.self")
		case c.Handshake() == decode.SimultaneousOpen:
			// Two sockets that both called connect(): the one that got
			// the other's SYN in SYN_SENT answers it; nothing listens.
			t.put("why.synack.simopen", from)
		default:
			t.put("why.synack", t.mark(c, decode.Server, calls.Listen), t.synOptions(st.opts, true))
			if syn := t.synData(st); syn != nil {
				// TCP Fast Open: whether the server took the data
				// the SYN carried is in this ack.
				switch {
				case st.relAck == 1+uint32(syn.len):
					t.put("why.synack.tfodata", int64(st.relAck), syn.len)
				case st.relAck == 1:
					t.put("why.synack.tforefused", syn.len)
				}
			}
		}
	case decode.StepHandshakeACK:
		if c.Handshake() == decode.SimultaneousOpen && !c.SelfConnect {
			t.put("why.handshakeack.simopen", from)
			break
		}
		if t.synDataAccepted() {
			t.put("why.handshakeack.tfo", t.mark(c, decode.Server, calls.Accept), c.Server.Port())
		} else {
			t.put("why.handshakeack", t.mark(c, decode.Server, calls.Accept), c.Server.Port())
		}
	case decode.StepData:
		switch {
		case st.sentInCloseWait():
			t.put("why.data.halfclose", from, st.len)
		case st.offload:
			// Not one write(): the kernel's batching (offloadNote).
			n, seg := offloadPieces(c, st)
			t.put("why.data.offload", from, st.len, n, seg)
		default:
			t.put("why.data", from, st.len, t.mark(c, st.from, calls.Write))
		}
	case decode.StepRetransmission:
		if t.keepAlive(st) {
			t.putProbe(st, from)
			break
		}
		if st.flags&decode.FIN != 0 && st.len == 0 {
			t.put("why.rtx.fin", from)
			break
		}
		if syn := t.refusedSynData(st); syn != nil {
			t.put("why.rtx.tfo", syn.len)
			break
		}
		if t.fastRetransmit(c, st, from) {
			break
		}
		t.put("why.rtx", from)
	case decode.StepOutOfOrder:
		t.put("why.ooo", from, st.len)
	case decode.StepSpuriousRetransmission:
		if t.keepAlive(st) {
			t.putProbe(st, from)
			break
		}
		t.put("why.spurious", from, st.len)
	case decode.StepRSTIgnored:
		t.put("why.rst.ignored", from)
	case decode.StepACK:
		to := st.from.Other()
		if c.SelfConnect {
			to = st.from
		}
		switch {
		case t.keepAlive(st):
			t.putProbe(st, from)
		case st.heldFIN:
			t.put("why.ack.fin.held", from, t.side(to))
		case st.before[to] != st.after[to]:
			t.put("why.ack.fin", from)
			if t.once("why.note.finseq") {
				t.put("why.note.finseq", st.relAck)
			}
		default:
			t.put("why.ack", from, st.relAck)
			t.whyBuf = append(t.whyBuf, t.ackLessonWhy(c, st)...)
		}
	case decode.StepFIN:
		cause, detail := t.finCause(c, st.from, st)
		switch {
		case st.after[st.from.Other()] == decode.Closing && !c.SelfConnect:
			t.put("why.fin.both", from)
		case cause == finShutdown:
			t.put("why.fin.shutdown", detail, from)
		case cause == finShutdownInferred:
			t.put("why.fin.shutdown.inferred", from)
		case st.sentInCloseWait():
			t.put("why.fin.second", t.mark(c, st.from, calls.Close, calls.Shutdown), from)
		case cause == finClose:
			t.put("why.fin.close", from)
		default:
			t.put("why.fin", t.mark(c, st.from, calls.Close, calls.Shutdown), from)
		}
	case decode.StepRST:
		t.rstWhy(c, st, from)
	case decode.StepRefused:
		t.put("why.rst.refused", c.Server.Port())
	case decode.StepLate:
		t.put("late")
	}
	if st.offload && (st.kind != decode.StepData || st.before[st.from] == decode.CloseWait) {
		n, seg := offloadPieces(c, st)
		t.put("why.note.offload.seg", n, seg)
	}
	t.learnerNotes(c, st)
	t.putCaptureFacts(st)
	for _, side := range [...]decode.Side{decode.Client, decode.Server} {
		if c.SelfConnect && side == decode.Server {
			break
		}
		if st.before[side] == st.after[side] {
			continue
		}
		switch st.after[side] {
		case decode.TimeWait:
			t.put("why.timewait", t.side(side))
		case decode.Closed:
			if st.kind != decode.StepRST && st.kind != decode.StepRefused {
				t.put("why.closed", t.side(side))
			}
		}
	}
}

// learnerNotes adds what a learner needs to read a segment and that the
// sentence for its kind does not say: why ack=1 after a SYN, what PSH
// asks, a delayed ACK, a duplicate ACK, a zero window and its update,
// data on a SYN (TCP Fast Open), a timestamp out of order. Each needs
// the steps before this one; a streamed report, which keeps none, says
// only what the segment itself shows.
func (t *Text) learnerNotes(c *decode.Connection, st *textStep) {
	if st.kind == decode.StepSYNACK && st.relAck == 1 && !c.SelfConnect && t.synData(st) == nil && t.once("why.note.synseq") {
		t.put("why.note.synseq")
	}
	if st.flags&decode.SYN != 0 && st.len > 0 {
		t.put("why.note.syndata", st.len)
	}
	// On an offload super-segment PSH marks no write()'s end: the note
	// that says so comes instead, once a connection.
	if st.flags&decode.PSH != 0 && st.len > 0 && !st.offload && t.once("why.note.psh") {
		t.put("why.note.psh")
	}
	if st.offloadFirst && c.OffloadMSS > 0 {
		src := t.m("offload.mss.syn")
		if c.MSSEstimated {
			src = t.m("offload.mss.est")
		}
		t.put("why.note.offload", c.OffloadMSS, src)
	}
	t.ackNotes(st)
	if st.flags&(decode.RST|decode.SYN) == 0 && st.flags&decode.ACK != 0 && st.win == 0 {
		t.put("why.note.zerowindow", t.side(st.from))
	}
	if st.reordered {
		t.put("why.note.reordered")
	}
	t.ecnNotes(st)
	i := t.indexOf(st)
	if i < 0 || st.kind != decode.StepACK || st.flags&(decode.SYN|decode.FIN|decode.RST) != 0 {
		return
	}
	// The last segments before this one: from the same side, and from
	// the other side (what this ACK answers).
	mine, theirs := -1, -1
	for j := i - 1; j >= 0 && (mine < 0 || theirs < 0); j-- {
		if t.current[j].from == st.from {
			mine = max(mine, j)
		} else {
			theirs = max(theirs, j)
		}
	}
	if mine >= 0 {
		m := &t.current[mine]
		switch {
		case m.win == 0 && st.win > 0:
			t.put("why.note.windowupdate", t.side(st.from))
			return
		case m.flags&decode.ACK != 0 && m.flags&(decode.SYN|decode.FIN|decode.RST) == 0 &&
			m.len == 0 && m.relAck == st.relAck && m.win == st.win &&
			theirs > mine && t.current[theirs].len > 0 && t.current[theirs].relSeq > st.relAck:
			// The same ACK again, after data that arrived past a hole.
			t.put("why.note.dupack", st.relAck)
			return
		}
	}
	if st.len == 0 && newSACK(st, mine, t.current) {
		// RFC 6675 §2: an ACK whose SACK reports bytes past the hole not
		// reported before is a duplicate ACK for loss detection even if
		// its window changed (RFC 5681's definition would not count it).
		t.put("why.note.dupack.sack", st.relAck)
		return
	}
	if theirs >= 0 {
		p := &t.current[theirs]
		d := st.time.Sub(p.time)
		if c.HasIRTT {
			d -= c.IRTT // the capture point may be a round trip from the receiver
		}
		// An ACK of bytes the capture missed answers those, not p.
		if (p.len > 0 || p.flags&decode.FIN != 0) && st.ackedUnseen == 0 && d >= 30*time.Millisecond && d < 500*time.Millisecond {
			t.put("why.note.delayedack", duration(st.time.Sub(p.time)))
		}
	}
}

// newSACK reports whether st carries a SACK block (not a D-SACK) with
// bytes that the same side's previous segment, steps[mine] (-1: none), did
// not SACK: new information about what arrived past the hole. Receivers
// repeat the blocks they reported, so the previous segment's stand for
// what was reported before.
func newSACK(st *textStep, mine int, steps []textStep) bool {
	first := uint8(0)
	if st.dsack {
		first = 1
	}
	var prev [][2]uint32
	if mine >= 0 {
		p := &steps[mine]
		k := uint8(0)
		if p.dsack {
			k = 1
		}
		prev = p.opts.SACK[k:p.opts.SACKBlocks]
	}
	for i := first; i < st.opts.SACKBlocks; i++ {
		b := st.opts.SACK[i]
		covered := false
		for _, q := range prev {
			if int32(b[0]-q[0]) >= 0 && int32(q[1]-b[1]) >= 0 {
				covered = true
				break
			}
		}
		if !covered {
			return true
		}
	}
	return false
}

// fastRetransmit explains st, a retransmission, as a fast retransmit
// (RFC 5681 §3.2, RFC 6675) when the other side's last segment before it
// asked for exactly these bytes and showed them lost: SACK blocks past
// them, or the third duplicate ACK of them; when it is the first resend
// of those bytes; and when it came at once, within the handshake's
// round trip (a capture near the receiver sees the resend a round trip
// after the ACK) and a millisecond. Otherwise, or when the steps that
// would show it were not kept, it reports false and the plain sentence
// (a timer) stays.
func (t *Text) fastRetransmit(c *decode.Connection, st *textStep, from string) bool {
	i := t.indexOf(st)
	if i < 0 || st.len == 0 {
		return false
	}
	var ack *textStep
	// acks counts the other side's bare ACKs of st.relSeq since the first
	// copy; the first of them is no duplicate unless one came before.
	acks, dups := 0, -1
	j := i - 1
	for ; j >= 0; j-- {
		p := &t.current[j]
		if p.from == st.from {
			if p.relSeq == st.relSeq && p.len > 0 {
				if p.kind != decode.StepData {
					return false // resent before: this is not the first resend
				}
				break // the first copy
			}
			continue
		}
		if ack == nil {
			ack = p
		}
		if bareACKOf(p, st.relSeq) {
			acks++
		}
	}
	for j--; j >= 0; j-- {
		if p := &t.current[j]; p.from != st.from && bareACKOf(p, st.relSeq) {
			dups = 0
			break
		}
	}
	dups += acks
	if ack == nil || ack.flags&decode.ACK == 0 || ack.relAck != st.relSeq || ack.len != 0 {
		return false
	}
	limit := time.Millisecond
	if c.HasIRTT {
		limit += c.IRTT
	}
	d := st.time.Sub(ack.time)
	if d < 0 || d > limit {
		return false
	}
	sacked := ack.opts.SACKBlocks > 0 && !(ack.dsack && ack.opts.SACKBlocks == 1)
	switch {
	case sacked:
		t.put("why.rtx.fast.sack", from, t.side(ack.from), st.relSeq, duration(d))
	case dups >= 3:
		t.put("why.rtx.fast.dup", from, dups, t.side(ack.from), st.relSeq, duration(d))
	default:
		return false
	}
	return true
}

// bareACKOf reports whether p is an ACK of seq with no data, SYN, FIN or
// RST: a duplicate ACK when another of seq came before it.
func bareACKOf(p *textStep, seq uint32) bool {
	return p.flags&decode.ACK != 0 && p.relAck == seq && p.len == 0 && p.flags&(decode.SYN|decode.FIN|decode.RST) == 0
}

// ecnNotes explains ECN (RFC 3168) where it shows: the SYN that asks for
// it (ECE and CWR), the SYN-ACK that agrees (ECE alone), a CE mark in the
// IP header, the ECE that echoes it and the CWR that answers. tshark shows
// the bits and says nothing of them.
func (t *Text) ecnNotes(st *textStep) {
	const both = decode.ECE | decode.CWR
	switch {
	case st.flags&(decode.SYN|decode.ACK) == decode.SYN:
		if st.flags&both == both {
			t.put("why.note.ecnsyn", t.side(st.from))
		}
		return
	case st.flags&decode.SYN != 0:
		if st.flags&both == decode.ECE {
			t.put("why.note.ecnsynack", t.side(st.from))
		}
		return
	}
	if st.ecn == decode.CE {
		t.put("why.note.ce", t.side(st.from.Other()))
	}
	if st.flags&decode.ECE != 0 {
		t.put("why.note.ece", t.side(st.from))
	}
	if st.flags&decode.CWR != 0 {
		t.put("why.note.cwr", t.side(st.from))
	}
}

// synData is the client's SYN before the SYN-ACK synack when it carried
// data (TCP Fast Open), or nil.
func (t *Text) synData(synack *textStep) *textStep {
	i := t.indexOf(synack)
	for j := i - 1; j >= 0; j-- {
		if p := &t.current[j]; p.from == decode.Client && p.flags&decode.SYN != 0 && p.flags&decode.ACK == 0 {
			if p.len > 0 {
				return p
			}
			return nil
		}
	}
	return nil
}

// refusedSynData is the client's SYN whose data st, a retransmission, sends
// again because the SYN-ACK acknowledged the SYN only (the server did not
// take Fast Open data), or nil.
func (t *Text) refusedSynData(st *textStep) *textStep {
	if st.from != decode.Client || st.relSeq != 1 || st.len == 0 {
		return nil
	}
	i := t.indexOf(st)
	for j := i - 1; j >= 0; j-- {
		p := &t.current[j]
		if p.from == decode.Server && p.kind == decode.StepSYNACK {
			if syn := t.synData(p); syn != nil && p.relAck == 1 {
				return syn
			}
			return nil
		}
	}
	return nil
}

// synDataAccepted reports whether the client's SYN carried data that the
// server's SYN-ACK acknowledged (TCP Fast Open accepted).
func (t *Text) synDataAccepted() bool {
	syn, synack := t.handshakeSteps()
	return syn != nil && synack != nil && syn.len > 0 && synack.relAck == 1+uint32(syn.len)
}

// fastOpenCall is the client's send with MSG_FASTOPEN that connected c
// (TCP Fast Open), or nil.
func fastOpenCall(c *decode.Connection) *calls.Event {
	for i := range c.Calls {
		if ev := &c.Calls[i]; !ev.Inferred && isFastOpen(ev) {
			return ev
		}
	}
	return nil
}

// offloadPieces is how many segments an offload super-segment was on the
// wire, and their largest payload: the path's MSS, less the 12 bytes of
// the timestamp option when the segments carry it.
func offloadPieces(c *decode.Connection, st *textStep) (n, seg int) {
	seg = c.OffloadMSS
	if st.opts.Timestamps && seg > 12 {
		seg -= 12
	}
	if seg <= 0 {
		return 1, st.len
	}
	return (st.len + seg - 1) / seg, seg
}

// ackNotes explains what an ACK shows beyond its number: bytes it
// acknowledges that the capture never saw (a capture gap), and its SACK
// blocks, the first of which may be a D-SACK proving a retransmission
// was not needed.
func (t *Text) ackNotes(st *textStep) {
	// t.side makes a string: only when a note needs it.
	if st.ackedUnseen > 0 {
		t.put("why.note.gap", st.ackedUnseen, t.side(st.from.Other()))
	}
	n := st.opts.SACKBlocks
	if n == 0 || st.flags&decode.ACK == 0 || st.flags&(decode.SYN|decode.RST) != 0 {
		return
	}
	// SACK edges are relative as the ACK number is: its distance from it.
	rel := func(edge uint32) uint32 { return st.relAck + (edge - st.absAck) }
	sack := &st.opts.SACK
	first := uint8(0)
	if st.dsack {
		t.put("why.note.dsack", rel(sack[0][0]), rel(sack[0][1]))
		if st.dsackSpurious {
			t.put("why.note.dsack.spurious", t.side(st.from.Other()))
		}
		first = 1
	}
	if n > first {
		// The ranges go straight into the sentence: no string is made.
		t.put("why.note.sack.head")
		for i := first; i < n; i++ {
			if i > first {
				t.whyBuf = append(t.whyBuf, ", "...)
			}
			t.whyBuf = strconv.AppendUint(t.whyBuf, uint64(rel(sack[i][0])), 10)
			t.whyBuf = append(t.whyBuf, "–"...)
			t.whyBuf = strconv.AppendUint(t.whyBuf, uint64(rel(sack[i][1])), 10)
		}
		t.put("why.note.sack.tail")
	}
}

// once reports whether the note id has not been given yet in this report,
// and records that it now is: a learner reads what PSH means once, not on
// every segment.
func (t *Text) once(id msgID) bool {
	if t.told[id] {
		return false
	}
	if t.told == nil {
		t.told = make(map[msgID]bool)
	}
	t.told[id] = true
	return true
}

// indexOf finds st among the connection's steps: by address when it is
// one of them, else by time and numbers (the HTML report explains copies).
func (t *Text) indexOf(st *textStep) int {
	for i := range t.current {
		if &t.current[i] == st {
			return i
		}
	}
	for i := range t.current {
		p := &t.current[i]
		if p.time.Equal(st.time) && p.from == st.from && p.relSeq == st.relSeq && p.relAck == st.relAck && p.flags == st.flags {
			return i
		}
	}
	return -1
}

// keepAlive reports whether st is a keep-alive probe: no new data, its
// sequence number one below the next byte its side would send, so that
// the other side must answer with an ACK.
func (t *Text) keepAlive(st *textStep) bool {
	if st.len > 1 || st.flags&(decode.SYN|decode.FIN|decode.RST) != 0 {
		return false
	}
	i := t.indexOf(st)
	if i < 1 {
		return false
	}
	var next uint32
	sent := false
	for j := 0; j < i; j++ {
		p := &t.current[j]
		if p.from != st.from {
			continue
		}
		end := p.relSeq + uint32(p.len)
		if p.flags&(decode.SYN|decode.FIN) != 0 {
			end++
		}
		if !sent || end > next {
			next, sent = end, true
		}
	}
	return sent && next > 1 && st.relSeq == next-1
}

// putProbe explains st, a segment keepAlive says is a probe, sent by the
// side named from. A probe while the other side's window is 0 is the
// persist timer's zero-window probe (Linux sends it with the same
// sequence number one below its next byte, no data), not keep-alive:
// the sender has data waiting and asks for the window again. tshark
// calls both "keep-alive".
func (t *Text) putProbe(st *textStep, from string) {
	if t.peerWindowZero(st) {
		t.put("why.zwp", from)
		return
	}
	t.put("why.keepalive", from)
}

// peerWindowZero reports whether the last segment the other side sent
// before st advertised a window of 0.
func (t *Text) peerWindowZero(st *textStep) bool {
	i := t.indexOf(st)
	for j := i - 1; j >= 0; j-- {
		p := &t.current[j]
		if p.from == st.from {
			continue
		}
		return p.flags&decode.ACK != 0 && p.flags&(decode.SYN|decode.RST) == 0 && p.win == 0
	}
	return false
}

// finCause is what made side send its FIN, as far as socktrace knows.
type finCause uint8

const (
	finUnknown          finCause = iota // no call seen: close() or shutdown(SHUT_WR)
	finClose                            // an observed close()
	finShutdown                         // an observed shutdown()
	finShutdownInferred                 // no call seen, but the side took data after its FIN
)

// finCause says why side sent the FIN of step fin (nil: its first FIN,
// wherever it is), and for an observed shutdown() its argument. The
// latest close() or shutdown() the side was seen entering before the FIN
// decides. With no call seen, a side that acknowledges the other's data
// after its own FIN only shut down its sending: Linux answers data that
// reaches a closed socket with RST.
func (t *Text) finCause(c *decode.Connection, side decode.Side, fin *textStep) (finCause, string) {
	if fin == nil {
		fin = t.finStep(side)
	}
	var last *calls.Event
	for i := range c.Calls {
		ev := &c.Calls[i]
		if ev.Inferred || ev.Errno != 0 || sideOf(c, ev) != side || (ev.Call != calls.Close && ev.Call != calls.Shutdown) {
			continue
		}
		switch {
		case fin == nil:
			// No segments to place it: the side's first such call.
			if last == nil || ev.Enter.Before(last.Enter) {
				last = ev
			}
		case ev.Enter.After(fin.time):
		case last == nil || ev.Enter.After(last.Enter):
			last = ev
		}
	}
	switch {
	case last != nil && last.Call == calls.Shutdown:
		detail := last.Detail
		if detail == "" {
			detail = "SHUT_WR"
		}
		return finShutdown, detail
	case last != nil:
		return finClose, ""
	case fin != nil && t.ackedDataAfter(side, fin):
		return finShutdownInferred, ""
	}
	return finUnknown, ""
}

// ackedDataAfter reports whether side, after sending fin, acknowledged
// payload the other side sent after it, without a RST in between.
func (t *Text) ackedDataAfter(side decode.Side, fin *textStep) bool {
	start := len(t.current)
	for i := range t.current {
		if &t.current[i] == fin {
			start = i + 1
			break
		}
	}
	var dataEnd uint32
	seen := false
	for i := start; i < len(t.current); i++ {
		st := &t.current[i]
		switch {
		case st.from != side && st.len > 0:
			dataEnd, seen = st.relSeq+uint32(st.len), true
		case st.from == side && st.flags&decode.RST != 0:
			return false
		case st.from == side && seen && st.flags&decode.ACK != 0 && st.relAck >= dataEnd:
			return true
		}
	}
	return false
}

// rstWhy explains a RST by the cause socktrace knows: an observed
// SO_LINGER 0, or data the side received and did not read; with neither
// known, both possibilities.
func (t *Text) rstWhy(c *decode.Connection, st *textStep, from string) {
	other := st.from.Other()
	if st.probes > 0 {
		t.put("why.rst.keepalive", from, st.probes)
		return
	}
	if t.sawLingerZero(c, st.from, st.time) {
		t.put("why.rst.linger", t.mark(c, st.from, calls.Close), from)
		return
	}
	var received int64
	for i := range t.current {
		s := &t.current[i]
		if s.time.After(st.time) {
			break
		}
		if s.from == other && s.kind == decode.StepData {
			received += int64(s.len)
		}
	}
	if received > 0 && t.observedSide(c, st.from) {
		var read int64
		reads, peeked := false, false
		for i := range c.Calls {
			ev := &c.Calls[i]
			if !ev.Inferred && ev.Call == calls.Read && sideOf(c, ev) == st.from && !ev.Exit.After(st.time) {
				reads = true
				switch {
				case isPeek(ev):
					// MSG_PEEK copies and leaves the bytes queued:
					// still unread at the close.
					peeked = peeked || ev.Errno == 0 && ev.Result > 0
				case ev.Errno == 0 && ev.Result > 0:
					read += int64(ev.Result)
				}
			}
		}
		switch {
		case reads && received > read:
			t.put("why.rst.unread", t.mark(c, st.from, calls.Close), from, received-read, received)
			if peeked {
				t.put("why.rst.peeked")
			}
			return
		case !reads:
			t.put("why.rst.unread.some", t.mark(c, st.from, calls.Close), from, received)
			return
		}
	}
	t.put("why.rst", t.mark(c, st.from, calls.Close), from)
}

// observedSide reports whether socktrace saw any call of side.
func (t *Text) observedSide(c *decode.Connection, side decode.Side) bool {
	for i := range c.Calls {
		if !c.Calls[i].Inferred && sideOf(c, &c.Calls[i]) == side {
			return true
		}
	}
	return false
}

// mark is what follows a call's name in an explanation: " [inferred]"
// when no such call of the side was seen, nothing when one was (it has its
// own line). A traced program's reads and writes are not traced, so its
// data segments still say their write() is inferred.
func (t *Text) mark(c *decode.Connection, side decode.Side, names ...calls.Call) string {
	for i := range c.Calls {
		ev := &c.Calls[i]
		if !ev.Inferred && sideOf(c, ev) == side && (slices.Contains(names, ev.Call) ||
			slices.Contains(names, calls.Write) && isFastOpen(ev)) { // a send that also connected
			return ""
		}
	}
	if slices.Contains(names, calls.Listen) && t.listening[c.Server.Port()] {
		// Seen listening on an earlier connection of the same listener.
		return ""
	}
	return t.m("inferred")
}

// synCount is how many times the SYN has been retransmitted, this one
// included: counted as the steps came, so that a SYN flood costs O(1) a
// segment and steps left out still count.
func (t *Text) synCount(st *textStep) int { return st.synNo }

// synOptions lists a SYN's options in words.
func (t *Text) synOptions(o decode.Options, synack bool) string {
	var parts []string
	if o.MSS != 0 {
		parts = append(parts, fmt.Sprintf("MSS %d", o.MSS))
	}
	if o.WindowScale >= 0 {
		parts = append(parts, t.m("opt.wscale", int(o.WindowScale)))
	}
	if o.SACKPermitted {
		parts = append(parts, t.m("opt.sack"))
	}
	if o.Timestamps {
		parts = append(parts, t.m("opt.timestamps"))
	}
	switch {
	case o.FastOpen && o.FastOpenCookie > 0 && synack:
		// A SYN-ACK gives the cookie; a SYN shows one given before.
		parts = append(parts, t.m("why.synopts.tfogiven", int(o.FastOpenCookie)))
	case o.FastOpen && o.FastOpenCookie > 0:
		parts = append(parts, t.m("why.synopts.tfo", int(o.FastOpenCookie)))
	case o.FastOpen && synack:
		parts = append(parts, t.m("why.synopts.tfonone"))
	case o.FastOpen:
		parts = append(parts, t.m("why.synopts.tforeq"))
	}
	if len(parts) == 0 {
		return ""
	}
	return t.m("why.synopts", strings.Join(parts, ", "))
}

func (t *Text) writeConnSummary(c *decode.Connection) {
	t.noteTimeWaits(c)
	defer t.writeConnICMP(c)
	hs := c.Handshake().String()
	parts := []string{t.m(msgID("sum.handshake." + hs))}
	if c.Handshake() == decode.Incomplete {
		// The short label serves the shapes and totals; here the
		// connection's own summary says what is missing and why.
		parts[0] = t.m("sum.incomplete")
	}
	switch k := c.CloseKind(); k {
	case decode.Reset:
		parts = append(parts, t.m("sum.close.reset", t.sides(c.RSTFrom)))
	case decode.HalfClosed:
		parts = append(parts, t.m("sum.close.half-closed", t.sides(c.FirstFIN)))
	default:
		parts = append(parts, t.closeLabel(k.String()))
	}
	if c.FirstFIN != decode.NoSide && c.CloseKind() == decode.Graceful && !c.SelfConnect {
		parts = append(parts, t.firstFIN(c))
	}
	switch {
	case c.TimeWait != decode.NoSide && c.SelfConnect:
		parts = append(parts, t.m("sum.timewait", t.m("side.self")))
	case c.TimeWait != decode.NoSide:
		parts = append(parts, t.m("sum.timewait", t.sides(c.TimeWait)))
	}
	if c.HalfClose {
		parts = append(parts, t.m("sum.halfclose"))
	}
	if c.SYNRetransmits > 0 {
		parts = append(parts, t.m("sum.synrtx", c.SYNRetransmits))
	}
	// What the capture itself lacks or gets wrong.
	if c.Midstream() {
		parts = append(parts, t.m("sum.midstream"))
	}
	if d := c.OneDirection(); d != decode.NoSide {
		parts = append(parts, t.m("sum.onedirection", t.sides(d)))
	}
	if c.SYNACKMissed {
		parts = append(parts, t.m("sum.synackmissed"))
	}
	if c.RSTsIgnored > 0 {
		parts = append(parts, t.m("sum.rstignored", c.RSTsIgnored))
	}
	if c.Reordered {
		parts = append(parts, t.m("sum.reordered"))
	}
	for _, side := range [...]decode.Side{decode.Client, decode.Server} {
		if n := c.Offload[side]; n > 0 {
			parts = append(parts, t.m("sum.offload", t.side(side), n, c.OffloadLargest, c.OffloadMSS))
		}
		if n := c.Uncaptured[side]; n > 0 {
			parts = append(parts, t.m("sum.gap", t.side(side), n))
		}
		if n := c.DSACKSpurious[side]; n > 0 {
			parts = append(parts, t.m("sum.dsack", t.side(side), n))
		}
	}
	t.printf("  ⇒ %s\n", t.wrapRest(strings.Join(parts, "; "), 4))
	var facts []string
	if c.HasIRTT {
		facts = append(facts, t.m("sum.irtt", duration(c.IRTT)))
	}
	if c.Packets == 1 {
		facts = append(facts, t.m("sum.bytes.one", c.Bytes[decode.Client], c.Bytes[decode.Server]))
	} else {
		facts = append(facts, t.m("sum.bytes", c.Bytes[decode.Client], c.Bytes[decode.Server], c.Packets))
	}
	facts = append(facts, t.m("sum.zeek", c.ConnState(), c.History()))
	t.printf("    %s\n", t.wrapRest(strings.Join(facts, "; "), 4))
	for _, side := range [...]decode.Side{decode.Client, decode.Server} {
		if c.SelfConnect && side == decode.Server {
			break
		}
		states := c.States(side)
		if len(states) == 0 {
			continue
		}
		names := make([]string, len(states))
		for i, s := range states {
			names[i] = s.String()
		}
		t.printf("    %s\n", t.wrapRest(t.m("sum.states", t.side(side), strings.Join(names, " → ")), 6))
	}
	t.writeOwnerSummary(c)
	t.writeKernelSummary(c)
}

// writeOwnerSummary names the process that held each side's socket, where
// watch found it, and says when the connection existed before watch
// started.
func (t *Text) writeOwnerSummary(c *decode.Connection) {
	for _, side := range [...]decode.Side{decode.Client, decode.Server} {
		o := c.Owner(side)
		if !o.Known() || c.SelfConnect && side == decode.Server {
			continue
		}
		line := t.m("sum.owner.nouser", t.side(side), neutral.String(o.Comm), o.PID)
		if o.User != "" {
			line = t.m("sum.owner", t.side(side), neutral.String(o.Comm), o.PID, neutral.String(o.User))
		}
		if o.Before {
			line += "; " + t.m("sum.owner.before", o.State.String())
		}
		t.printf("    %s\n", t.wrapRest(line, 6))
	}
}

// writeKernelSummary writes the kernel's own states beside the inferred
// ones, when the eBPF recorder reported them, and says whether they agree
// and which known difference applies.
func (t *Text) writeKernelSummary(c *decode.Connection) {
	v, ok := c.Kernel()
	if !ok {
		return
	}
	recorded := false
	for _, side := range [...]decode.Side{decode.Client, decode.Server} {
		states := v.States[side]
		if len(states) == 0 {
			continue
		}
		recorded = true
		names := make([]string, len(states))
		for i, s := range states {
			names[i] = s.String()
		}
		t.printf("    %s\n", t.wrapRest(t.m("sum.kernel.states", t.side(side), strings.Join(names, " → ")), 6))
		if v.Retransmits[side]+v.ResetsSent[side]+v.ResetsReceived[side]+v.Errors[side] > 0 {
			t.printf("    %s\n", t.wrapRest(t.m("sum.kernel.counts", t.side(side), v.Retransmits[side], v.ResetsSent[side], v.ResetsReceived[side], v.Errors[side]), 6))
		}
	}
	if !recorded {
		return
	}
	verdict := t.m("sum.kernel.differ")
	if v.Agree {
		verdict = t.m("sum.kernel.agree")
	}
	t.printf("    %s\n", t.wrapRest(verdict, 4))
	for _, n := range v.Notes {
		key := msgID("sum.kernel.note.timewait")
		switch {
		case n == decode.NoteRequestSocket && t.synDataAccepted():
			// No request socket: a Fast Open SYN whose data the
			// server took made the socket itself.
			key = "sum.kernel.note.tfo"
		case n == decode.NoteRequestSocket:
			key = "sum.kernel.note.reqsock"
		}
		t.printf("    %s\n", t.wrapRest(t.m(key), 4))
	}
}

// firstFIN says who ended the connection first, in words true to what was
// seen: "closed first" only of a side seen calling close().
func (t *Text) firstFIN(c *decode.Connection) string {
	var side decode.Side
	switch c.FirstFIN {
	case decode.ClientSide:
		side = decode.Client
	case decode.ServerSide:
		side = decode.Server
	default:
		return t.m("sum.firstfin.both")
	}
	switch cause, detail := t.finCause(c, side, nil); cause {
	case finClose:
		return t.m("sum.firstfin.close", t.side(side))
	case finShutdown:
		return t.m("sum.firstfin.shutdown", t.side(side), detail)
	case finShutdownInferred:
		return t.m("sum.firstfin.shutdown", t.side(side), "SHUT_WR")
	}
	return t.m("sum.firstfin", t.side(side))
}

// Summary writes the report's last lines and flushes.
func (t *Text) Summary(s Summary) error {
	var kinds []string
	for _, k := range t.order {
		hs, cl, _ := strings.Cut(k, "/")
		label := t.m(msgID("sum.handshake." + hs))
		if cl != "none" {
			label += ", " + t.closeLabel(cl)
		}
		kinds = append(kinds, fmt.Sprintf("%d× %s", t.kinds[k], label))
	}
	t.writeDatagrams()
	t.writeLooseCalls()
	t.writeShapes()
	t.printf("%s\n", t.m("total.header"))
	switch s.Connections {
	case 0:
		t.printf("  %s\n", t.m("total.connections.none"))
	case 1:
		t.printf("  %s\n", t.wrapRest(t.m("total.connections.one", strings.Join(kinds, "; ")), 4))
	default:
		t.printf("  %s\n", t.wrapRest(t.m("total.connections", s.Connections, strings.Join(kinds, "; ")), 4))
	}
	if s.LeftOut > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("total.left.out", s.LeftOut), 4))
	}
	switch {
	case s.Counts.Fragments > 0 && s.Counts.Packets == 1:
		t.printf("  %s\n", t.wrapRest(t.m("total.packets.fragments.one", s.Counts.TCP, s.Counts.Fragments, s.Counts.Other, s.Counts.Malformed), 4))
	case s.Counts.Fragments > 0:
		// Pieces of TCP segments are TCP, not "other", even when no
		// segment came of them.
		t.printf("  %s\n", t.wrapRest(t.m("total.packets.fragments", s.Counts.Packets, s.Counts.TCP, s.Counts.Fragments, s.Counts.Other, s.Counts.Malformed), 4))
	case s.Counts.Packets == 1:
		t.printf("  %s\n", t.wrapRest(t.m("total.packets.one", s.Counts.TCP, s.Counts.Other, s.Counts.Malformed), 4))
	default:
		t.printf("  %s\n", t.wrapRest(t.m("total.packets", s.Counts.Packets, s.Counts.TCP, s.Counts.Other, s.Counts.Malformed), 4))
	}
	if s.Counts.Datagrams > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("total.datagrams", s.Counts.Datagrams), 4))
	}
	if len(s.Counts.Undecoded) > 0 {
		var why []string
		for _, u := range s.Counts.SortedUndecoded() {
			why = append(why, fmt.Sprintf("%d× %s", u.Packets, u.Undecoded))
		}
		t.printf("  %s\n", t.wrapRest(t.m("total.undecoded", strings.Join(why, "; ")), 4))
	}
	if s.Counts.SampledTCP > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("total.sampled", s.Counts.SampledTCP), 4))
	}
	if s.Duplicates > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("total.duplicates", s.Duplicates), 4))
	}
	if s.Dropped > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("total.dropped", s.Dropped), 4))
	}
	if s.Evicted > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("total.evicted", s.Evicted), 4))
	}
	if n := s.CallsOmitted + int64(t.looseOmitted); n > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("total.calls.omitted", n), 4))
	}
	if s.Resumed > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("total.resumed", s.Resumed), 4))
	}
	if s.Late > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("total.late", s.Late), 4))
	}
	if s.Err != "" {
		t.printf("  %s\n", t.wrapRest(t.m("total.error", neutral.String(s.Err)), 4))
	}
	if err := t.w.Flush(); t.err == nil {
		t.err = err
	}
	return t.err
}

// offset formats a time offset the way tcpdump -ttt does: seconds with
// microseconds.
func offset(d time.Duration) string {
	var buf [32]byte
	return string(appendOffset(buf[:0], d))
}

// appendOffset is offset appending to b.
func appendOffset(b []byte, d time.Duration) []byte {
	if d < 0 {
		b, d = append(b, '-'), -d
	} else {
		b = append(b, '+')
	}
	b = strconv.AppendInt(b, int64(d/time.Second), 10)
	us := int64(d%time.Second) / int64(time.Microsecond)
	b = append(b, '.')
	for div := int64(100000); div > 0; div /= 10 {
		b = append(b, byte('0'+us/div%10))
	}
	return b
}

// duration formats a short duration for people: 41 µs, 1.2 ms, 1.003 s.
func duration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.3g ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

// wrap breaks s into lines of at most the report's width, each indented
// by indent spaces.
func (t *Text) wrap(s string, indent int) string {
	return strings.Repeat(" ", indent) + t.wrapRest(s, indent)
}

// wrapRest wraps s as wrap does, but leaves the first line unindented (the
// caller has already written its start, indent columns wide).
func (t *Text) wrapRest(s string, indent int) string {
	return string(appendWrapped(make([]byte, 0, len(s)+len(s)/50*(indent+1)), s, indent, indent, t.width()))
}

// appendWrapped appends s to b broken at spaces into lines of at most
// width columns; the first starts at column col, the others are indented
// by indent spaces. A word wider than a line (a long payload preview, an
// IPv6 address) is cut where the line ends. It reads the words in place:
// this runs for every line of a text report.
func appendWrapped(b []byte, s string, col, indent, width int) []byte {
	first := true
	newline := func() {
		b = append(b, '\n')
		for range indent {
			b = append(b, ' ')
		}
		col = indent
	}
	for len(s) > 0 {
		if s[0] == ' ' {
			s = s[1:]
			continue
		}
		end := strings.IndexByte(s, ' ')
		if end < 0 {
			end = len(s)
		}
		word := s[:end]
		s = s[end:]
		n := cells(word) // Korean takes two columns a character
		if !first {
			if col+1+n > width {
				newline()
			} else {
				b = append(b, ' ')
				col++
			}
		}
		first = false
		for col+n > width && width-indent > 8 {
			// Too wide for any line: cut it at the width.
			k, used := 0, 0
			for i, r := range word {
				if c := runeCells(r); col+used+c > width {
					k = i
					break
				} else {
					used += c
				}
			}
			if k == 0 {
				break
			}
			b = append(b, word[:k]...)
			word = word[k:]
			n -= used
			newline()
		}
		b = append(b, word...)
		col += n
	}
	return b
}

// closeLabel names a close kind without the details of one connection.
func (t *Text) closeLabel(kind string) string {
	switch kind {
	case "reset":
		return t.m("total.close.reset")
	case "half-closed":
		return t.m("total.close.half-closed")
	}
	return t.m(msgID("sum.close." + kind))
}

// putCaptureFacts adds what the step shows about the capture rather than
// the connection: IP fragments, a handshake completed without a SYN-ACK
// in the capture.
func (t *Text) putCaptureFacts(st *textStep) {
	if st.from == decode.Client && st.flags&(decode.SYN|decode.RST) == 0 &&
		st.before[decode.Client] == decode.SynSent && st.after[decode.Client] == decode.Established {
		t.put("why.nosynack")
	}
	if st.fragments > 0 {
		t.put("why.fragments", st.fragments)
	}
}

// impossibleFlags reports a flag combination no TCP stack sends: SYN with
// FIN or RST (an opening that is also a close or an abort), or FIN, PSH
// and URG without ACK (nmap's "Xmas" probe; every segment after the first
// carries ACK). Scanners send them to see how a stack answers.
func impossibleFlags(f decode.Flags) bool {
	return f&decode.SYN != 0 && f&(decode.FIN|decode.RST) != 0 ||
		f&(decode.FIN|decode.PSH|decode.URG) == decode.FIN|decode.PSH|decode.URG && f&decode.ACK == 0
}

// sentInCloseWait reports whether the step's sender was in CLOSE_WAIT when
// it sent the segment: before it, or entered with it (the tracker moves a
// side to CLOSE_WAIT with the segment whose ACK shows it took the other's
// FIN, such as its own FIN-ACK).
func (st *textStep) sentInCloseWait() bool {
	return st.before[st.from] == decode.CloseWait || st.after[st.from] == decode.CloseWait ||
		slices.Contains(st.passed[st.from], decode.CloseWait)
}
