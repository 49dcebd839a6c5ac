package report

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// The explanations below teach what the seed note's claims leave out:
// what SO_REUSEADDR and SO_REUSEPORT allow, what TIME_WAIT does to a
// later bind(), how small a listen backlog is, and that write() returns
// before the peer's ACK and blocks only on a full send buffer.

// maxTimeWaits bounds the addresses remembered as holding TIME_WAIT.
const maxTimeWaits = 1024

// noteTimeWaits remembers the addresses of c that entered TIME_WAIT and
// when, so that a later bind() to one of them can be explained.
func (t *Text) noteTimeWaits(c *decode.Connection) {
	for i := range t.current {
		st := &t.current[i]
		for _, side := range [...]decode.Side{decode.Client, decode.Server} {
			if st.after[side] != decode.TimeWait || st.before[side] == decode.TimeWait {
				continue
			}
			addr := c.Client
			if side == decode.Server {
				addr = c.Server
			}
			if t.timeWaits == nil {
				t.timeWaits = make(map[netip.AddrPort]time.Time)
			}
			if _, ok := t.timeWaits[addr]; ok || len(t.timeWaits) < maxTimeWaits {
				t.timeWaits[addr] = st.time
			}
		}
	}
}

// inTimeWait reports whether a connection on addr was in TIME_WAIT
// (entered it less than 60 s, Linux's TIME_WAIT, before at).
func (t *Text) inTimeWait(addr netip.AddrPort, at time.Time) bool {
	since, ok := t.timeWaits[addr]
	return ok && since.Before(at) && at.Sub(since) < 60*time.Second
}

// bindLessonWhy explains a bind() to an address a connection in
// TIME_WAIT holds: refused without SO_REUSEADDR, allowed with it.
func (t *Text) bindLessonWhy(ev *calls.Event) string {
	if !t.inTimeWait(ev.Local, ev.Enter) {
		return ""
	}
	if ev.Errno == 0 {
		return t.m("call.bind.reuse", ev.Local)
	}
	return t.m("call.bind.timewait", ev.Local)
}

// optionWhy explains the socket options the demo's lessons use; "" for
// the others.
func (t *Text) optionWhy(ev *calls.Event) string {
	if ev.Errno != 0 {
		return ""
	}
	name, _, _ := strings.Cut(ev.Detail, " ")
	switch name {
	case "SO_REUSEADDR":
		return t.m("call.setsockopt.reuseaddr")
	case "SO_REUSEPORT":
		return t.m("call.setsockopt.reuseport")
	case "TCP_QUICKACK":
		if strings.HasSuffix(ev.Detail, " 0") {
			return t.m("call.setsockopt.quickack0")
		}
	case "SO_SNDBUF", "SO_RCVBUF":
		return t.m("call.setsockopt.buffer", ev.Detail)
	}
	return ""
}

// smallBacklog is the largest listen backlog that gets the explanation
// of the two queues: one small enough to fill in a demo.
const smallBacklog = 4

// queuesWhy adds the SYN queue and the accept queue to the explanation
// of a listen() with a small backlog.
func (t *Text) queuesWhy(ev *calls.Event) string {
	var n int
	if _, err := fmt.Sscanf(ev.Detail, "backlog %d", &n); err != nil || n > smallBacklog {
		return ""
	}
	return t.m("call.listen.queues", n)
}

// blockedWrite is how long a write() must last to be called blocked: a
// write on loopback spans its own segment and the ACK in microseconds;
// one that waited for the peer's window takes a scheduling round at
// least.
const blockedWrite = 10 * time.Millisecond

// blockedWriteWhy explains a write() that blocked while segments went by.
func (t *Text) blockedWriteWhy(ev *calls.Event) string {
	if ev.Call != calls.Write || ev.Errno != 0 || ev.Duration() < blockedWrite {
		return ""
	}
	return t.m("call.write.blocked", ev.Result, duration(ev.Duration()))
}

// delayedACK is how long after the data an ACK must come to be called
// delayed: far more than a loopback round trip, less than Linux's
// shortest delayed-ACK timeout (40 ms).
const delayedACK = 20 * time.Millisecond

// ackLessonWhy adds to the explanation of a pure ACK that came long after
// the data it acknowledges, while the sender's write() of that data had
// returned long before: the receiver's kernel delayed it.
func (t *Text) ackLessonWhy(c *decode.Connection, st *textStep) string {
	for i := len(t.current) - 1; i >= 0; i-- {
		d := &t.current[i]
		if !d.time.Before(st.time) || d.from == st.from {
			continue
		}
		if d.kind != decode.StepData {
			return ""
		}
		if gap := st.time.Sub(d.time); gap >= delayedACK && d.relSeq+uint32(d.len) == st.relAck && wroteBefore(c, d, st.time) {
			return t.m("why.ack.delayed", duration(gap))
		}
		return ""
	}
	return ""
}

// wroteBefore reports whether a write() seen on the side that sent data
// step d had returned, having sent it, before the time ack.
func wroteBefore(c *decode.Connection, d *textStep, ack time.Time) bool {
	for i := range c.Calls {
		ev := &c.Calls[i]
		if ev.Inferred || ev.Call != calls.Write || sideOf(c, ev) != d.from || ev.Exit.IsZero() {
			continue
		}
		if !ev.Enter.After(d.time) && ev.Exit.Before(ack) && !ev.Exit.Before(d.time) {
			return true
		}
	}
	return false
}
