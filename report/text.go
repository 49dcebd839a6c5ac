package report

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/socktrace/socktrace/calls"
	"time"

	"github.com/socktrace/socktrace/decode"
)

// TextOptions tune the text report.
type TextOptions struct {
	Lang Lang
	// Ephemeral is the ephemeral port range of the host that captured,
	// used to explain client ports. Zero means it is not known (a file
	// from another machine): the text then quotes Linux's default,
	// 32768–60999, as a default, not as a fact about the capture.
	Ephemeral [2]int
	// MaxSteps bounds the segment lines kept per connection; past it only
	// segments that change a state, or carry FIN or RST, are shown.
	// Zero means 200.
	MaxSteps int
	// Width is the number of columns lines are kept to; zero means 100.
	// Below 80 the columns cannot be kept: it is raised to 80.
	Width int
	// Stream writes each segment as it comes, tagged with its
	// connection's number, and each connection's summary when it ends,
	// instead of one block per connection (for watching live traffic).
	// Under ExplainAuto only the first connections stream; later ones
	// are written when they end, by the shape rule.
	Stream bool
	// Explain says which connections are explained in full (shape.go).
	Explain Explain
}

// Text writes the explained timeline: one block per connection, written
// when the connection ends, then a summary.
type Text struct {
	w            *bufio.Writer
	opt          TextOptions
	pending      map[int]*textConn
	spare        []*textConn // ended connections' buffers, for reuse
	lastFlush    time.Time
	sinceFlush   int             // lines since the clock was last read
	fmtBuf       []byte          // reused by m
	whyBuf       []byte          // the explanation being built, reused
	explained    map[uint16]bool // streaming: server ports already explained
	prefaced     bool
	kinds        map[string]int // connection kinds, for the summary
	kindKeys     map[connKind]string
	order        []string
	tag          string     // in streaming mode, the connection's number before each line
	current      []textStep // the steps of the connection being written
	self         bool       // the connection being written is a self-connect
	loose        []calls.Event
	looseOmitted int // calls on no connection past the 1000 kept in loose
	// timeWaits holds the addresses that entered TIME_WAIT and when
	// (lessons.go), to explain a later bind() to one of them.
	timeWaits map[netip.AddrPort]time.Time
	// The datagram timeline (datagrams.go).
	dgrams        []dgramRec
	udpCalls      []calls.Event
	udpSocks      map[udpSock]bool
	dgramsOmitted int
	// listening holds the ports of listeners seen calling listen(), so
	// that later connections to them do not call it inferred.
	listening map[uint16]bool
	cols      stepColumns    // of the connection being written
	hostRange bool           // opt.Ephemeral is the capturing host's range
	told      map[msgID]bool // notes given once a report (once)
	// origin is the earliest time of any connection so far (its first
	// call or segment), and originConn that connection's number: the
	// clock of the calls on no connection.
	origin     time.Time
	originConn int
	buffered   int        // steps kept across pending connections
	lastFirst  int        // the shape's first connection, for the last one ended compact
	book       *shapeBook // the shape rule
	seen       int64      // connections begun
	shownFor   notability // why the connection being written is explained in full
	sideNames  [3]string  // for --explain none
	err        error
}

