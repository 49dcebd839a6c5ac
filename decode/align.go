package decode

import (
	"slices"
	"time"

	"github.com/socktrace/socktrace/calls"
)

// CallHandler is implemented by Handlers that want each socket call as it
// is aligned (the JSON report streams them as "call" lines). c is nil for
// a call that belongs to no connection, such as a listening socket's
// close() after its connections ended.
type CallHandler interface {
	Call(c *Connection, ev *calls.Event)
}

// maxWaiting bounds the sockets whose calls wait for a connection that has
// not appeared (traffic the capture missed or filtered out); past it the
// oldest are given up and reported without a connection.
const maxWaiting = 4096

// socketID names one socket of one process by its file descriptor (a
// process's descriptors are its own, whichever thread or role uses them).
// A descriptor number is reused after close(), so each close ends the
// socketCalls that the ID names.
type socketID struct {
	pid int
	fd  int
}

// socketCalls gathers one socket's calls until its connection is known,
// then forwards them to it.
type socketCalls struct {
	pending []calls.Event
	conn    *Connection
	gen     uint64 // conn.gen when bound, to notice that conn was reused
	key     connKey
	hasKey  bool // the socket's 4-tuple is known
	closed  bool
	gave    bool // a listening socket that gave its calls to an accepted one
	waitLinks
}

func (sc *socketCalls) bound() bool { return sc.conn != nil && sc.conn.gen == sc.gen }

// ObserveCall aligns a socket call with its connection. A call on a
// connected socket knows its 4-tuple; calls made on the same descriptor
// before (socket, setsockopt, bind) go with the connection the socket
// later has, and a listening socket's calls go with the first connection
// accepted from it. Calls may arrive before or after the packets they
// caused: a call whose connection has not been seen yet waits for it.
//
// The event's strings are neutralised (package internal/neutral) before
// any handler sees them.
//
// Once a side of a connection has an observed call, the calls the tracker
// inferred for that side are dropped when the connection ends.
func (t *Tracker) ObserveCall(ev calls.Event) {
	// Every call reaches the reports through here: its strings came from
	// outside and are neutralised once, for every format.
	ev.Neutralise()
	if t.sockets == nil {
		t.sockets = make(map[socketID]*socketCalls)
	}
	id := socketID{ev.PID, ev.FD}
	sc := t.sockets[id]
	if sc == nil || sc.closed {
		t.makeRoomForSocket()
		sc = t.newSocketCalls()
		t.sockets[id] = sc
	}
	if ev.Call == calls.Accept && ev.Result >= 0 {
		// accept() is made on the listening descriptor but returns a new
		// socket: its calls from here on use the new descriptor.
		t.acceptedFrom(sc, ev)
		return
	}
	if sc.bound() {
		t.attach(sc.conn, ev)
	} else {
		if sc.waiting {
			// Its first call may be new (its calls were given up or
			// given away): the connection under its key may take it now.
			t.waits.markDue(sc)
		}
		if roomFor(len(sc.pending), &ev) {
			sc.pending = append(sc.pending, ev)
		} else {
			t.stats.CallsOmitted++
		}
		if !sc.hasKey && ev.Local.IsValid() && ev.Remote.IsValid() {
			sc.key, sc.hasKey = makeKey(ev.Local, ev.Remote), true
			t.wait(sc)
		}
	}
	if ev.Call == calls.Close {
		sc.closed = true
		delete(t.sockets, id)
		if !sc.bound() && !sc.hasKey {
			// Closed without ever meeting a connection: a listening
			// socket, or one whose connect() never reached the wire.
			t.release(sc)
		}
		t.recycle(sc)
	}
	t.settle()
}

// maxSpareSockets bounds the socketCalls kept for reuse.
const maxSpareSockets = 1024

// newSocketCalls returns an empty socketCalls, a recycled one if any.
func (t *Tracker) newSocketCalls() *socketCalls {
	if n := len(t.spareSockets); n > 0 {
		sc := t.spareSockets[n-1]
		t.spareSockets[n-1] = nil
		t.spareSockets = t.spareSockets[:n-1]
		return sc
	}
	return &socketCalls{}
}

