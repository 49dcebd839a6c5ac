package report

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
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
			es = append(es, entry{at: completionTime(c.Calls, ev), order: 3, call: ev, kind: callCompleted})
			continue
		}
		if ev.Exit.IsZero() {
			// Never returned: the process ended (or the trace stopped)
			// while in the call. One line, without a result: it has
			// none (a ptraced thread stopped at a call's entry when
			// another exits the process never even makes it).
			es = append(es, entry{at: ev.Enter, order: 0, call: ev, kind: callEnter})
			continue
		}
		spans := false
		for j := range steps {
			if steps[j].time.After(ev.Enter) && steps[j].time.Before(ev.Exit) {
				spans = true
				break
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
	name := syscallName(ev)
	switch ev.Call {
	case calls.Socket:
		return "socket()"
	case calls.Bind:
		return fmt.Sprintf("bind(%d, %s)", ev.FD, ev.Local)
	case calls.Connect:
		if _, flags := dataCall(ev); flags != "" {
			// sendto(4, 127.0.0.1:8080, MSG_FASTOPEN)
			return fmt.Sprintf("%s(%d, %s, %s)", name, ev.FD, ev.Remote, flags)
		}
		return fmt.Sprintf("connect(%d, %s)", ev.FD, ev.Remote)
	case calls.Read, calls.Write:
		if _, flags := dataCall(ev); flags != "" && ev.FD >= 0 {
			return fmt.Sprintf("%s(%d, %s)", name, ev.FD, flags)
		}
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

// dataSyscalls are the system calls the eBPF recorder names in a data
// call's Detail (calls/bpf_decode_linux.go) besides read and write.
var dataSyscalls = map[string]bool{
	"sendto": true, "sendmsg": true, "recvfrom": true, "recvmsg": true,
	"writev": true, "readv": true, "sendfile": true, "splice": true,
}

// syscallName is the name of the call the program made: a data call's own
// system call (sendto, writev, ...) where the recorder named it, as
// strace would, rather than the read or write it counts as; and a send
// that connected (TCP Fast Open) under its own name, not connect's.
func syscallName(ev *calls.Event) string {
	if name, _ := dataCall(ev); name != "" {
		return name
	}
	return string(ev.Call)
}

// dataCall splits the Detail the eBPF recorder gives a data call (and a
// send with MSG_FASTOPEN that connected) into the system call's name and
// its flags: "recvfrom MSG_PEEK" is recvfrom, MSG_PEEK. name is "" for
// any other call.
func dataCall(ev *calls.Event) (name, flags string) {
	switch ev.Call {
	case calls.Read, calls.Write, calls.Connect:
	default:
		return "", ""
	}
	name, flags, _ = strings.Cut(ev.Detail, " ")
	if !dataSyscalls[name] || ev.Call == calls.Connect && !hasFlag(flags, "MSG_FASTOPEN") {
		return "", ""
	}
	return name, flags
}

// hasFlag reports whether flags ("MSG_PEEK|MSG_DONTWAIT") holds flag.
func hasFlag(flags, flag string) bool {
	for f := range strings.SplitSeq(flags, "|") {
		if f == flag {
			return true
		}
	}
	return false
}

// isPeek reports whether ev is a recv with MSG_PEEK: it copies what has
// arrived and leaves it queued, to be read again.
func isPeek(ev *calls.Event) bool {
	_, flags := dataCall(ev)
	return ev.Call == calls.Read && hasFlag(flags, "MSG_PEEK")
}

// isFastOpen reports whether ev is a send with MSG_FASTOPEN that made its
// socket's connect() (TCP Fast Open): the recorder reports it as a
// connect with the send's name and flags.
func isFastOpen(ev *calls.Event) bool {
	name, _ := dataCall(ev)
	return ev.Call == calls.Connect && name != ""
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
		if ev.Exit.IsZero() {
			head = t.m("call.enter", callTitle(ev), t.m("call.noexit"))
			if ev.Call == calls.Close {
				// Whatever close() would have sent, the exit's own
				// closing of the descriptors sends.
				why = t.m("call.close.noexit")
			}
		}
	case callCompleted:
		if ev.Detail == "failed" {
			name := "?"
			if errno := completionErrno(c.Handshake(), ev); errno != 0 {
				name = errnoName(errno)
			}
			head = t.m("call.failed", string(ev.Call)+"()", name, duration(ev.Duration()))
		} else {
			head = t.m("call.completed", string(ev.Call)+"()", duration(ev.Duration()))
		}
		why = t.completionWhy(c, ev)
	case callExit:
		head = t.m("call.exit", syscallName(ev)+"()", callResult(ev), duration(ev.Duration()))
		// Say something new where the call returns, or nothing: a write()
		// or close() that merely returns was explained where it entered.
		if why = t.callWhy(c, ev, true); why == t.callWhy(c, ev, false) {
			why = t.blockedWriteWhy(ev)
		}
	}
	b := t.w.AvailableBuffer()
	b = append(b, "  "...)
	b = appendPadded(b, offset(e.at.Sub(start)), t.cols.time)
	b = append(b, "  "...)
	b = appendPadded(b, who, 15)
	b = append(b, "  "...)
	b = appendWrapped(b, head, cells(string(b)), 14, t.width())
	if t.err == nil {
		_, t.err = t.w.Write(append(b, '\n'))
	}
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
		if ev.Errno == 0 && isLingerZero(ev) {
			return t.m("call.setsockopt.linger0")
		}
		if why := t.optionWhy(ev); why != "" {
			return why
		}
		return t.m("call.setsockopt", ev.Detail)
	case calls.Bind:
		return t.bindWhy(ev)
	case calls.Listen:
		if ev.Errno != 0 {
			return t.m("call.fail", string(ev.Call), errnoName(ev.Errno))
		}
		return t.m("call.listen", ev.Local.Port()) + t.queuesWhy(ev)
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
		case isCompletion(ev):
			return t.completionWhy(c, ev)
		case isFastOpen(ev):
			return t.fastOpenWhy(ev, returned)
		case !returned:
			return t.m("call.connect", ev.Remote)
		case ev.Errno == syscall.EINPROGRESS:
			return t.m("call.connect.inprogress")
		case ev.Errno != 0:
			return t.m("call.connect.fail", errnoName(ev.Errno))
		}
		return t.m("call.connect.ok")
	case calls.Write:
		return t.m("call.write", syscallName(ev), ev.Result)
	case calls.Read:
		switch {
		case !returned:
			return ""
		case ev.Errno != 0:
			return t.m("call.read.fail", syscallName(ev), errnoName(ev.Errno))
		case ev.Result == 0:
			return t.m("call.read.eof", syscallName(ev)) + t.eofAheadWhy(ev)
		case isPeek(ev):
			return t.m("call.read.peek", syscallName(ev), ev.Result)
		}
		return t.m("call.read", syscallName(ev), ev.Result)
	case calls.Shutdown:
		if ev.Errno != 0 {
			return t.m("call.fail", string(ev.Call), errnoName(ev.Errno))
		}
		return t.m("call.shutdown", ev.Detail)
	case calls.Close:
		return t.closeWhy(c, ev)
	}
	return ""
}

