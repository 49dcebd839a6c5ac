package report

import (
	"io"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// BatchJSON is the JSON report a replay writes: the tracker's calls copy
// what each line will say into a batch, and a full batch is formatted and
// written at once, on the same goroutine. Tracking a thousand segments and
// then formatting a thousand lines keeps each loop's code and data in the
// caches: it costs less CPU than formatting each line as it comes (JSON),
// and less than formatting the batches on a goroutine of their own, which
// on a 2-core machine bought wall time with 10 % more CPU (hand-offs,
// wake-ups, the two sides' caches; docs/performance.md, issue 14). The
// output is byte for byte that of JSON. Lines appear a batch at a time:
// for live output, where each line should show as it happens, use JSON.
type BatchJSON struct {
	j *JSON
	b jsonBatch
	// spare are calls lists already written, for connections whose own
	// list a batch took (Ended): the lists go round between the
	// connections and the batch instead of being copied.
	spare [][]calls.Event
	// copyCalls is set when another report shares the connections
	// (Tee): their calls are then copied, not taken.
	copyCalls bool
}

// batchItems is how many lines a batch holds: enough that the tracker's
// and the writer's loops each run long, few enough that a batch stays in
// cache.
const batchItems = 1024

// batchEvents is how many connections' calls a batch holds before it is
// written, whatever its number of lines: a batch of 1024 segment lines
// carries about 100 connections' calls, but when the input ends thousands
// of connections end at once, and their calls (about 1 KB each) would
// grow the batch to megabytes.
const batchEvents = 2048

// maxSpareCalls bounds the spare calls lists kept, and maxSpareCap the
// room of one: a connection with hundreds of calls does not lend its list
// to every connection after it (the tracker's own rule, Connection.reset,
// keeps at most 64).
const (
	maxSpareCalls = 256
	maxSpareCap   = 16
)

type itemKind uint8

const (
	itemSegment itemKind = iota
	itemConnection
	itemCall
	itemDatagram
)

type jsonItem struct {
	kind itemKind
	i    int // index into the batch's slice of that kind
}

type callRec struct {
	id int // the connection's; 0 for none
	ev calls.Event
}

// jsonBatch holds lines to write, in order. Its slices are reused from
// batch to batch, so a steady replay allocates nothing.
type jsonBatch struct {
	items  []jsonItem
	segs   []segRec
	conns  []connRec
	calls  []callRec
	dgrams []dgramLine
	states []decode.State // the connections' state lists
	events []calls.Event  // the connections' calls, when copied
	// taken are the calls lists taken from connections (Ended); nEvents
	// counts the calls in them and in events.
	taken   [][]calls.Event
	nEvents int
}

// NewBatchJSON returns a JSON report on w that writes its lines a batch at
// a time. Summary writes what is pending, then the summary line.
func NewBatchJSON(w io.Writer) *BatchJSON {
	return &BatchJSON{
		j: NewJSON(w),
		b: jsonBatch{items: make([]jsonItem, 0, batchItems), segs: make([]segRec, 0, batchItems)},
	}
}

// write writes the batch's lines and empties it; the calls lists it took
// become spares.
func (a *BatchJSON) write() {
	b := &a.b
	for _, it := range b.items {
		switch it.kind {
		case itemSegment:
			a.j.writeSegment(&b.segs[it.i])
		case itemConnection:
			a.j.writeConnection(&b.conns[it.i])
		case itemCall:
			a.j.writeCall(b.calls[it.i].id, &b.calls[it.i].ev)
		case itemDatagram:
			a.j.writeDatagram(&b.dgrams[it.i])
		}
	}
	for _, l := range b.taken {
		if len(a.spare) < maxSpareCalls && cap(l) <= maxSpareCap {
			a.spare = append(a.spare, l[:0])
		}
	}
	clear(b.taken)
	clear(b.conns) // their calls lists are spares now, or garbage
	b.items, b.segs, b.conns, b.calls = b.items[:0], b.segs[:0], b.conns[:0], b.calls[:0]
	b.states, b.events, b.taken = b.states[:0], b.events[:0], b.taken[:0]
	b.dgrams = b.dgrams[:0]
	b.nEvents = 0
}

func (a *BatchJSON) add(kind itemKind, i int) {
	a.b.items = append(a.b.items, jsonItem{kind, i})
	if len(a.b.items) == batchItems || a.b.nEvents >= batchEvents {
		a.write()
	}
}

// Segment implements decode.Handler.
func (a *BatchJSON) Segment(c *decode.Connection, st *decode.Step) {
	b := &a.b
	n := len(b.segs)
	if n < cap(b.segs) {
		b.segs = b.segs[:n+1]
	} else {
		b.segs = append(b.segs, segRec{})
	}
	b.segs[n].set(c, st)
	a.add(itemSegment, n)
}

// Ended implements decode.Handler. The connection's state lists are
// copied into the batch, since the tracker reuses them. Its calls list is
// taken whole and the connection given a spare one in its place (the
// tracker keeps a list's room, not its calls, for the connection's next
// use), unless another report shares the connection.
func (a *BatchJSON) Ended(c *decode.Connection) {
	b := &a.b
	r := makeConnRec(c)
	for side := range r.states {
		n := len(b.states)
		b.states = append(b.states, r.states[side]...)
		r.states[side] = b.states[n:len(b.states):len(b.states)]
	}
	switch {
	case len(r.calls) == 0:
	case a.copyCalls:
		n := len(b.events)
		b.events = append(b.events, r.calls...)
		r.calls = b.events[n:len(b.events):len(b.events)]
	default:
		r.calls = c.Calls[:len(c.Calls):len(c.Calls)]
		b.taken = append(b.taken, c.Calls)
		c.Calls = nil
		if n := len(a.spare); n > 0 {
			c.Calls, a.spare = a.spare[n-1], a.spare[:n-1]
		}
	}
	b.nEvents += len(r.calls)
	b.conns = append(b.conns, r)
	a.add(itemConnection, len(b.conns)-1)
}

// Call implements decode.CallHandler.
func (a *BatchJSON) Call(c *decode.Connection, ev *calls.Event) {
	b := &a.b
	id := 0
	if c != nil {
		id = c.ID
	}
	b.calls = append(b.calls, callRec{id: id, ev: *ev})
	a.add(itemCall, len(b.calls)-1)
}

// Summary writes every pending line, then the summary line, and flushes.
func (a *BatchJSON) Summary(s Summary) error {
	a.write()
	return a.j.Summary(s)
}
