package report

import (
	"io"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// AsyncJSON is the JSON report written by a goroutine of its own: the
// tracker's goroutine only copies what each line will say into a batch,
// and the writer formats and writes batches while the tracker goes on.
// Formatting costs more than tracking, so on a machine with two cores a
// replay runs nearly twice as fast. The output is byte for byte that of
// JSON. Lines appear in batches: for live output, where each line should
// show as it happens, use JSON.
type AsyncJSON struct {
	j          *JSON
	cur        *jsonBatch
	free, full chan *jsonBatch
	done       chan struct{}
}

// batchItems is how many lines a batch holds: large enough that handing a
// batch over costs nothing per line, small enough to stay in cache.
const batchItems = 1024

// batchEvents is how many connections' calls a batch holds before it is
// handed over, whatever its number of lines: a batch of 1024 segment lines
// carries about 100 connections' calls, but when the input ends thousands
// of connections end at once, and their calls (about 1 KB each) would
// grow every batch to megabytes.
const batchEvents = 2048

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
	events []calls.Event  // the connections' calls
}

func (b *jsonBatch) reset() {
	b.items, b.segs, b.conns, b.calls = b.items[:0], b.segs[:0], b.conns[:0], b.calls[:0]
	b.states, b.events = b.states[:0], b.events[:0]
	b.dgrams = b.dgrams[:0]
}

// NewAsyncJSON returns a JSON report on w that formats on its own
// goroutine. Summary ends it: it writes what is pending, then the summary
// line, and stops the goroutine.
func NewAsyncJSON(w io.Writer) *AsyncJSON {
	const batches = 4
	a := &AsyncJSON{
		j:    NewJSON(w),
		free: make(chan *jsonBatch, batches),
		full: make(chan *jsonBatch, batches),
		done: make(chan struct{}),
	}
	for range batches {
		a.free <- &jsonBatch{items: make([]jsonItem, 0, batchItems), segs: make([]segRec, 0, batchItems)}
	}
	a.cur = <-a.free
	go a.write()
	return a
}

func (a *AsyncJSON) write() {
	defer close(a.done)
	for b := range a.full {
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
		b.reset()
		a.free <- b
	}
}

func (a *AsyncJSON) add(kind itemKind, i int) {
	a.cur.items = append(a.cur.items, jsonItem{kind, i})
	if len(a.cur.items) == batchItems || len(a.cur.events) >= batchEvents {
		a.full <- a.cur
		a.cur = <-a.free
	}
}

// Segment implements decode.Handler.
func (a *AsyncJSON) Segment(c *decode.Connection, st *decode.Step) {
	b := a.cur
	b.segs = append(b.segs, makeSegRec(c, st))
	a.add(itemSegment, len(b.segs)-1)
}

// Ended implements decode.Handler. The connection's state lists and calls
// are copied into the batch, since the tracker reuses them.
func (a *AsyncJSON) Ended(c *decode.Connection) {
	b := a.cur
	r := makeConnRec(c)
	for side := range r.states {
		n := len(b.states)
		b.states = append(b.states, r.states[side]...)
		r.states[side] = b.states[n:len(b.states):len(b.states)]
	}
	n := len(b.events)
	b.events = append(b.events, r.calls...)
	r.calls = b.events[n:len(b.events):len(b.events)]
	b.conns = append(b.conns, r)
	a.add(itemConnection, len(b.conns)-1)
}

// Call implements decode.CallHandler.
func (a *AsyncJSON) Call(c *decode.Connection, ev *calls.Event) {
	b := a.cur
	id := 0
	if c != nil {
		id = c.ID
	}
	b.calls = append(b.calls, callRec{id: id, ev: *ev})
	a.add(itemCall, len(b.calls)-1)
}

// Summary writes every pending line, then the summary line, and flushes.
func (a *AsyncJSON) Summary(s Summary) error {
	if len(a.cur.items) > 0 {
		a.full <- a.cur
	}
	close(a.full)
	<-a.done
	return a.j.Summary(s)
}