// recycle keeps a closed socket's socketCalls for the sockets to come
// when nothing refers to it any longer: not while it waits for its
// connection (the queue links it), nor while calls are pending. A traced
// run makes two or three sockets a connection; reusing them and their
// pending lists spares as many allocations.
func (t *Tracker) recycle(sc *socketCalls) {
	if sc.waiting || sc.due || len(sc.pending) > 0 || len(t.spareSockets) >= maxSpareSockets {
		return
	}
	pending := sc.pending[:0]
	clear(pending[:cap(pending)]) // the calls' strings are not held
	*sc = socketCalls{pending: pending}
	t.spareSockets = append(t.spareSockets, sc)
}

// acceptedFrom starts the socket accept() returned, giving it the
// listening socket's calls the first time.
func (t *Tracker) acceptedFrom(listener *socketCalls, ev calls.Event) {
	id := socketID{ev.PID, ev.Result}
	t.makeRoomForSocket()
	sc := t.newSocketCalls()
	t.sockets[id] = sc
	if !listener.gave {
		listener.gave = true
		for _, p := range listener.pending {
			if p.Side == "" {
				p.Side = ev.Side // the listening socket is on the accepting side
			}
			sc.pending = append(sc.pending, p)
		}
		listener.pending = listener.pending[:0]
		if listener.waiting {
			t.waits.markDue(listener)
		}
	}
	sc.pending = append(sc.pending, ev)
	if ev.Local.IsValid() && ev.Remote.IsValid() {
		sc.key, sc.hasKey = makeKey(ev.Local, ev.Remote), true
		t.wait(sc)
	}
	t.settle()
}

// wait has sc wait for its connection; when maxWaiting already do, the
// oldest is given up.
func (t *Tracker) wait(sc *socketCalls) {
	if t.waits.n >= maxWaiting {
		old := t.waits.oldest
		t.waits.remove(old)
		t.release(old)
	}
	t.waits.push(sc)
}

// settle binds waiting sockets whose connection has appeared. Only the due
// ones can have (waitQueue), so the cost is theirs, not that of every
// socket waiting.
func (t *Tracker) settle() {
	q := &t.waits
	if t.scanAll {
		for sc := q.oldest; sc != nil; sc = sc.newer {
			q.markDue(sc)
		}
	}
	if len(q.due) == 0 {
		return
	}
	q.sortDue()
	for _, sc := range q.due {
		sc.due = false
		if !sc.waiting {
			continue // given up since it was due
		}
		c := t.conns.get(&sc.key, sc.h)
		if c == nil || !sc.belongsTo(c) {
			continue
		}
		q.remove(sc)
		sc.conn, sc.gen = c, c.gen
		// Calls made before the socket had addresses (socket, bind,
		// setsockopt) are on the same side as the ones after.
		side := calls.Side("")
		for i := range sc.pending {
			if s := sideOfCall(c, &sc.pending[i]); s != "" {
				side = s
			}
		}
		for _, ev := range sc.pending {
			if ev.Side == "" {
				ev.Side = side
			}
			t.attach(c, ev)
		}
		sc.pending = sc.pending[:0]
	}
	// Handlers are not called back into the tracker, so nothing was
	// made due while binding.
	clear(q.due)
	q.due = q.due[:0]
}

// belongsTo reports whether the socket's calls can be c's: not when c is a
// finished connection on the same 4-tuple that ended before the socket's
// first call (loopback reuses ports; the socket's connection is the next
// one).
func (sc *socketCalls) belongsTo(c *Connection) bool {
	if !c.lingering || len(sc.pending) == 0 {
		return true
	}
	return !callTime(&sc.pending[0]).After(c.finishedAt)
}

// release reports calls that never found a connection.
func (t *Tracker) release(sc *socketCalls) {
	if ch, ok := t.h.(CallHandler); ok {
		for i := range sc.pending {
			ch.Call(nil, &sc.pending[i])
		}
	}
	sc.pending = nil
}

// flushCalls reports every call still waiting; the input has ended.
func (t *Tracker) flushCalls() {
	for sc := t.waits.oldest; sc != nil; sc = t.waits.oldest {
		t.waits.remove(sc)
		t.release(sc)
	}
	clear(t.waits.due)
	t.waits.due = t.waits.due[:0]
	for id, sc := range t.sockets {
		if !sc.bound() {
			t.release(sc)
		}
		delete(t.sockets, id)
	}
}

// sideOfCall is the side a call was made on: its own record, or the side
// whose address it was made from.
func sideOfCall(c *Connection, ev *calls.Event) calls.Side {
	switch {
	case ev.Side != "":
		return ev.Side
	case !ev.Local.IsValid() || c.SelfConnect:
		return ""
	case ev.Local == c.Client:
		return calls.Client
	case ev.Local == c.Server:
		return calls.Server
	}
	return ""
}