// textStep is a copy of what a decode.Step said, kept until the
// connection's block is written.
type textStep struct {
	time           time.Time
	from           decode.Side
	flags          decode.Flags
	relSeq, relAck uint32
	len, captured  int
	before, after  [2]decode.State
	passed         [2][]decode.State
	kind           decode.StepKind
	synNo          int // for a SYN retransmission: how many so far, this one included
	opts           decode.Options
	// raw is the start of the payload, one byte past what a preview
	// shows so that Preview marks the cut: kept as bytes, so that a step
	// costs no allocation, and made readable only when it is shown.
	raw       [previewBytes + 1]byte
	rawN      uint8
	truncated bool
	win       uint16 // the window field as sent, not scaled
	reordered bool   // captured out of the wire's order
	probes    uint8  // a RST's unanswered keep-alive probes just before it
	heldFIN   bool   // acknowledges a crossing FIN whose sender's move waits (decode.Step.HeldFIN)
	fragments int    // IP fragments it arrived in
	ecn       uint8  // the IP header's ECN field (decode.CE: marked)
	// offload: payload longer than the path's MSS (a TSO/GSO/GRO
	// super-segment); offloadFirst: the connection's first.
	offload, offloadFirst bool
	dsack, dsackSpurious  bool
	ackedUnseen           uint32 // bytes its ACK acknowledged that the capture never saw
	absAck                uint32 // the ACK number on the wire: SACK edges count from it
}

// connKind is how a connection opened and closed: the summary counts
// connections by it.
type connKind struct {
	h decode.Handshake
	c decode.CloseKind
}

type textConn struct {
	steps   []textStep
	omitted int // data and ACK segments past MaxSteps
	// cut counts segments not kept although they carry SYN, FIN or RST
	// or change a state: past the hard bound on a connection's steps.
	cut    int
	synRtx int // SYN retransmissions so far, kept or not
	sig    shapeSig
	live   bool // streamed as its segments came
}

// NewText returns a text report on w.
func NewText(w io.Writer, opt TextOptions) *Text {
	if opt.Lang == "" {
		opt.Lang = English
	}
	hostRange := opt.Ephemeral != [2]int{}
	if !hostRange {
		opt.Ephemeral = [2]int{32768, 60999}
	}
	if opt.MaxSteps == 0 {
		opt.MaxSteps = 200
	}
	switch {
	case opt.Width == 0:
		opt.Width = 100
	case opt.Width < 80:
		opt.Width = 80
	}
	return &Text{w: bufio.NewWriter(w), opt: opt, hostRange: hostRange, pending: make(map[int]*textConn), kinds: make(map[string]int),
		book: newShapeBook(opt.Explain)}
}

// width is the number of columns the report keeps to.
func (t *Text) width() int { return t.opt.Width }

func (t *Text) m(id msgID, args ...any) string {
	t.fmtBuf = appendFormat(t.fmtBuf[:0], msg(t.opt.Lang, id), args...)
	return string(t.fmtBuf)
}

// Segment implements decode.Handler.
func (t *Text) Segment(c *decode.Connection, st *decode.Step) {
	tc := t.pending[c.ID]
	if tc == nil {
		tc = t.newTextConn()
		t.pending[c.ID] = tc
		t.seen++
		tc.live = t.opt.Stream && t.opt.Explain != ExplainNone &&
			(t.opt.Explain == ExplainAll || t.seen <= smallReport)
		if tc.live {
			t.writeHeader(c)
		}
	}
	tc.sig.add(st)
	if t.opt.Explain == ExplainNone {
		t.writeSegmentLine(c, st)
		if t.opt.Stream {
			t.flushSoon()
		}
		return
	}
	if tc.live {
		t.streamStep(c, tc, st)
		return
	}
	ts := makeTextStep(st)
	if ts.kind == decode.StepSYNRetransmit {
		tc.synRtx++
		ts.synNo = tc.synRtx
	}
	max := t.opt.MaxSteps
	if t.buffered >= maxBuffered {
		max = 0 // past the total, only marked steps, as the diagram's recorder
	}
	switch keepStep(len(tc.steps), max, st) {
	case stepOmitted:
		tc.omitted++
	case stepCut:
		tc.cut++
	default:
		tc.steps = append(tc.steps, ts)
		t.buffered++
	}
}

// What becomes of a step past a connection's bounds.
const (
	stepKept    = iota
	stepOmitted // a data or ACK segment past MaxSteps
	stepCut     // any segment past the hard bound
)

