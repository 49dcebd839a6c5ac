package report

import (
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// A timeline entry of the text report: a segment, or a socket call's entry
// or return.
type entry struct {
	at    time.Time
	order int // among equal times: calls entering, segments, calls returning
	step  *textStep
	call  *calls.Event
	kind  callLine
}

type callLine uint8

const (
	callInstant   callLine = iota // one line: the call returned before anything else happened
	callEnter                     // the call entered and blocked
	callExit                      // the blocked call returned
	callCompleted                 // a non-blocking connect()'s handshake finished
)

// timeline merges a connection's segments with its observed calls, in time
// order. A call that spans a segment gets two lines, where it entered and
// where it returned, so that what happened while it blocked shows between.
func timeline(c *decode.Connection, steps []textStep) []entry {
	es := make([]entry, 0, len(steps)+2*len(c.Calls))
	for i := range steps {
		es = append(es, entry{at: steps[i].time, order: 1, step: &steps[i]})
	}
	for i := range c.Calls {
		ev := &c.Calls[i]
		if ev.Inferred || ev.Enter.IsZero() {
			continue
		}
		if isCompletion(ev) {
			es = append(es, entry{at: ev.Exit, order: 2, call: ev, kind: callCompleted})
			continue
		}
		spans := false
		if !ev.Exit.IsZero() {
			for j := range steps {
				if steps[j].time.After(ev.Enter) && steps[j].time.Before(ev.Exit) {
					spans = true
					break
				}
			}
		}
		if !spans {
			es = append(es, entry{at: ev.Enter, order: 0, call: ev, kind: callInstant})
			continue
		}
		es = append(es, entry{at: ev.Enter, order: 0, call: ev, kind: callEnter},
			entry{at: ev.Exit, order: 2, call: ev, kind: callExit})
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		if d := a.at.Compare(b.at); d != 0 {
			return d
		}
		return a.order - b.order
	})
	return es
}

// callTitle is a call as a C programmer would write it, with its
// descriptor and address: connect(3, 127.0.0.1:8080).
func callTitle(ev *calls.Event) string {
	name := string(ev.Call)
	switch ev.Call {
	case calls.Socket:
		return "socket()"
	case calls.Bind:
		return fmt.Sprintf("bind(%d, %s)", ev.FD, ev.Local)
	case calls.Connect:
		return fmt.Sprintf("connect(%d, %s)", ev.FD, ev.Remote)
	case calls.SetSockOpt, calls.Shutdown:
		if ev.Detail != "" {
			return fmt.Sprintf("%s(%d, %s)", name, ev.FD, ev.Detail)
		}
	}
	if ev.FD >= 0 {
		return fmt.Sprintf("%s(%d)", name, ev.FD)
	}
	return name + "()"
}

// callResult is what a call returned: "3", or "-1 ECONNREFUSED".
func callResult(ev *calls.Event) string {
	if ev.Errno != 0 {
		return "-1 " + errnoName(ev.Errno)
	}
	return fmt.Sprint(ev.Result)
}

func (t *Text) writeCall(c *decode.Connection, e *entry, start time.Time) {
	ev := e.call
	who := t.side(sideOf(c, ev))
	if ev.Scenario == "" && ev.Comm != "" {
		// A traced program: say which process made the call.
		who = fmt.Sprintf("%s %s[%d]", who, ev.Comm, ev.PID)
	}
	var head, why string
	switch e.kind {
	case callInstant:
		head = t.m("call.instant", callTitle(ev), callResult(ev), duration(ev.Duration()))
		why = t.callWhy(c, ev, true)
	case callEnter:
		head = t.m("call.enter", callTitle(ev), "…")
		why = t.callWhy(c, ev, false)
	case callCompleted:
		head = t.m("call.completed", string(ev.Call)+"()", duration(ev.Duration()))
		why = t.m("call.connect.completed")
	case callExit:
		head = t.m("call.exit", string(ev.Call)+"()", callResult(ev), duration(ev.Duration()))
		// Say something new where the call returns, or nothing: a write()
		// or close() that merely returns was explained where it entered.
		if why = t.callWhy(c, ev, true); why == t.callWhy(c, ev, false) {
			why = ""
		}
	}
	t.printf("  %s  %-15s  %s\n", offset(e.at.Sub(start)), who, head)
	if why != "" {
		t.writeWrapped(why, 14)
	}
}