// attach adds ev to c's calls.
func (t *Tracker) attach(c *Connection, ev calls.Event) {
	ev.Side = sideOfCall(c, &ev)
	if c.Scenario == "" {
		c.Scenario = ev.Scenario
	}
	c.observed |= sideBit(ev.Side)
	if !c.keepCall(&ev) {
		// Not kept, but still handed on: the JSON report streams it.
		if ch, ok := t.h.(CallHandler); ok {
			t.dropped = ev
			ch.Call(c, &t.dropped)
		}
		return
	}
	if len(c.Calls) < tracedCalls && cap(c.Calls) < tracedCalls {
		// A traced connection has a dozen calls, observed and inferred:
		// room for them at once, not doubling from one (five allocations
		// a connection of a traced run). No more room than doubling
		// would end with: run's heap is bounded (main.go's memory limit)
		// and a short run holds every connection until it ends. A replay
		// without calls never comes here.
		c.Calls = slices.Grow(c.Calls, tracedCalls-len(c.Calls))
	}
	c.Calls = append(c.Calls, ev)
	if ch, ok := t.h.(CallHandler); ok {
		ch.Call(c, &c.Calls[len(c.Calls)-1])
	}
}

// Bounds on a connection's calls: a traced program that reads a byte at a
// time, or a file with a million calls in its comments, must not grow one
// connection without limit. The first maxCalls calls are kept whatever
// they are; after them only the calls that change a socket's life (not
// read or write) are, up to maxLifeCalls more, so that the close() after
// a million reads is still there to explain the FIN.
const (
	maxCalls     = 1000
	maxLifeCalls = 100
	// tracedCalls is the room a connection is given for its calls at its
	// first observed one.
	tracedCalls = 16
)

// keepCall reports whether ev has room in c.Calls; when not, it is counted
// in c.CallsOmitted.
func (c *Connection) keepCall(ev *calls.Event) bool {
	if roomFor(len(c.Calls), ev) {
		return true
	}
	c.CallsOmitted++
	return false
}

// roomFor reports whether a list of n calls has room for ev.
func roomFor(n int, ev *calls.Event) bool {
	return n < maxCalls || n < maxCalls+maxLifeCalls && ev.Call != calls.Read && ev.Call != calls.Write
}

// maxSockets bounds the sockets whose calls are followed at once. A
// program that opens sockets and never closes them (or a file that says
// so) must not grow the table without limit.
const maxSockets = 1 << 16

// makeRoomForSocket gives up one socket, any, when the table is full: its
// calls waiting for a connection are reported without one.
func (t *Tracker) makeRoomForSocket() {
	if len(t.sockets) < maxSockets {
		return
	}
	for id, sc := range t.sockets {
		delete(t.sockets, id)
		if !sc.bound() {
			t.release(sc)
			if sc.waiting {
				// With no calls left, a finished connection
				// under its key may take it now (belongsTo).
				t.waits.markDue(sc)
			}
		}
		t.stats.SocketsGivenUp++
		return
	}
}

func sideBit(s calls.Side) Sides {
	switch s {
	case calls.Client:
		return ClientSide
	case calls.Server:
		return ServerSide
	}
	return NoSide
}

// finishCalls prepares c.Calls for the handler: inferred calls of a side
// that has observed ones are dropped, and the rest are put in time order.
func (c *Connection) finishCalls() {
	if c.observed == NoSide {
		// Only inferred calls, added in segment order: already in order.
		return
	}
	c.Calls = slices.DeleteFunc(c.Calls, func(ev calls.Event) bool {
		return ev.Inferred && c.observed&sideBit(ev.Side) != 0
	})
	slices.SortStableFunc(c.Calls, func(a, b calls.Event) int {
		return callTime(&a).Compare(callTime(&b))
	})
}

// callTime places a call on the timeline: when it entered, or for an
// inferred call known only by when it could return, that time.
func callTime(ev *calls.Event) time.Time {
	if !ev.Enter.IsZero() {
		return ev.Enter
	}
	return ev.Exit
}

// Observed reports whether any of the side's calls were seen rather than
// inferred.
func (c *Connection) Observed(side Side) bool {
	if side == Client {
		return c.observed&ClientSide != 0
	}
	return c.observed&ServerSide != 0
}
