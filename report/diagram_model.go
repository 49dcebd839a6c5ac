package report

import (
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// This file holds what the terminal diagram and the HTML report share: a
// per-connection buffer of steps, kept until the connection ends (a
// decode.Tracker reuses its Step and Connection values), and the layout of
// a connection as rows, one per segment or call, in time order.

// seqStep is a copy of what a decode.Step said. It embeds textStep so that
// the text report's sentences (Text.why) can explain it unchanged; the rest
// is what a diagram shows on hover.
type seqStep struct {
	textStep
	index    int    // the segment's number in its connection, from 1
	seq, ack uint32 // absolute
	window   uint16
}

// anchor ties a call that carries no time (an inferred listen() or
// accept()) to the step that implied it, because the tracker reports such
// calls with zero times and sorts them first.
type anchor struct {
	side   calls.Side
	call   calls.Call
	detail string
	step   int // index in seqConn.steps
	used   bool
}

// seqConn is one connection's buffer.
type seqConn struct {
	steps   []seqStep
	omitted int // data and ACK segments not kept, past the bound
	cut     int // segments not kept although marked (SYN, FIN, RST, a state change)
	synRtx  int // SYN retransmissions so far
	ncalls  int // len(c.Calls) at the last step, to notice new calls
	anchors []anchor
	shape   shapeSig
}

// recorder buffers steps per connection, bounded per connection as Text
// bounds its own, and in all: a capture with tens of thousands of
// long-lived connections open at once keeps only the steps that change a
// state once the total is reached.
type recorder struct {
	max     int
	total   int // steps buffered across connections
	pending map[int]*seqConn
	// free holds buffers handed back by release, their slices emptied
	// but kept: a connection summarised in a line costs no allocation.
	free []*seqConn
}

// maxFree bounds the buffers kept for reuse.
const maxFree = 64

// maxBuffered bounds the steps buffered across all open connections
// (a step is about 200 bytes): with a hundred thousand connections open at
// once, past it each keeps only the steps that matter most.
const maxBuffered = 1 << 16

func newRecorder(max int) recorder {
	if max <= 0 {
		max = 200
	}
	return recorder{max: max, pending: make(map[int]*seqConn)}
}

// segment copies what a step says.
func (r *recorder) segment(c *decode.Connection, st *decode.Step) {
	sc := r.pending[c.ID]
	if sc == nil {
		if n := len(r.free); n > 0 {
			sc, r.free = r.free[n-1], r.free[:n-1]
		} else {
			sc = &seqConn{}
		}
		r.pending[c.ID] = sc
	}
	sc.shape.add(st)
	s := st.Segment
	max := r.max
	if r.total >= maxBuffered {
		max = 0 // past the total, only marked steps, and few of them
	}
	ts := makeTextStep(st)
	if ts.kind == decode.StepSYNRetransmit {
		sc.synRtx++
		ts.synNo = sc.synRtx
	}
	switch keepStep(len(sc.steps), max, st) {
	case stepOmitted:
		sc.omitted++
	case stepCut:
		sc.cut++
	default:
		sc.steps = append(sc.steps, seqStep{
			textStep: ts,
			index:    st.Index, seq: s.Seq, ack: s.Ack, window: s.Window,
		})
		r.total++
	}
	// Calls added since the last step were added by this one (inferred)
	// or arrived meanwhile (observed, with times of their own).
	if sc.ncalls > len(c.Calls) {
		sc.ncalls = len(c.Calls)
	}
	for i := sc.ncalls; i < len(c.Calls); i++ {
		ev := &c.Calls[i]
		if ev.Enter.IsZero() && ev.Exit.IsZero() && len(sc.steps) > 0 && len(sc.anchors) < 64 {
			sc.anchors = append(sc.anchors, anchor{side: ev.Side, call: ev.Call, detail: ev.Detail, step: len(sc.steps) - 1})
		}
	}
	sc.ncalls = len(c.Calls)
}

// take removes and returns the connection's buffer.
func (r *recorder) take(c *decode.Connection) *seqConn {
	sc := r.pending[c.ID]
	delete(r.pending, c.ID)
	if sc == nil {
		return &seqConn{}
	}
	r.total -= len(sc.steps)
	return sc
}

// release hands back a buffer take returned, once nothing refers to it.
func (r *recorder) release(sc *seqConn) {
	if len(r.free) >= maxFree || cap(sc.steps) > 4*r.max {
		return
	}
	clear(sc.steps) // the steps' slices (states passed) go
	*sc = seqConn{steps: sc.steps[:0], anchors: sc.anchors[:0]}
	r.free = append(r.free, sc)
}

// rowKind says what a row of a diagram shows.
type rowKind uint8

const (
	rowSegment rowKind = iota
	rowCall            // a call that returned at once, or whose return is not known
	rowEnter           // a blocking call enters
	rowExit            // a blocking call returns
)

// row is one line of a diagram: a segment, or a call on one side.
type row struct {
	kind rowKind
	at   time.Time
	pri  int // orders rows at the same time: a call enters, the segment, a call returns
	n    int // insertion order, the last tie-break
	step int // index in steps, for segments
	call int // index in the calls slice, for calls
	side decode.Side
}

// maxCalls bounds the calls drawn per connection; a traced program can make
// many reads and writes.
const maxCalls = 200

// layout puts a connection's segments and calls in one time order.
//
// A call that has both an enter and an exit time gets two rows, with the
// rows between them drawn as the call blocking, when anything happened in
// between (connect() spans the handshake; a quick close() is one row).
// A call without a time is placed just after the step that implied it
// (accept() can return once the handshake's last ACK is in), except
// listen(), which goes first: the server listened before any SYN came.
func layout(c *decode.Connection, sc *seqConn, cs []calls.Event) []row {
	rows := make([]row, 0, len(sc.steps)+2*len(cs))
	add := func(r row) {
		r.n = len(rows)
		rows = append(rows, r)
	}
	for i := range sc.steps {
		add(row{kind: rowSegment, at: sc.steps[i].time, pri: 1, step: i})
	}
	for i := range cs {
		ev := &cs[i]
		side := sideOf(c, ev)
		switch {
		case isCompletion(ev):
			// A non-blocking connect()'s end: one row where the tracer
			// saw it, under the call that returned EINPROGRESS.
			add(row{kind: rowCall, at: completionTime(cs, ev), pri: 3, call: i, side: side})
		case !ev.Enter.IsZero() && !ev.Exit.IsZero():
			add(row{kind: rowEnter, at: ev.Enter, pri: 0, call: i, side: side})
			add(row{kind: rowExit, at: ev.Exit, pri: 2, call: i, side: side})
		case !ev.Enter.IsZero():
			add(row{kind: rowCall, at: ev.Enter, pri: 0, call: i, side: side})
		case !ev.Exit.IsZero():
			add(row{kind: rowCall, at: ev.Exit, pri: 2, call: i, side: side})
		default:
			r := row{kind: rowCall, at: c.Start, pri: -1, call: i, side: side}
			if a := sc.findAnchor(ev); a >= 0 && ev.Call != calls.Listen {
				r.at = sc.steps[a].time
				r.pri = 2
			}
			add(r)
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		if a.pri != b.pri {
			return a.pri - b.pri
		}
		return a.n - b.n
	})
	// A blocking call whose return follows its entry directly did not
	// block across anything: draw it as one row.
	out := rows[:0]
	for i := 0; i < len(rows); i++ {
		r := rows[i]
		if r.kind == rowEnter && i+1 < len(rows) && rows[i+1].kind == rowExit && rows[i+1].call == r.call {
			r.kind = rowCall
			i++
		}
		out = append(out, r)
	}
	return out
}

// findAnchor returns the step a timeless call belongs to, or -1.
func (sc *seqConn) findAnchor(ev *calls.Event) int {
	for i := range sc.anchors {
		a := &sc.anchors[i]
		if !a.used && a.side == ev.Side && a.call == ev.Call && a.detail == ev.Detail {
			a.used = true
			return a.step
		}
	}
	return -1
}

// timeOrigin is the time a diagram's offsets count from: the connection's first
// segment, or an earlier call (a live run's socket() and listen() come
// before any packet).
func timeOrigin(c *decode.Connection, cs []calls.Event) time.Time {
	o := c.Start
	for i := range cs {
		for _, t := range [...]time.Time{cs[i].Enter, cs[i].Exit} {
			if !t.IsZero() && (o.IsZero() || t.Before(o)) {
				o = t
			}
		}
	}
	return o
}

// initialState is the state to show for a side above its first row: the
// state before the first segment, or LISTEN for a server the capture only
// shows answering.
func initialState(c *decode.Connection, steps []seqStep, side decode.Side) (decode.State, bool) {
	if len(steps) > 0 && steps[0].before[side] != decode.Unknown {
		return steps[0].before[side], true
	}
	if st := c.States(side); len(st) > 0 && st[0] == decode.Listen {
		return decode.Listen, true
	}
	return decode.Unknown, false
}

// copyCalls copies the connection's calls, at most maxCalls of them: the
// Tracker reuses c.Calls after Ended returns.
func copyCalls(c *decode.Connection) (cs []calls.Event, omitted int) {
	n := len(c.Calls)
	omitted = c.CallsOmitted // not even kept by the tracker
	if n > maxCalls {
		omitted += n - maxCalls
		n = maxCalls
	}
	return append([]calls.Event(nil), c.Calls[:n]...), omitted
}

// addrText writes an endpoint for people ("[::1]:80" for IPv6).
func addrText(a netip.AddrPort) string {
	if !a.IsValid() {
		return "?"
	}
	return a.String()
}

// callState is the state a call puts its socket in, for the calls whose
// effect no segment shows: socket() makes a CLOSED socket, listen() a
// LISTEN one. Only observed calls count; an inferred listen() is the
// segments' guess, shown by the initial state instead.
func callState(ev *calls.Event) (decode.State, bool) {
	if ev.Inferred || ev.Errno != 0 {
		return decode.Unknown, false
	}
	switch ev.Call {
	case calls.Socket:
		return decode.Closed, true
	case calls.Listen:
		return decode.Listen, true
	}
	return decode.Unknown, false
}

// initialStates are the states to show above the first row, for the sides
// whose calls do not show them.
func initialStates(c *decode.Connection, steps []seqStep, cs []calls.Event) [2]string {
	var shown [2]bool
	for i := range cs {
		if _, ok := callState(&cs[i]); ok {
			shown[sideOf(c, &cs[i])] = true
		}
	}
	var init [2]string
	for _, side := range [...]decode.Side{decode.Client, decode.Server} {
		if c.SelfConnect && side == decode.Server || shown[side] {
			continue
		}
		if s, ok := initialState(c, steps, side); ok {
			init[side] = s.String()
		}
	}
	return init
}

// shortResult is what a call returned, in the fewest columns: "→ 7",
// "→ ECONNREFUSED", with arrow in front.
func shortResult(ev *calls.Event, arrow string) string {
	if ev.Errno != 0 {
		return arrow + " " + errnoName(ev.Errno)
	}
	return arrow + " " + strconv.Itoa(ev.Result)
}