// maxMarkedSteps bounds, past MaxSteps, the steps still kept because they
// carry SYN, FIN or RST or change a state: a million RSTs on one
// connection must not grow its buffer (nor the report) without limit.
const maxMarkedSteps = 300

// keepStep decides whether the step that would be a connection's n-th
// kept one is kept.
func keepStep(n, max int, st *decode.Step) int {
	if n < max {
		return stepKept
	}
	important := st.Changed(decode.Client) || st.Changed(decode.Server) ||
		st.Segment.Flags&(decode.SYN|decode.FIN|decode.RST) != 0
	switch {
	case !important:
		return stepOmitted
	case n < max+maxMarkedSteps:
		return stepKept
	}
	return stepCut
}

// streamStep writes a step as it comes. It keeps only what later lines
// refer to (the first step, for times, and the SYNs, to count
// retransmissions), so that a storm of connections costs little memory.
func (t *Text) streamStep(c *decode.Connection, tc *textConn, st *decode.Step) {
	ts := makeTextStep(st)
	if ts.kind == decode.StepSYNRetransmit {
		tc.synRtx++
		ts.synNo = tc.synRtx
	}
	// The first SYNs are kept for the handshake's sentences; a SYN flood
	// on one 4-tuple keeps no more.
	if len(tc.steps) == 0 || len(tc.steps) < 8 && (ts.kind == decode.StepSYN || ts.kind == decode.StepSYNRetransmit) {
		tc.steps = append(tc.steps, ts)
	}
	t.current, t.self = tc.steps, c.SelfConnect
	// Padded, so that #9 and #10 start their columns at the same place.
	t.tag = string(appendPadded([]byte("#"+strconv.Itoa(c.ID)), "", 7))
	t.cols = t.defaultColumns()
	t.writeStep(c, &ts, c.Start, tc.steps[0].time)
	t.self, t.tag = false, ""
	t.flushSoon()
}

// Flush pushes buffered output out. A live report calls it on a timer, so
// that lines show within a moment even when traffic stops.
func (t *Text) Flush() {
	if err := t.w.Flush(); err != nil && t.err == nil {
		t.err = err
	}
	t.lastFlush = time.Now()
}

// flushSoon flushes a streaming report at most every 50 ms: a write per
// line would cost more than the line, and a storm of connections would
// then outrun the capture.
func (t *Text) flushSoon() {
	// Reading the clock costs more than a line: look every 32 lines, and
	// let the caller's timer (Flush) cover a quiet moment.
	if t.sinceFlush++; t.sinceFlush%32 != 0 {
		return
	}
	if now := time.Now(); now.Sub(t.lastFlush) >= 50*time.Millisecond {
		t.Flush()
	}
}

// Ended implements decode.Handler: it writes the connection's block.
func (t *Text) Ended(c *decode.Connection) {
	tc := t.pending[c.ID]
	delete(t.pending, c.ID)
	if tc == nil {
		tc = t.newTextConn()
	}
	if !tc.live {
		t.buffered -= len(tc.steps)
	}
	defer t.recycle(tc)
	t.tally(c)
	if t.opt.Explain == ExplainNone {
		return
	}
	full, marks := t.endShaped(c, &tc.sig)
	if tc.live {
		t.self = c.SelfConnect
		t.printf("%s\n", t.m("conn.ended", c.ID))
		t.writeConnSummary(c)
		t.printf("\n")
		t.self = false
		t.flushSoon()
		return
	}
	if full {
		if t.book.ended > smallReport {
			t.shownFor = marks
		}
		t.writeConnection(c, tc)
		t.shownFor = 0
		t.flushSoon()
	}
}

