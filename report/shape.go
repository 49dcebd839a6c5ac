package report

import (
	"fmt"
	"math/bits"
	"slices"
	"time"

	"github.com/socktrace/socktrace/decode"
)

// This file holds how the text, diagram and HTML reports scale with what is
// interesting rather than with the packet count: connections are grouped by
// shape, the first of each shape and the notable ones are explained in
// full, and the rest get one compact line, then a grouped line.

// Explain says how much of each connection the reports explain.
type Explain uint8

const (
	// ExplainAuto explains the first connection of each shape, every
	// notable connection, and every connection of a small capture in
	// full; a later connection of a shape already explained gets one
	// compact line, and past a few hundred of them a grouped line.
	ExplainAuto Explain = iota
	// ExplainAll explains every connection in full.
	ExplainAll
	// ExplainNone writes one line per segment, as tcpdump does, and the
	// summary.
	ExplainNone
)

// ParseExplain reads the --explain flag: auto (or empty), all or none.
func ParseExplain(s string) (Explain, error) {
	switch s {
	case "", "auto":
		return ExplainAuto, nil
	case "all":
		return ExplainAll, nil
	case "none":
		return ExplainNone, nil
	}
	return 0, fmt.Errorf("unknown --explain %q: use auto, all or none", s)
}

// The shape rule's bounds.
const (
	// smallReport connections are explained in full whatever their
	// shape, so that the demo and a small file read as a tutorial does.
	smallReport = 32
	// compactPerShape compact lines are written per shape; later
	// connections of the shape are counted in grouped lines.
	compactPerShape = 200
	// groupLine connections make one grouped line at most.
	groupLine = 1000
	// groupSpan of capture time ends a grouped line early in a streaming
	// report, so that a live view keeps moving.
	groupSpan = 10 * time.Second
	// maxShapes distinct shapes are remembered; a connection of a new
	// shape past it gets a compact line that says so.
	maxShapes = 4096
	// maxNotable notable connections are listed in the summary.
	maxNotable = 200
	// A handshake is slow when its iRTT is slowFactor times the median of
	// the capture's so far and slowFloor above it, once minIRTTs
	// handshakes have been seen.
	slowFactor = 10
	slowFloor  = time.Millisecond
	minIRTTs   = 16
)

// notability says why a connection stands out; any reason explains it in
// full.
type notability uint8

const (
	notRefused notability = 1 << iota
	notReset
	notRetransmitted
	notHalfOpen
	notSlow
	notZeroWindow
	notOutOfOrder
)

var notabilityIDs = [...]msgID{"notable.refused", "notable.reset", "notable.retransmitted",
	"notable.half-open", "notable.slow", "notable.zero-window", "notable.out-of-order"}

// shapeSig is a connection's shape as its segments come: a hash of the
// sequence of what each segment did (its kind, direction, flags and the
// state changes it caused), ignoring numbers. Runs of data and bare ACKs
// that change no state fold into the set of their kinds, so that a
// transfer of 10 or 11 segments has the same shape. It also notes what
// makes a connection notable on the wire.
type shapeSig struct {
	h       uint64
	quiet   uint32 // kinds of quiet segments since the last significant one, a bit per (kind, direction)
	next    [2]uint32
	hasNext [2]bool
	marks   notability
	// ladder keeps the first significant segments as they are drawn in
	// the summary's line for the shape ("→SYN ←SYN-ACK →ACK … →FIN-ACK"),
	// so that two shapes with the same words can be told apart; fixed
	// size, so a connection costs nothing more.
	ladder    [maxLadder]ladderRung
	nLadder   uint8
	cutOff    bool // more significant segments than the ladder holds
	quietTail bool // quiet segments came after the last significant one
}

// maxLadder significant segments are kept for a shape's description.
const maxLadder = 14

