package report

import (
	"strconv"
	"strings"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// This file holds what the text report (and, through it, the diagram and
// the HTML page) writes for the shape rule: compact and grouped lines, the
// summary's shapes and notable connections, and --explain none's line per
// segment.

// endShaped applies the shape rule to c, which just ended: it writes c's
// compact line or counts it in a grouped line, and reports whether c is
// to be explained in full, and why it is notable.
func (t *Text) endShaped(c *decode.Connection, sig *shapeSig) (full bool, marks notability) {
	v, g, marks := t.book.judge(c, sig)
	if g != nil && g.label == "" {
		g.label = t.kindLabel(c)
		g.ladder = t.ladderText(c, sig)
	}
	t.lastFirst = 0
	if g != nil && v != showFull {
		t.lastFirst = g.first
	}
	switch v {
	case showCompact:
		t.writeCompact(c, g)
	case showGrouped:
		g.pending.add(c)
		if g.pending.n >= groupLine || t.opt.Stream && g.pending.end.Sub(g.pending.start) >= groupSpan {
			t.writeGroup(g)
		}
	}
	return v == showFull, marks
}

// kindLabel names how a connection opened and closed, as the totals do.
func (t *Text) kindLabel(c *decode.Connection) string {
	label := t.m(msgID("sum.handshake." + c.Handshake().String()))
	if k := c.CloseKind(); k != decode.CloseNone {
		label += ", " + t.closeLabel(k.String())
	}
	return label
}

// clock appends a capture time as tcpdump prints it, in UTC so that a
// report reads the same everywhere.
func appendClock(b []byte, at time.Time) []byte {
	return at.UTC().AppendFormat(b, "15:04:05.000000")
}

func clock(at time.Time) string {
	var buf [24]byte
	return string(appendClock(buf[:0], at))
}

// writeCompact writes the one line of a connection whose shape was
// explained before.
func (t *Text) writeCompact(c *decode.Connection, g *shapeGroup) {
	at, took := clock(c.Start), duration(c.End.Sub(c.Start))
	cb, sb := c.Bytes[decode.Client], c.Bytes[decode.Server]
	var line string
	if g == nil {
		line = t.m("shape.untracked", c.ID, c.Client.String(), c.Server.String(), at, took, cb, sb, c.Packets, maxShapes)
	} else {
		line = t.m("shape.same", c.ID, c.Client.String(), c.Server.String(), at, took, cb, sb, c.Packets, g.first)
	}
	if cells(line) > t.width() {
		line = t.wrapRest(line, 4)
	}
	t.printf("%s\n", line)
	t.flushSoon()
}

// writeGroup writes a shape's grouped line and starts the next.
func (t *Text) writeGroup(g *shapeGroup) {
	p := &g.pending
	t.printf("%s\n", t.wrapRest(t.m("shape.group", p.n, g.first, p.firstID, p.lastID, clock(p.start), clock(p.end),
		p.bytes[0], p.bytes[1], p.packets), 4))
	*p = groupLineData{}
	t.flushSoon()
}

// notableText lists why a connection is notable: "reset, retransmitted".
func (t *Text) notableText(m notability) string {
	var parts []string
	for i, id := range notabilityIDs {
		if m&(1<<i) != 0 {
			parts = append(parts, t.m(id))
		}
	}
	return strings.Join(parts, ", ")
}

// writeShapes ends the grouped lines and, when the rule left connections
// out of full explanation, describes the shapes and lists the notable
// connections before the totals.
func (t *Text) writeShapes() {
	b := t.book
	for _, g := range b.order {
		if g.pending.n > 0 {
			t.writeGroup(g)
		}
	}
	if !b.big() {
		return
	}
	t.printf("\n%s\n", t.wrap(t.m("shape.header", b.ended, len(b.groups)), 0))
	gs := b.byCount()
	shown := gs[:min(len(gs), 20)]
	for _, g := range shown {
		t.printf("  %s\n", t.wrapRest(t.m("shape.line", g.count, g.first, g.label, g.history), 4))
		t.printf("    %s\n", t.wrapRest(g.ladder, 6))
	}
	if rest := gs[len(shown):]; len(rest) > 0 {
		var n int64
		for _, g := range rest {
			n += g.count
		}
		t.printf("  %s\n", t.m("shape.more", len(rest), n))
	}
	if b.untracked > 0 {
		t.printf("  %s\n", t.m("shape.over", b.untracked, maxShapes))
	}
	if b.notableN > 0 {
		t.printf("%s\n", t.m("notable.header", b.notableN))
		parts := make([]string, 0, len(b.notable))
		for _, n := range b.notable {
			parts = append(parts, "#"+strconv.Itoa(n.id)+" "+t.notableText(n.marks))
		}
		line := strings.Join(parts, "; ")
		if more := b.notableN - int64(len(b.notable)); more > 0 {
			line += " " + t.m("notable.more", more)
		}
		t.printf("  %s\n", t.wrapRest(line, 2))
	}
	t.printf("\n")
}

// writeSegmentLine writes one segment as --explain none shows it, in the
// spirit of tcpdump -nn: time, connection, endpoints, flags, relative
// numbers, length, window, and the state changes it caused. It allocates
// nothing.
func (t *Text) writeSegmentLine(c *decode.Connection, st *decode.Step) {
	if t.err != nil {
		return
	}
	if !t.prefaced {
		t.prefaced = true
		t.printf("%s\n", t.wrap(t.m("segline.note"), 0))
	}
	s := st.Segment
	b := t.w.AvailableBuffer()
	b = appendClock(b, s.Time)
	b = append(b, " #"...)
	b = strconv.AppendInt(b, int64(c.ID), 10)
	b = append(b, ' ')
	b = s.Src.AppendTo(b)
	b = append(b, " > "...)
	b = s.Dst.AppendTo(b)
	b = append(b, " ["...)
	b = appendTCPDumpFlags(b, s.Flags)
	b = append(b, "] seq="...)
	b = strconv.AppendUint(b, uint64(st.RelSeq), 10)
	if s.Flags&decode.ACK != 0 {
		b = append(b, " ack="...)
		b = strconv.AppendUint(b, uint64(st.RelAck), 10)
	}
	b = append(b, " len="...)
	b = strconv.AppendInt(b, int64(s.Len), 10)
	b = append(b, " win="...)
	b = strconv.AppendUint(b, uint64(s.Window), 10)
	for side := decode.Client; side <= decode.Server; side++ {
		if c.SelfConnect && side == decode.Server {
			break
		}
		if st.Before[side] != st.After[side] {
			b = append(b, ' ')
			b = append(b, t.sideName(c, side)...)
			b = append(b, ' ')
			b = append(b, st.After[side].String()...)
		}
	}
	b = append(b, '\n')
	_, t.err = t.w.Write(b)
}

// sideName is side's name, translated, kept from the first use: a line
// per segment must not format a message each time.
func (t *Text) sideName(c *decode.Connection, side decode.Side) string {
	i := int(side)
	if c.SelfConnect {
		i = 2
	}
	if t.sideNames[i] == "" {
		t.sideNames = [3]string{t.m("side.client"), t.m("side.server"), t.m("side.self")}
	}
	return t.sideNames[i]
}

// appendTCPDumpFlags appends flags as tcpdump shows them: S, F, P, R, U,
// E, W, and . for ACK.
func appendTCPDumpFlags(b []byte, f decode.Flags) []byte {
	for _, x := range [...]struct {
		f decode.Flags
		c byte
	}{{decode.SYN, 'S'}, {decode.FIN, 'F'}, {decode.PSH, 'P'}, {decode.RST, 'R'}, {decode.URG, 'U'},
		{decode.ECE, 'E'}, {decode.CWR, 'W'}, {decode.ACK, '.'}} {
		if f&x.f != 0 {
			b = append(b, x.c)
		}
	}
	return b
}

// maxLadderCalls calls are named in a shape's description; a run of the
// same call on the same side counts once.
const maxLadderCalls = 10

// ladderText describes a shape by what sets it apart when the words do
// not: its significant segments, in order, with "…" where data or bare
// ACKs that changed no state came between ("→SYN ←SYN-ACK →ACK … →FIN-ACK
// ←ACK ←FIN-ACK →ACK"), and the calls seen ("calls: client connect,
// close; server accept, close"). It is made once per shape.
func (t *Text) ladderText(c *decode.Connection, sig *shapeSig) string {
	var b strings.Builder
	b.WriteString(t.m("shape.segments"))
	for i := range int(sig.nLadder) {
		r := sig.ladder[i]
		if r.quietBefore {
			b.WriteString(" …")
		}
		if r.fromServer {
			b.WriteString(" ←")
		} else {
			b.WriteString(" →")
		}
		b.WriteString(r.flags.String())
	}
	if sig.cutOff || sig.quietTail {
		b.WriteString(" …")
	}
	var (
		last     calls.Event
		lastSide calls.Side = "-"
		named    int
	)
	for i := range c.Calls {
		ev := &c.Calls[i]
		if ev.Inferred {
			continue // the segments imply it: they are above
		}
		if named > 0 && ev.Call == last.Call && ev.Side == last.Side {
			continue
		}
		if named == 0 {
			b.WriteString("; ")
			b.WriteString(t.m("shape.calls"))
		}
		last = *ev
		if named == maxLadderCalls {
			b.WriteString(" …")
			break
		}
		named++
		switch {
		case ev.Side != lastSide:
			if lastSide != "-" {
				b.WriteString(";")
			}
			b.WriteString(" ")
			switch ev.Side {
			case calls.Client:
				b.WriteString(t.m("side.client"))
			case calls.Server:
				b.WriteString(t.m("side.server"))
			default:
				b.WriteString("?")
			}
			b.WriteString(" ")
			lastSide = ev.Side
		default:
			b.WriteString(", ")
		}
		b.WriteString(string(ev.Call))
	}
	return b.String()
}