// tally notes what the totals and the calls on no connection need of c,
// which ended: its listeners, its start, its kind.
func (t *Text) tally(c *decode.Connection) {
	t.noteListeners(c.Calls)
	if c.Evicted {
		return // its last part is counted: a later one resumes it, or the totals count it evicted
	}
	if o := timeOrigin(c, c.Calls); !o.IsZero() && (t.origin.IsZero() || o.Before(t.origin)) {
		t.origin, t.originConn = o, c.ID
	}
	// The key's text is made once per kind, not once per connection.
	kk := connKind{c.Handshake(), c.CloseKind()}
	key, ok := t.kindKeys[kk]
	if !ok {
		key = kk.h.String() + "/" + kk.c.String()
		if t.kindKeys == nil {
			t.kindKeys = make(map[connKind]string)
		}
		t.kindKeys[kk] = key
	}
	if t.kinds[key] == 0 {
		t.order = append(t.order, key)
	}
	t.kinds[key]++
}

// noteListeners remembers the ports of the observed, successful listen()
// calls among cs.
func (t *Text) noteListeners(cs []calls.Event) {
	for i := range cs {
		ev := &cs[i]
		if ev.Call != calls.Listen || ev.Inferred || ev.Errno != 0 || !ev.Local.IsValid() {
			continue
		}
		if t.listening == nil {
			t.listening = make(map[uint16]bool)
		}
		if len(t.listening) < 1024 {
			t.listening[ev.Local.Port()] = true
		}
	}
}

func (t *Text) newTextConn() *textConn {
	if n := len(t.spare); n > 0 {
		tc := t.spare[n-1]
		t.spare = t.spare[:n-1]
		return tc
	}
	return &textConn{}
}

// recycle keeps an ended connection's step buffer for the next one, unless
// it grew unusually large.
func (t *Text) recycle(tc *textConn) {
	if cap(tc.steps) > 4*t.opt.MaxSteps || len(t.spare) >= 64 {
		return
	}
	clear(tc.steps)
	tc.steps, tc.omitted, tc.cut, tc.synRtx = tc.steps[:0], 0, 0, 0
	tc.sig, tc.live = shapeSig{}, false
	t.spare = append(t.spare, tc)
}

func (t *Text) printf(format string, args ...any) {
	if t.err == nil {
		_, t.err = fmt.Fprintf(t.w, format, args...)
	}
}

func (t *Text) writeConnection(c *decode.Connection, tc *textConn) {
	if !t.prefaced {
		t.prefaced = true
		t.printf("%s\n%s\n%s\n%s\n\n",
			t.wrap(t.prefacePorts(), 0),
			t.wrap(t.m("preface.socket"), 0),
			t.wrap(t.m("preface.flows"), 0),
			t.wrap(t.m("preface.numbers"), 0))
	}
	t.writeHeader(c)
	if c.Scenario != "" {
		t.printf("  %s\n", t.wrapRest(t.m("conn.scenario", c.Scenario), 4))
	}
	if t.shownFor != 0 {
		t.printf("  %s\n", t.m("shape.why", t.notableText(t.shownFor)))
	}
	t.printf("\n")
	start := timeOrigin(c, c.Calls) // the first call, when one came before the first segment
	t.current = tc.steps
	t.self = c.SelfConnect
	defer func() { t.self = false }()
	var first time.Time
	if len(tc.steps) > 0 {
		first = tc.steps[0].time
	}
	es := timeline(c, tc.steps)
	t.cols = t.columns(es, start)
	for _, e := range es {
		if e.step != nil {
			t.writeStep(c, e.step, start, first)
		} else {
			t.writeCall(c, &e, start)
		}
	}
	t.writeOmitted(tc.omitted, tc.cut, c.CallsOmitted)
	t.writeConnSummary(c)
	t.printf("\n")
}