// ladderRung is one significant segment of a shape: its flags, its
// direction, and whether quiet segments (data, bare ACKs) came before it.
type ladderRung struct {
	flags       decode.Flags
	fromServer  bool
	quietBefore bool
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func (s *shapeSig) mix(v uint64) {
	if s.h == 0 {
		s.h = fnvOffset
	}
	for range 8 {
		s.h ^= v & 0xff
		s.h *= fnvPrime
		v >>= 8
	}
}

// add folds one step into the shape. It allocates nothing.
func (s *shapeSig) add(st *decode.Step) {
	seg := st.Segment
	from := st.From & 1
	switch st.Kind {
	case decode.StepRetransmission, decode.StepSYNRetransmit:
		s.marks |= notRetransmitted
	}
	if seg.Window == 0 && seg.Flags&decode.RST == 0 {
		s.marks |= notZeroWindow
	}
	// Out of order: payload past the next byte its sender had reached, so
	// something in between is missing or comes later.
	switch {
	case seg.Flags&decode.SYN != 0:
		s.next[from], s.hasNext[from] = st.RelSeq+1, true
	case seg.Len > 0:
		end := st.RelSeq + uint32(seg.Len)
		if s.hasNext[from] && int32(st.RelSeq-s.next[from]) > 0 {
			s.marks |= notOutOfOrder
		}
		if !s.hasNext[from] || int32(end-s.next[from]) > 0 {
			s.next[from], s.hasNext[from] = end, true
		}
	}
	changed := st.Changed(decode.Client) || st.Changed(decode.Server)
	if !changed && seg.Flags&(decode.SYN|decode.FIN|decode.RST) == 0 {
		s.quiet |= 1 << (uint(st.Kind)*2 + uint(from))
		return
	}
	quietBefore := s.quiet != 0
	s.foldQuiet()
	if int(s.nLadder) < maxLadder {
		s.ladder[s.nLadder] = ladderRung{flags: seg.Flags &^ decode.PSH, fromServer: st.From == decode.Server, quietBefore: quietBefore}
		s.nLadder++
	} else {
		s.cutOff = true
	}
	v := uint64(st.Kind) | uint64(from)<<5 | uint64(seg.Flags&^decode.PSH)<<8
	for side := range 2 {
		if st.Before[side] != st.After[side] {
			v |= (uint64(st.After[side])+1)<<(24+8*side) | uint64(len(st.Passed[side]))<<(28+8*side)
		}
	}
	s.mix(v)
}

func (s *shapeSig) foldQuiet() {
	if s.quiet != 0 {
		s.mix(uint64(s.quiet) | 1<<63)
		s.quiet = 0
	}
}

// key finishes the shape with what the whole connection says: how it
// opened and closed, and its calls (a run of the same call counts once).
func (s *shapeSig) key(c *decode.Connection) uint64 {
	s.quietTail = s.quiet != 0
	s.foldQuiet()
	k := *s
	k.mix(uint64(c.Handshake()) | uint64(c.CloseKind())<<8 | b2u(c.SelfConnect)<<16 | b2u(c.RolesGuessed)<<17 |
		b2u(c.Evicted)<<18 | b2u(c.Resumed)<<19)
	var last uint64
	for i := range c.Calls {
		ev := &c.Calls[i]
		v := strHash(string(ev.Call)) ^ strHash(string(ev.Side))<<1 ^ uint64(ev.Errno)<<40 ^ b2u(ev.Inferred)<<63
		if v != last {
			k.mix(v)
			last = v
		}
	}
	return k.h
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func strHash(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

// connMarks are the reasons a finished connection stands out that the
// connection itself records.
func connMarks(c *decode.Connection) notability {
	var m notability
	if c.Evicted {
		// A part the full table cut short: its handshake and close are
		// not known yet, and its last part says them.
		return 0
	}
	switch c.Handshake() {
	case decode.Refused:
		m |= notRefused
	case decode.Unanswered, decode.Incomplete:
		m |= notHalfOpen
	}
	switch c.CloseKind() {
	case decode.Reset:
		m |= notReset
	case decode.HalfClosed:
		m |= notHalfOpen
	}
	if c.SYNRetransmits > 0 {
		m |= notRetransmitted
	}
	return m
}

// irttHist keeps the capture's handshake times in logarithmic buckets (a
// quarter of a power of two each), so that their median costs no memory
// per connection.
type irttHist struct {
	n       int64
	buckets [256]int64
}

func irttBucket(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	v := uint64(d)
	e := bits.Len64(v) - 1 // 2^e <= v
	// Two bits below the top one pick the quarter.
	var q uint64
	if e >= 2 {
		q = v >> (e - 2) & 3
	} else {
		q = v << (2 - e) & 3
	}
	return min(e*4+int(q), 255)
}

// bucketFloor is the smallest duration in bucket i.
func bucketFloor(i int) time.Duration {
	e, q := i/4, uint64(i%4)
	return time.Duration((4 + q) << e >> 2)
}

func (h *irttHist) add(d time.Duration) {
	h.buckets[irttBucket(d)]++
	h.n++
}

// median is the lower bound of the bucket holding the median.
func (h *irttHist) median() time.Duration {
	half := (h.n + 1) / 2
	var sum int64
	for i, n := range h.buckets {
		if sum += n; sum >= half {
			return bucketFloor(i)
		}
	}
	return 0
}

// shapeGroup is one shape: the connection explained in full for it, how
// many there were, and the grouped line being gathered.
type shapeGroup struct {
	first   int   // the connection explained in full: "same as #first"
	count   int64 // connections of this shape
	compact int   // compact lines written
	label   string
	history string
	ladder  string // the first connection's significant segments and calls
	pending groupLineData
}

// groupLineData is what a grouped line says.
type groupLineData struct {
	n          int64
	firstID    int
	lastID     int
	start, end time.Time
	bytes      [2]int64
	packets    int64
}

func (g *groupLineData) add(c *decode.Connection) {
	if g.n == 0 {
		g.firstID, g.start = c.ID, c.Start
	}
	g.n++
	g.lastID = c.ID
	if c.End.After(g.end) {
		g.end = c.End
	}
	g.bytes[0] += c.Bytes[decode.Client]
	g.bytes[1] += c.Bytes[decode.Server]
	g.packets += int64(c.Packets)
}

// notableConn is one entry of the summary's list.
type notableConn struct {
	id    int
	marks notability
}

// verdict is what a report writes for a connection that ended.
type verdict uint8

const (
	showFull    verdict = iota // explained in full
	showCompact                // one line: "same as #N"
	showGrouped                // counted in its shape's grouped line
)

// shapeBook applies the shape rule to connections as they end. Its memory
// is bounded by maxShapes and maxNotable, whatever the capture's size.
type shapeBook struct {
	mode      Explain
	groups    map[uint64]*shapeGroup
	order     []*shapeGroup
	ended     int64
	compacted int64 // connections not explained in full
	untracked int64 // connections of shapes past maxShapes
	irtt      irttHist
	notable   []notableConn
	notableN  int64 // every notable connection, listed or not
}

func newShapeBook(mode Explain) *shapeBook {
	return &shapeBook{mode: mode, groups: make(map[uint64]*shapeGroup)}
}

// judge decides how c, which just ended, is shown, and counts it. g is its
// shape (nil when past maxShapes); marks says why it is notable.
func (b *shapeBook) judge(c *decode.Connection, sig *shapeSig) (v verdict, g *shapeGroup, marks notability) {
	b.ended++
	marks = sig.marks | connMarks(c)
	if c.HasIRTT {
		if b.irtt.n >= minIRTTs {
			med := b.irtt.median()
			if c.IRTT >= slowFactor*med && c.IRTT-med >= slowFloor {
				marks |= notSlow
			}
		}
		b.irtt.add(c.IRTT)
	}
	key := sig.key(c)
	g = b.groups[key]
	if g == nil && len(b.groups) < maxShapes {
		g = &shapeGroup{first: c.ID, history: c.History()}
		b.groups[key] = g
		b.order = append(b.order, g)
	}
	if g != nil {
		g.count++
	}
	if marks != 0 {
		b.notableN++
		if len(b.notable) < maxNotable {
			b.notable = append(b.notable, notableConn{c.ID, marks})
		}
	}
	switch {
	case marks != 0 || b.mode == ExplainAll || b.ended <= smallReport || (g != nil && g.first == c.ID):
		return showFull, g, marks
	case g == nil:
		b.untracked++
		b.compacted++
		return showCompact, nil, marks
	case g.compact < compactPerShape:
		g.compact++
		b.compacted++
		return showCompact, g, marks
	}
	b.compacted++
	return showGrouped, g, marks
}

// big reports whether the rule has left any connection out of full
// explanation: the summary then describes the shapes.
func (b *shapeBook) big() bool { return b.compacted > 0 }

// byCount lists the shapes, most frequent first, ties in order of first
// appearance.
func (b *shapeBook) byCount() []*shapeGroup {
	gs := slices.Clone(b.order)
	slices.SortStableFunc(gs, func(x, y *shapeGroup) int {
		switch {
		case x.count > y.count:
			return -1
		case x.count < y.count:
			return 1
		}
		return 0
	})
	return gs
}