// fastOpenWhy explains a send with MSG_FASTOPEN that connected its
// socket: where it entered, the implicit connect(); where it returned,
// what became of its data, as the client's SYN and the server's SYN-ACK
// show it.
func (t *Text) fastOpenWhy(ev *calls.Event, returned bool) string {
	name := syscallName(ev)
	switch {
	case !returned:
		return t.m("call.connect.fastopen", name, ev.Remote)
	case ev.Errno == syscall.EINPROGRESS:
		return t.m("call.connect.fastopen.inprogress", name)
	case ev.Errno != 0:
		return t.m("call.fail", name, errnoName(ev.Errno))
	}
	syn, synack := t.handshakeSteps()
	switch {
	case syn == nil || synack == nil:
	case syn.len == 0:
		return t.m("call.connect.fastopen.after", name, ev.Result)
	case synack.relAck == 1+uint32(syn.len):
		return t.m("call.connect.fastopen.syndata", name, ev.Result)
	case synack.relAck == 1:
		return t.m("call.connect.fastopen.refused", name, ev.Result)
	}
	return t.m("call.connect.fastopen.ok", name, ev.Result)
}

// handshakeSteps are the client's first SYN and the server's SYN-ACK
// among the steps kept, or nil.
func (t *Text) handshakeSteps() (syn, synack *textStep) {
	for i := range t.current {
		st := &t.current[i]
		switch {
		case st.kind == decode.StepSYN && st.from == decode.Client && syn == nil:
			syn = st
		case st.kind == decode.StepSYNACK && st.from == decode.Server && synack == nil:
			synack = st
		}
	}
	return syn, synack
}

// completionWhy explains the end of a non-blocking connect().
func (t *Text) completionWhy(c *decode.Connection, ev *calls.Event) string {
	if ev.Detail != "failed" {
		return t.m("call.connect.completed")
	}
	switch completionErrno(c.Handshake(), ev) {
	case syscall.ECONNREFUSED:
		return t.m("call.connect.refused")
	case syscall.ETIMEDOUT:
		return t.m("call.connect.timedout")
	}
	return t.m("call.connect.failed")
}