// writeHeader introduces a connection: its endpoints and what their port
// numbers mean.
func (t *Text) writeHeader(c *decode.Connection) {
	t.printf("%s\n", t.m("conn.header", c.ID, c.Client, c.Server))
	for _, line := range tunnelLines(t, c) {
		t.printf("  %s\n", line)
	}
	if t.opt.Stream {
		// A live view of many connections explains a server port once:
		// the next connections to it only name their endpoints.
		if t.explained == nil {
			t.explained = make(map[uint16]bool)
		}
		if t.explained[c.Server.Port()] || len(t.explained) >= 1024 {
			return
		}
		t.explained[c.Server.Port()] = true
	}
	if c.SelfConnect {
		t.printf("  %s\n", t.wrapRest(t.m("conn.self")+"; "+t.portText(c.Client.Port(), false), 2))
	} else {
		// The labels are padded by display width: Korean takes two
		// columns a character.
		lw := max(cells(t.m("side.client")), cells(t.m("side.server"))) + 1
		t.printf("  %s %s\n", padRight(t.m("side.client"), lw), t.wrapRest(t.portText(c.Client.Port(), true), lw+3))
		t.printf("  %s %s\n", padRight(t.m("side.server"), lw), t.wrapRest(t.portText(c.Server.Port(), false), lw+3))
	}
	if c.RolesGuessed {
		t.printf("  %s\n", t.wrapRest(t.m("conn.roles.guess"), 4))
	}
}

// prefacePorts is the preface's sentence on ports: the ephemeral range of
// the capturing host when it is known, else Linux's default, said to be a
// default.
func (t *Text) prefacePorts() string {
	if !t.hostRange {
		return t.m("preface.ports.default", t.opt.Ephemeral[0], t.opt.Ephemeral[1])
	}
	return t.m("preface.ports", t.opt.Ephemeral[0], t.opt.Ephemeral[1])
}

// portText explains a port number the way the seed note does.
func (t *Text) portText(port uint16, client bool) string {
	p := int(port)
	svc := serviceName(port)
	if t.opt.Lang == Korean && koreanServices[port] != "" {
		svc = koreanServices[port]
	}
	switch {
	case p < 1024:
		if svc != "" {
			return t.m("port.wellknown", p, svc)
		}
		return t.m("port.wellknown.ns", p)
	case client && p >= t.opt.Ephemeral[0] && p <= t.opt.Ephemeral[1] && !t.hostRange:
		return t.m("port.ephemeral.default", p, t.opt.Ephemeral[0], t.opt.Ephemeral[1])
	case client && p >= t.opt.Ephemeral[0] && p <= t.opt.Ephemeral[1]:
		return t.m("port.ephemeral", p, t.opt.Ephemeral[0], t.opt.Ephemeral[1])
	case p < 49152:
		extra := ""
		if svc != "" {
			extra = t.m("port.service", svc)
		}
		return t.m("port.registered", p, extra)
	}
	return t.m("port.dynamic", p)
}

func (t *Text) side(s decode.Side) string {
	if t.self {
		return t.m("side.self")
	}
	if s == decode.Client {
		return t.m("side.client")
	}
	return t.m("side.server")
}

func (t *Text) sides(s decode.Sides) string {
	switch s {
	case decode.ClientSide:
		return t.m("side.client")
	case decode.ServerSide:
		return t.m("side.server")
	}
	return t.m("side.both")
}

