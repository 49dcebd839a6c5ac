package decode

import (
	"net/netip"
	"syscall"
	"time"

	"github.com/socktrace/socktrace/calls"
)

// inferCalls adds the socket calls a step implies when nothing observed
// them: a SYN implies connect(), the ACK that completes the handshake lets
// accept() return, a FIN implies close() or shutdown(SHUT_WR), a RST after
// the handshake implies close(). Inferred calls carry the time of the
// segment that implies them and are marked Inferred.
func (c *Connection) inferCalls(st *Step) {
	s := st.Segment
	side := calls.Client
	if st.From == Server {
		side = calls.Server
	}
	ev := calls.Event{Side: side, FD: -1, Enter: s.Time, Inferred: true, Scenario: c.Scenario}
	switch st.Kind {
	case StepSYN:
		ev.Call, ev.Local, ev.Remote = calls.Connect, s.Src, s.Dst
		ev.Detail = "SYN on the wire"
		c.addCall(ev)
	case StepSimultaneousSYN:
		// The server side sent a SYN of its own: it called connect()
		// too (a simultaneous open), and no socket listened.
		if !c.SelfConnect {
			ev.Call, ev.Local, ev.Remote = calls.Connect, s.Src, s.Dst
			ev.Detail = "SYN on the wire (simultaneous open)"
			c.addCall(ev)
		}
	case StepSYNACK:
		if st.From == Server && !c.SelfConnect {
			ev.Call, ev.Local, ev.Remote = calls.Listen, s.Src, netip.AddrPort{}
			ev.Enter = time.Time{}
			ev.Detail = "a listening socket answered the SYN"
			c.addCall(ev)
		}
	case StepHandshakeACK:
		if st.From == Client {
			// The server's kernel finished the handshake on its own; an
			// accept() returns this connection from here on.
			ev.Side, ev.Call = calls.Server, calls.Accept
			ev.Local, ev.Remote = s.Dst, s.Src
			ev.Enter = time.Time{}
			ev.Detail = "can return from here: the kernel completed the handshake"
			c.addCall(ev)
		}
	case StepFIN:
		ev.Call, ev.Local, ev.Remote = calls.Close, s.Src, s.Dst
		ev.Detail = "close() or shutdown(SHUT_WR): FIN on the wire"
		c.addCall(ev)
	case StepRST:
		if st.Probes > 0 {
			// The keep-alive timer reset the connection: no call did.
			break
		}
		ev.Call, ev.Local, ev.Remote = calls.Close, s.Src, s.Dst
		ev.Detail = "close() that reset the connection (SO_LINGER 0, or unread data)"
		c.addCall(ev)
	}
	if st.From == Client && st.Before[Server] != Established && st.After[Server] == Established && !c.SelfConnect {
		// The other connect() of a simultaneous open returns when its
		// side is established (the calls are few this early).
		for i := range c.Calls {
			if ev := &c.Calls[i]; ev.Inferred && ev.Side == calls.Server && ev.Call == calls.Connect && ev.Exit.IsZero() {
				ev.Exit = s.Time
			}
		}
	}
	// connect() returns when the client's kernel has its answer.
	if i := c.pendingConnect; i > 0 && i <= len(c.Calls) {
		ev := &c.Calls[i-1]
		switch {
		case st.Kind == StepRefused:
			ev.Exit, ev.Result, ev.Errno = s.Time, -1, syscall.ECONNREFUSED
			c.pendingConnect = 0
		case c.State(Client) == Established:
			ev.Exit = s.Time
			c.pendingConnect = 0
		}
	}
}

func (c *Connection) addCall(ev calls.Event) {
	if !c.keepCall(&ev) {
		return
	}
	c.Calls = append(c.Calls, ev)
	if ev.Call == calls.Connect && ev.Inferred && ev.Side == calls.Client {
		c.pendingConnect = len(c.Calls)
	}
}