// bindWhy explains a bind(): where it tied the socket, the port the
// kernel chose for port 0, or why it failed.
func (t *Text) bindWhy(ev *calls.Event) string {
	if why := t.bindLessonWhy(ev); why != "" {
		return why
	}
	switch ev.Errno {
	case 0:
	case syscall.EADDRINUSE:
		return t.m("call.bind.inuse", ev.Local)
	case syscall.EACCES:
		return t.m("call.bind.acces", ev.Local.Port())
	default:
		return t.m("call.fail", string(ev.Call), errnoName(ev.Errno))
	}
	if chosen, ok := boundTo(ev); ok && ev.Local.Port() == 0 {
		return t.m("call.bind.any", ev.Local, chosen.Port())
	}
	return t.m("call.bind", ev.Local)
}

// boundTo is the address the kernel gave a bind() asking for port 0, from
// the tracer's note "bound to ADDR".
func boundTo(ev *calls.Event) (netip.AddrPort, bool) {
	rest, ok := strings.CutPrefix(ev.Detail, "bound to ")
	if !ok {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddrPort(rest)
	return a, err == nil
}

// isLingerZero reports whether ev sets SO_LINGER on with a zero timeout,
// which turns the socket's close() into an abort.
func isLingerZero(ev *calls.Event) bool {
	return ev.Call == calls.SetSockOpt && ev.Detail == "SO_LINGER 0"
}

// closeWhy explains a close() on a connection from what socktrace saw
// before it: a connect() that failed, a RST that already ended the
// connection, SO_LINGER 0, a FIN already sent by shutdown().
func (t *Text) closeWhy(c *decode.Connection, ev *calls.Event) string {
	side := sideOf(c, ev)
	if ev.Errno != 0 {
		return t.m("call.fail", string(ev.Call), errnoName(ev.Errno))
	}
	if side == decode.Server && !ev.Remote.IsValid() {
		return t.m("call.close.listener")
	}
	if h := c.Handshake(); side == decode.Client && (h == decode.Refused || h == decode.Unanswered) {
		return t.m("call.close.failed")
	}
	for i := range t.current {
		st := &t.current[i]
		if !st.time.Before(ev.Enter) {
			break
		}
		if st.kind == decode.StepRST || st.kind == decode.StepRefused {
			return t.m("call.close.afterrst", t.side(st.from))
		}
	}
	if x := laterUse(c, ev, side); x != nil {
		// Not the socket's last descriptor: a dup() of it, or a copy a
		// child inherited across fork() (a forking server's parent closes
		// its copy at once), was used after this close() returned. The
		// kernel ends the connection only at the last close, so this one
		// sends nothing, SO_LINGER 0 or not.
		who := fmt.Sprintf("%s[%d]", x.Comm, x.PID)
		if x.Comm == "" {
			who = fmt.Sprintf("[%d]", x.PID)
		}
		return t.m("call.close.notlast", ev.FD, who, x.FD, string(x.Call))
	}
	if t.sawLingerZero(c, side, ev.Enter) {
		return t.m("call.close.linger0")
	}
	if fin := t.finStep(side); fin != nil && fin.time.Before(ev.Enter) {
		return t.m("call.close.afterfin")
	}
	return t.m("call.close")
}

// laterUse is a call seen on side's connected socket that entered after
// the close() ev returned, or nil: proof that another descriptor (a
// dup, or a copy inherited across fork or passed over a UNIX socket)
// still referred to the socket when ev closed its own. Calls on the
// listener (bind, listen, accept) are not on this socket.
func laterUse(c *decode.Connection, ev *calls.Event, side decode.Side) *calls.Event {
	end := ev.Exit
	if end.IsZero() {
		end = ev.Enter
	}
	for i := range c.Calls {
		x := &c.Calls[i]
		if x.Inferred || !x.Remote.IsValid() || sideOf(c, x) != side || x.Enter.Before(end) {
			continue
		}
		switch x.Call {
		case calls.Socket, calls.Bind, calls.Listen, calls.Accept, calls.Connect:
			continue
		}
		if x.PID == ev.PID && x.FD == ev.FD && x.Enter.Equal(ev.Enter) {
			continue // ev itself
		}
		return x
	}
	return nil
}

// sawLingerZero reports whether side was seen setting SO_LINGER 0 before
// at (any time, when at is zero).
func (t *Text) sawLingerZero(c *decode.Connection, side decode.Side, at time.Time) bool {
	for i := range c.Calls {
		ev := &c.Calls[i]
		if !ev.Inferred && ev.Errno == 0 && isLingerZero(ev) && sideOf(c, ev) == side &&
			(at.IsZero() || !ev.Enter.After(at)) {
			return true
		}
	}
	return false
}

// finStep is the first FIN side sent, among the steps kept, or nil.
func (t *Text) finStep(side decode.Side) *textStep {
	for i := range t.current {
		st := &t.current[i]
		if st.from == side && st.flags&decode.FIN != 0 && st.flags&decode.SYN == 0 {
			return st
		}
	}
	return nil
}

// completionErrno is the errno a program reads (getsockopt SO_ERROR) from
// a non-blocking connect() that failed: the tracer sees that it failed,
// but reading the errno itself would take it from the program. The
// segments tell it: a RST answering the SYN is ECONNREFUSED, a SYN never
// answered ends in ETIMEDOUT. Other events keep their errno.
func completionErrno(h decode.Handshake, ev *calls.Event) syscall.Errno {
	if ev.Call != calls.Connect || ev.Detail != "failed" || ev.Errno != 0 || ev.Exit.IsZero() {
		return ev.Errno
	}
	switch h {
	case decode.Refused:
		return syscall.ECONNREFUSED
	case decode.Unanswered:
		return syscall.ETIMEDOUT
	}
	return 0
}

// handshakeDone is when the ACK that completed the handshake was seen.
// eofAheadWhy explains a read() that returned 0 before the segment on
// which the timeline shows its side in CLOSE_WAIT: the tracker moves a
// side to CLOSE_WAIT with its ACK of the FIN, the first segment that
// proves the kernel processed it, and a delayed ACK comes after the
// program already read the end of data. The call itself does not move
// the state: a timeline of segments (JSON, diagram, replay of a capture
// without calls) must tell the same story.
func (t *Text) eofAheadWhy(ev *calls.Event) string {
	side := decode.Client
	switch ev.Side {
	case calls.Server:
		side = decode.Server
	case calls.Client:
	default:
		return ""
	}
	for i := range t.current {
		st := &t.current[i]
		if st.after[side] == decode.CloseWait && st.before[side] != decode.CloseWait ||
			slices.Contains(st.passed[side], decode.CloseWait) {
			if st.time.After(ev.Exit) {
				return t.m("call.read.eof.ahead", t.side(side))
			}
			return ""
		}
	}
	return ""
}

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
	if c == nil && !ev.Inferred && t.datagramCall(ev) {
		return
	}
	if ev.Call == calls.Listen {
		t.noteListeners([]calls.Event{*ev})
	}
	if c == nil && !ev.Inferred {
		if len(t.loose) >= 1000 {
			t.looseOmitted++ // said in the summary
			return
		}
		t.loose = append(t.loose, *ev)
	}
}