func (t *Text) writeStep(c *decode.Connection, st *textStep, start, first time.Time) {
	dir := t.m("dir.c2s")
	switch {
	case c.SelfConnect:
		dir = t.m("dir.self")
	case st.from == decode.Server:
		dir = t.m("dir.s2c")
	}
	var numBuf [48]byte
	nums := string(st.appendNumbers(numBuf[:0]))
	var changes []string
	for _, side := range [...]decode.Side{decode.Client, decode.Server} {
		if c.SelfConnect && side == decode.Server {
			break
		}
		if st.before[side] != st.after[side] {
			changes = append(changes, t.stateChange(c, st, side))
		}
	}
	// The columns: time, direction, flags, numbers, each as wide as the
	// connection's widest (t.cols), then the state changes.
	b := t.w.AvailableBuffer()
	b = append(b, t.tagOr("  ")...)
	b = appendPadded(b, offset(st.time.Sub(start)), t.cols.time)
	b = append(b, "  "...)
	b = appendPadded(b, dir, t.cols.dir)
	b = append(b, "  "...)
	b = appendPadded(b, st.flags.String(), t.cols.flags)
	b = append(b, "  "...)
	b = appendPadded(b, nums, t.cols.nums)
	b = append(b, ' ')
	stateCol := cells(string(b))
	all := strings.Join(changes, ", ")
	switch {
	case len(changes) == 0:
	case stateCol+cells(all) <= t.width():
		b = append(b, all...)
	default:
		// One change a line in the state column while they fit there,
		// else all of them under the explanation's margin.
		fits := true
		for _, ch := range changes {
			fits = fits && stateCol+cells(ch)+1 <= t.width()
		}
		if !fits {
			b = trimSpaces(b)
			b = append(b, "\n              "...)
			b = appendWrapped(b, all, 14, 14, t.width())
			break
		}
		for i, ch := range changes {
			if i > 0 {
				b = append(b, '\n')
				b = appendPadded(b, "", stateCol)
			}
			b = append(b, ch...)
			if i < len(changes)-1 {
				b = append(b, ',')
			}
		}
	}
	b = trimSpaces(b)
	if t.err == nil {
		_, t.err = t.w.Write(append(b, '\n'))
	}
	t.writeWrapped(t.explain(c, st, first), 14)
}

// trimSpaces drops the spaces that end b.
func trimSpaces(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == ' ' {
		b = b[:len(b)-1]
	}
	return b
}

// stepColumns are the widths of a segment line's columns.
type stepColumns struct{ time, dir, flags, nums int }

// defaultColumns fit most connections: offsets under 10 s, the usual
// flags (FIN-PSH-ACK), numbers under ten million.
func (t *Text) defaultColumns() stepColumns {
	return stepColumns{
		time:  9,
		dir:   max(cells(t.m("dir.c2s")), cells(t.m("dir.s2c")), cells(t.m("dir.self"))),
		flags: 11,
		nums:  26,
	}
}

// columns fits the columns to every line of a connection, so that a long
// flag name or a large time does not shift the columns of the lines after
// it, and short ones leave room for the state changes.
func (t *Text) columns(es []entry, start time.Time) stepColumns {
	cols := t.defaultColumns()
	cols.flags, cols.nums = 7, 0
	var nb [64]byte
	for i := range es {
		cols.time = max(cols.time, len(offset(es[i].at.Sub(start))))
		if st := es[i].step; st != nil {
			cols.flags = max(cols.flags, len(st.flags.String()))
			cols.nums = max(cols.nums, len(st.appendNumbers(nb[:0])))
		}
	}
	return cols
}

// stateChange says how a side's state changed with a step: "client
// FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT" when one segment moved it twice.
func (t *Text) stateChange(c *decode.Connection, st *textStep, side decode.Side) string {
	if st.before[side] == decode.Unknown {
		switch {
		case st.kind == decode.StepSYNACK:
			// A listening server shows no state until it answers; its
			// SYN-ACK shows it was listening.
			return t.m("state.change", t.side(side), decode.Listen, st.after[side])
		case st.kind == decode.StepRefused:
			return t.m("state.nosocket", t.side(side), st.after[side])
		}
	}
	path := st.before[side].String()
	if st.before[side] == decode.Unknown {
		path = "?"
	}
	if len(st.passed[side]) > 1 {
		for _, s := range st.passed[side][:len(st.passed[side])-1] {
			path += " → " + s.String()
		}
	}
	return t.m("state.change", t.side(side), path, st.after[side])
}

// tagOr is the connection tag of a streamed line, or def.
func (t *Text) tagOr(def string) string {
	if t.tag != "" {
		return t.tag
	}
	return def
}