// sideOf is the side a call was made on — in whose margin it goes — from
// its own record or from its address.
func sideOf(c *decode.Connection, ev *calls.Event) decode.Side {
	switch {
	case ev.Side == calls.Server:
		return decode.Server
	case ev.Side == calls.Client:
		return decode.Client
	case ev.Local == c.Server:
		return decode.Server
	}
	return decode.Client
}

// callWhy explains a call; returned says whether it is the line where the
// call returned (or the only line of a call that did not block).
func (t *Text) callWhy(c *decode.Connection, ev *calls.Event, returned bool) string {
	switch ev.Call {
	case calls.Socket:
		return t.m("call.socket", ev.Result)
	case calls.SetSockOpt:
		return t.m("call.setsockopt", ev.Detail)
	case calls.Bind:
		return t.m("call.bind", ev.Local)
	case calls.Listen:
		return t.m("call.listen", ev.Local.Port())
	case calls.Accept:
		if !returned {
			return t.m("call.accept.wait")
		}
		if done := handshakeDone(t.current); !done.IsZero() && ev.Enter.After(done) {
			return t.m("call.accept.late", ev.Result, duration(ev.Exit.Sub(done)))
		}
		return t.m("call.accept", ev.Result, ev.Remote, ev.Local, ev.Local.Port())
	case calls.Connect:
		switch {
		case !returned:
			return t.m("call.connect", ev.Remote)
		case ev.Errno == syscall.EINPROGRESS:
			return t.m("call.connect.inprogress")
		case ev.Errno != 0:
			return t.m("call.connect.fail", errnoName(ev.Errno))
		}
		return t.m("call.connect.ok")
	case calls.Write:
		return t.m("call.write", ev.Result)
	case calls.Read:
		switch {
		case !returned:
			return ""
		case ev.Errno != 0:
			return t.m("call.read.fail", errnoName(ev.Errno))
		case ev.Result == 0:
			return t.m("call.read.eof")
		}
		return t.m("call.read", ev.Result)
	case calls.Shutdown:
		return t.m("call.shutdown", ev.Detail)
	case calls.Close:
		if !ev.Remote.IsValid() {
			return t.m("call.close.listener")
		}
		return t.m("call.close")
	}
	return ""
}

// handshakeDone is when the ACK that completed the handshake was seen.
func handshakeDone(steps []textStep) time.Time {
	for i := range steps {
		if steps[i].kind == decode.StepHandshakeACK {
			return steps[i].time
		}
	}
	return time.Time{}
}

// Call implements decode.CallHandler. Calls of a connection are written
// with its block; a call that belongs to none (a listening socket's
// close(), a socket that never connected) is kept for the end.
func (t *Text) Call(c *decode.Connection, ev *calls.Event) {
	if c == nil && !ev.Inferred && len(t.loose) < 1000 {
		t.loose = append(t.loose, *ev)
	}
}

// writeLooseCalls lists the calls that belong to no connection.
func (t *Text) writeLooseCalls() {
	if len(t.loose) == 0 {
		return
	}
	t.printf("%s\n", t.m("loose.header"))
	start := t.loose[0].Enter
	type sock struct {
		pid  int
		side calls.Side
		fd   int
	}
	bound := map[sock]bool{} // sockets whose bind() is in this list, not yet closed
	for i := range t.loose {
		ev := &t.loose[i]
		id := sock{ev.PID, ev.Side, ev.FD}
		who := string(ev.Side)
		if who == "" {
			who = fmt.Sprintf("%s[%d]", ev.Comm, ev.PID)
		}
		t.printf("  %s  %-15s  %s\n", offset(ev.Enter.Sub(start)), who,
			t.m("call.instant", callTitle(ev), callResult(ev), duration(ev.Duration())))
		var why string
		switch {
		case ev.Call == calls.Bind:
			why = t.m("call.bind", ev.Local)
			bound[id] = true
		case ev.Call == calls.Close && bound[id]:
			// Bound here and never listening: the port is freed.
			why = t.m("call.close.bound", ev.Local.Port())
			delete(bound, id)
		case ev.Call == calls.Close && ev.Local.IsValid() && !ev.Remote.IsValid():
			why = t.m("call.close.listener")
		}
		if why != "" {
			t.writeWrapped(why, 14)
		}
	}
	t.printf("\n")
}

// isCompletion reports whether ev is the tracer's note that a non-blocking
// connect() finished its handshake (calls.Trace reports it as a second
// connect event with Detail "completed").
func isCompletion(ev *calls.Event) bool {
	return ev.Call == calls.Connect && ev.Detail == "completed" && !ev.Exit.IsZero()
}