// writeLooseCalls lists the calls that belong to no connection, in time
// order, on the clock of the connection that began first, each with the
// address of its socket and, for the demo, its scenario.
func (t *Text) writeLooseCalls() {
	if len(t.loose) == 0 {
		return
	}
	slices.SortStableFunc(t.loose, func(a, b calls.Event) int { return a.Enter.Compare(b.Enter) })
	start := t.loose[0].Enter
	if !t.origin.IsZero() && t.origin.Before(start) {
		start = t.origin
		t.printf("%s\n", t.wrap(t.m("loose.header")+" "+t.m("loose.clock", t.originConn), 0))
	} else {
		t.printf("%s\n", t.wrap(t.m("loose.header"), 0))
	}
	type sock struct {
		pid  int
		side calls.Side
		fd   int
	}
	// A socket's address, for every call on it: what bind() gave it, or
	// what the call itself names.
	addrs := make([]netip.AddrPort, len(t.loose))
	open := map[sock][]int{}
	name := func(ids []int) {
		var a netip.AddrPort
		for _, k := range ids {
			ev := &t.loose[k]
			switch {
			case ev.Call == calls.Bind && ev.Errno == 0:
				if b, ok := boundTo(ev); ok {
					a = b
				} else {
					a = ev.Local
				}
			case !a.IsValid() && ev.Local.IsValid() && ev.Local.Port() != 0 && ev.Errno == 0:
				a = ev.Local
			}
		}
		for _, k := range ids {
			addrs[k] = a
		}
	}
	for i := range t.loose {
		ev := &t.loose[i]
		id := sock{ev.PID, ev.Side, ev.FD}
		if ev.Call == calls.Socket {
			id.fd = ev.Result
			if prev := open[id]; len(prev) > 0 {
				name(prev)
			}
			id.side = ""
			open[id] = nil
			id.side = ev.Side
		}
		open[id] = append(open[id], i)
		if ev.Call == calls.Close {
			name(open[id])
			delete(open, id)
		}
	}
	for _, ids := range open {
		name(ids)
	}
	bound := map[sock]bool{}     // sockets whose bind() succeeded, not yet closed
	connected := map[sock]bool{} // sockets that called connect()
	for i := range t.loose {
		ev := &t.loose[i]
		// A socket's side is learnt at its connect() or accept(): its
		// socket() and close() may have none, so the maps below key it
		// without one.
		id := sock{ev.PID, "", ev.FD}
		who := string(ev.Side)
		switch {
		case ev.Side == calls.Server:
			who = t.m("side.server")
		case ev.Side == calls.Client:
			who = t.m("side.client")
		case ev.Comm != "":
			who = fmt.Sprintf("%s[%d]", ev.Comm, ev.PID)
		}
		title := callTitle(ev)
		if a := addrs[i]; a.IsValid() && ev.Call != calls.Bind && ev.Call != calls.Connect {
			title += " " + t.m("loose.on", a)
		}
		head := t.m("call.instant", title, callResult(ev), duration(ev.Duration()))
		if ev.Exit.IsZero() {
			head = t.m("call.enter", title, t.m("call.noexit"))
		}
		if ev.Scenario != "" {
			head += "; " + t.m("loose.scenario", ev.Scenario)
		}
		b := t.w.AvailableBuffer()
		b = append(b, "  "...)
		b = appendOffset(b, ev.Enter.Sub(start))
		b = append(b, "  "...)
		b = appendPadded(b, who, 15)
		b = append(b, "  "...)
		b = appendWrapped(b, head, cells(string(b)), 14, t.width())
		if t.err == nil {
			_, t.err = t.w.Write(append(b, '\n'))
		}
		var why string
		switch {
		case ev.Call == calls.Bind:
			why = t.bindWhy(ev)
			if ev.Errno == 0 {
				bound[id] = true
			}
		case ev.Call == calls.Connect:
			connected[id] = true
			if ev.Errno != 0 && ev.Errno != syscall.EINPROGRESS {
				why = t.m("call.fail", string(ev.Call), errnoName(ev.Errno))
			}
		case ev.Call == calls.SetSockOpt:
			why = t.callWhy(nil, ev, true)
		case ev.Call == calls.Close && connected[id]:
			why = t.m("call.close.failed")
			delete(connected, id)
			delete(bound, id)
		case ev.Call == calls.Close && bound[id]:
			// Bound here and never listening: the port is freed.
			why = t.m("call.close.bound", addrs[i].Port())
			delete(bound, id)
		case ev.Call == calls.Close && ev.Local.IsValid() && ev.Local.Port() != 0 && !ev.Remote.IsValid():
			why = t.m("call.close.listener")
		case ev.Call == calls.Close && (!ev.Local.IsValid() || ev.Local.Port() == 0):
			why = t.m("call.close.unbound")
		}
		if why != "" {
			t.writeWrapped(why, 14)
		}
	}
	t.printf("\n")
}