// writeWrapped writes an explanation: indented, wrapped at the report's
// width.
func (t *Text) writeWrapped(s string, indent int) {
	if t.err != nil {
		return
	}
	b := t.w.AvailableBuffer()
	for range indent {
		b = append(b, ' ')
	}
	b = appendWrapped(b, s, indent, indent, t.width())
	b = append(b, '\n')
	_, t.err = t.w.Write(b)
}

// appendPadded appends s padded with spaces to width columns, as %-*s.
func appendPadded(b []byte, s string, width int) []byte {
	b = append(b, s...)
	for n := cells(s); n < width; n++ {
		b = append(b, ' ')
	}
	return b
}

// makeTextStep copies what the reports keep of a step: the tracker reuses
// the Step and the packet's bytes.
func makeTextStep(st *decode.Step) textStep {
	s := st.Segment
	ts := textStep{
		time: s.Time, from: st.From, flags: s.Flags, relSeq: st.RelSeq, relAck: st.RelAck,
		len: s.Len, captured: len(s.Payload), before: st.Before, after: st.After,
		kind: st.Kind, opts: s.Options, truncated: s.Truncated,
		win: s.Window, reordered: st.Reordered, probes: st.Probes, heldFIN: st.HeldFIN, fragments: s.Fragments, ecn: s.ECN,
		offload: st.Offload, offloadFirst: st.OffloadFirst, dsack: st.DSACK, dsackSpurious: st.DSACKSpurious,
		ackedUnseen: st.AckedUnseen, absAck: s.Ack,
	}
	for side := range ts.passed {
		if len(st.Passed[side]) > 1 {
			ts.passed[side] = slices.Clone(st.Passed[side])
		}
	}
	ts.rawN = uint8(copy(ts.raw[:], s.Payload))
	return ts
}

// previewBytes is how much payload a preview shows.
const previewBytes = 40

// hasPreview reports whether the step carries payload to show.
func (st *textStep) hasPreview() bool { return st.rawN > 0 }

// preview is the step's payload for people (Preview), or "" when it
// carries none.
func (st *textStep) preview() string {
	if st.rawN == 0 {
		return ""
	}
	return Preview(st.raw[:st.rawN], previewBytes)
}

// explain is the whole explanation of a step: why it happened, then its
// payload and what the snap length cut.
func (t *Text) explain(c *decode.Connection, st *textStep, first time.Time) string {
	t.buildWhy(c, st, first)
	if st.hasPreview() {
		t.whyBuf = append(t.whyBuf, ' ')
		t.put("payload", st.preview())
	}
	switch {
	case st.truncated && st.len == 0:
		t.whyBuf = append(t.whyBuf, ' ')
		t.put("truncated.options")
	case st.truncated:
		t.whyBuf = append(t.whyBuf, ' ')
		t.put("truncated", st.captured, st.len)
	}
	return string(t.whyBuf)
}

// appendNumbers appends a segment's relative numbers as the reports show
// them: "seq=1 ack=23 len=0" (no ack without the ACK flag).
func (st *textStep) appendNumbers(b []byte) []byte {
	b = append(b, "seq="...)
	b = strconv.AppendUint(b, uint64(st.relSeq), 10)
	if st.flags&decode.ACK != 0 {
		b = append(b, " ack="...)
		b = strconv.AppendUint(b, uint64(st.relAck), 10)
	}
	b = append(b, " len="...)
	return strconv.AppendInt(b, int64(st.len), 10)
}

// writeOmitted says what a connection's block left out: data and ACK
// segments past MaxSteps, any segment past the hard bound, calls past the
// tracker's bound.
func (t *Text) writeOmitted(omitted, cut, callsOmitted int) {
	if omitted > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("more.segments", omitted), 4))
	}
	if cut > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("more.segments.cut", cut), 4))
	}
	if callsOmitted > 0 {
		t.printf("  %s\n", t.wrapRest(t.m("more.calls", callsOmitted), 4))
	}
}