// withoutKnownListens drops the inferred listen() of a connection whose
// listener was seen calling listen() (on an earlier connection of the
// same listener): the diagram and the HTML report must not draw it as
// listen()*, a call no one saw.
func (t *Text) withoutKnownListens(c *decode.Connection, cs []calls.Event) []calls.Event {
	if !t.listening[c.Server.Port()] {
		return cs
	}
	return slices.DeleteFunc(cs, func(ev calls.Event) bool { return ev.Inferred && ev.Call == calls.Listen })
}

// completionTime is where a non-blocking connect()'s end goes: when it was
// seen, but not before the call that returned EINPROGRESS returned (an
// eBPF tracer sees the kernel finish the handshake before the call's own
// return is recorded).
func completionTime(cs []calls.Event, done *calls.Event) time.Time {
	at := done.Exit
	for i := range cs {
		ev := &cs[i]
		if ev.Call == calls.Connect && ev.Errno == syscall.EINPROGRESS && ev.FD == done.FD &&
			ev.PID == done.PID && ev.Exit.After(at) {
			at = ev.Exit
		}
	}
	return at
}

// isCompletion reports whether ev is the tracer's note that a non-blocking
// connect() finished its handshake (calls.Trace reports it as a second
// connect event with Detail "completed", or "failed").
func isCompletion(ev *calls.Event) bool {
	return ev.Call == calls.Connect && (ev.Detail == "completed" || ev.Detail == "failed") && !ev.Exit.IsZero()
}
