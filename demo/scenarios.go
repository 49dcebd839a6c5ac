package demo

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
)

const (
	// gap separates the phases of a scenario (handshake, request and
	// reply, close), so that each phase's packets stand apart in a
	// capture and every call of one phase has returned before the next
	// begins. It is far longer than a loopback round trip (tens of µs)
	// and short enough for a run to take a fraction of a second.
	gap = 30 * time.Millisecond
	// afterFIN is how long a side waits after reading the peer's FIN
	// (EOF) before its next call. Linux delays the ACK of a FIN, hoping
	// to send it along with the reply's FIN or data; waiting longer than
	// the shortest delayed-ACK timeout (TCP_DELACK_MIN, 40 ms) lets the
	// ACK go out on its own, so the close shows as the textbook four
	// segments (FIN, ACK, FIN, ACK), each with its own state change.
	afterFIN = 60 * time.Millisecond
	// lateAcceptDelay is how long late-accept's server stays out of
	// accept() after the client's connect has returned.
	lateAcceptDelay = 200 * time.Millisecond
	// backlog is the listen backlog: room for shared-port's three
	// clients, which all connect before the server accepts any.
	backlog = 16
	// sharedPortClients is how many clients shared-port connects.
	sharedPortClients = 3
)

// The request and the reply have different lengths so that the bytes each
// way tell the directions apart in a capture.
var (
	request = []byte("hello from the client\n")
	reply   = []byte("hello back from the server\n")
)

// server and client build the two roles of a scenario.
func server(do func(*actor) error) role { return role{calls.Server, do} }
func client(do func(*actor) error) role { return role{calls.Client, do} }

// runHandshake: the default. The whole life of a connection: handshake,
// one request and one reply, the client closes first (so the client ends
// in TIME_WAIT), then the server.
func runHandshake(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	return r.together(
		server(func(a *actor) error {
			ls, err := a.listenOn(r.serverAddr())
			if err != nil {
				return err
			}
			ready <- ls.local
			c, err := a.accept(ls)
			if err != nil {
				return err
			}
			if err := a.receive(c, request); err != nil {
				return err
			}
			if err := a.send(c, reply); err != nil {
				return err
			}
			if err := a.receiveEOF(c); err != nil {
				return err
			}
			if err := a.pause(afterFIN); err != nil {
				return err
			}
			if err := a.close(c); err != nil {
				return err
			}
			return a.close(ls)
		}),
		client(func(a *actor) error {
			addr, err := await(a, ready)
			if err != nil {
				return err
			}
			c, err := a.dial(addr)
			if err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.send(c, request); err != nil {
				return err
			}
			if err := a.receive(c, reply); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			return a.close(c)
		}),
	)
}

// runRefused: the server binds its port but never calls listen(), so no
// socket accepts connections there and the kernel answers the client's
// SYN with RST; connect fails with ECONNREFUSED. Keeping the port bound
// while the client connects (rather than closing it first) keeps any
// other program from taking the port in between.
func runRefused(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	done := make(chan struct{})
	return r.together(
		server(func(a *actor) error {
			s, err := a.socket()
			if err != nil {
				return err
			}
			if err := a.reuseAddr(s); err != nil {
				return err
			}
			if err := a.bind(s, r.serverAddr()); err != nil {
				return err
			}
			ready <- s.local
			// No listen(): that is the point.
			if _, err := await(a, done); err != nil {
				return err
			}
			return a.close(s)
		}),
		client(func(a *actor) error {
			defer close(done)
			addr, err := await(a, ready)
			if err != nil {
				return err
			}
			c, err := a.socket()
			if err != nil {
				return err
			}
			err = a.connect(c, addr)
			if serr := a.stopped(); serr != nil {
				return serr
			}
			if !errors.Is(err, unix.ECONNREFUSED) {
				if err == nil {
					err = errors.New("it succeeded")
				}
				return a.failed(calls.Connect, fmt.Errorf("%v: want ECONNREFUSED: %w", addr, err))
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			return a.close(c)
		}),
	)
}

// runAbort: after the reply, the client sets SO_LINGER {on, 0} and closes:
// the kernel sends RST instead of FIN and no one enters TIME_WAIT. The
// server, waiting in read(), gets ECONNRESET.
func runAbort(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	return r.together(
		server(func(a *actor) error {
			ls, err := a.listenOn(r.serverAddr())
			if err != nil {
				return err
			}
			ready <- ls.local
			c, err := a.accept(ls)
			if err != nil {
				return err
			}
			if err := a.receive(c, request); err != nil {
				return err
			}
			if err := a.send(c, reply); err != nil {
				return err
			}
			if err := a.receiveReset(c); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.close(c); err != nil {
				return err
			}
			return a.close(ls)
		}),
		client(func(a *actor) error {
			addr, err := await(a, ready)
			if err != nil {
				return err
			}
			c, err := a.dial(addr)
			if err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.send(c, request); err != nil {
				return err
			}
			if err := a.receive(c, reply); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.lingerZero(c); err != nil {
				return err
			}
			return a.close(c)
		}),
	)
}

// runHalfClose: the client sends its request and then shuts down its
// sending direction (FIN) while still reading. The server reads the
// request, then EOF, and still sends its reply over the half-open
// connection before it closes; the client reads the reply, then EOF.
func runHalfClose(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	return r.together(
		server(func(a *actor) error {
			ls, err := a.listenOn(r.serverAddr())
			if err != nil {
				return err
			}
			ready <- ls.local
			c, err := a.accept(ls)
			if err != nil {
				return err
			}
			if err := a.receive(c, request); err != nil {
				return err
			}
			if err := a.receiveEOF(c); err != nil {
				return err
			}
			if err := a.pause(afterFIN); err != nil {
				return err
			}
			if err := a.send(c, reply); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.close(c); err != nil {
				return err
			}
			return a.close(ls)
		}),
		client(func(a *actor) error {
			addr, err := await(a, ready)
			if err != nil {
				return err
			}
			c, err := a.dial(addr)
			if err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.send(c, request); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.shutdown(c, unix.SHUT_WR); err != nil {
				return err
			}
			if err := a.receive(c, reply); err != nil {
				return err
			}
			if err := a.receiveEOF(c); err != nil {
				return err
			}
			if err := a.pause(afterFIN); err != nil {
				return err
			}
			return a.close(c)
		}),
	)
}

// runServerClosesFirst: the server closes right after its reply; the
// client reads EOF and closes too. The side that closes first is the one
// that ends in TIME_WAIT: here the server.
func runServerClosesFirst(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	return r.together(
		server(func(a *actor) error {
			ls, err := a.listenOn(r.serverAddr())
			if err != nil {
				return err
			}
			ready <- ls.local
			c, err := a.accept(ls)
			if err != nil {
				return err
			}
			if err := a.receive(c, request); err != nil {
				return err
			}
			if err := a.send(c, reply); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.close(c); err != nil {
				return err
			}
			return a.close(ls)
		}),
		client(func(a *actor) error {
			addr, err := await(a, ready)
			if err != nil {
				return err
			}
			c, err := a.dial(addr)
			if err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.send(c, request); err != nil {
				return err
			}
			if err := a.receive(c, reply); err != nil {
				return err
			}
			if err := a.receiveEOF(c); err != nil {
				return err
			}
			if err := a.pause(afterFIN); err != nil {
				return err
			}
			return a.close(c)
		}),
	)
}

// runUnreadDataClose: the client's request reaches the server's receive
// buffer, but the server closes without reading it. Closing a socket with
// unread data tells the peer that data was lost: the kernel sends RST, not
// FIN (RFC 9293 section 3.6.1, from RFC 1122 4.2.2.13). The client,
// waiting for a reply, gets ECONNRESET.
func runUnreadDataClose(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	written := make(chan struct{})
	return r.together(
		server(func(a *actor) error {
			ls, err := a.listenOn(r.serverAddr())
			if err != nil {
				return err
			}
			ready <- ls.local
			c, err := a.accept(ls)
			if err != nil {
				return err
			}
			if _, err := await(a, written); err != nil {
				return err
			}
			// Close only once the request is in the receive buffer,
			// unread: write() returning says nothing of when the
			// bytes arrive (over a slow link, half a round trip
			// later), and a close() before they came would send FIN,
			// not RST. Then keep the RST apart from them in time.
			if err := a.waitUnread(c, len(request)); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.close(c); err != nil {
				return err
			}
			return a.close(ls)
		}),
		client(func(a *actor) error {
			addr, err := await(a, ready)
			if err != nil {
				return err
			}
			c, err := a.dial(addr)
			if err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.send(c, request); err != nil {
				return err
			}
			close(written)
			if err := a.receiveReset(c); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			return a.close(c)
		}),
	)
}

// runLateAccept: the server listens but stays out of accept() for
// lateAcceptDelay after the client's connect has returned. The kernel
// completes the handshake on its own and queues the connection (and the
// client's request) on the listening socket; accept() later only takes it
// off the queue, and sends nothing.
func runLateAccept(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	connected := make(chan struct{})
	return r.together(
		server(func(a *actor) error {
			ls, err := a.listenOn(r.serverAddr())
			if err != nil {
				return err
			}
			ready <- ls.local
			if _, err := await(a, connected); err != nil {
				return err
			}
			if err := a.pause(lateAcceptDelay); err != nil {
				return err
			}
			c, err := a.accept(ls)
			if err != nil {
				return err
			}
			if err := a.receive(c, request); err != nil {
				return err
			}
			if err := a.send(c, reply); err != nil {
				return err
			}
			if err := a.receiveEOF(c); err != nil {
				return err
			}
			if err := a.pause(afterFIN); err != nil {
				return err
			}
			if err := a.close(c); err != nil {
				return err
			}
			return a.close(ls)
		}),
		client(func(a *actor) error {
			addr, err := await(a, ready)
			if err != nil {
				return err
			}
			c, err := a.dial(addr)
			if err != nil {
				return err
			}
			close(connected)
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.send(c, request); err != nil {
				return err
			}
			// Blocks until the server, accepting late, replies.
			if err := a.receive(c, reply); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			return a.close(c)
		}),
	)
}

// runSelfConnect: one socket binds a port and connects to that same
// address. Its SYN comes back to itself while it is in SYN_SENT, which
// TCP treats as a simultaneous open: it answers with a SYN-ACK (to itself)
// and the connection is established between the socket and itself. Then
// it closes.
func runSelfConnect(r *runner) error {
	return r.together(
		client(func(a *actor) error {
			s, err := a.socket()
			if err != nil {
				return err
			}
			// SO_REUSEADDR as every server of the demo sets it: with
			// --port, the scenarios run before this one leave
			// connections in TIME_WAIT on the port, and without it
			// bind() would fail with EADDRINUSE (issue 13, item 4).
			if err := a.reuseAddr(s); err != nil {
				return err
			}
			if err := a.bind(s, r.serverAddr()); err != nil {
				return err
			}
			if err := a.connect(s, s.local); err != nil {
				if serr := a.stopped(); serr != nil {
					return serr
				}
				return a.failed(calls.Connect, fmt.Errorf("%v to itself: %w", s.local, err))
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			return a.close(s)
		}),
	)
}

// runSharedPort: three clients connect to one listening socket, and the
// server accepts three sockets that all have the listening port as their
// local port. Only the 4-tuple (the clients' ports differ) tells them
// apart: one process holds several sockets on one port.
func runSharedPort(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	return r.together(
		server(func(a *actor) error {
			ls, err := a.listenOn(r.serverAddr())
			if err != nil {
				return err
			}
			ready <- ls.local
			conns := make([]*sock, sharedPortClients)
			for i := range conns {
				if conns[i], err = a.accept(ls); err != nil {
					return err
				}
			}
			for _, c := range conns {
				if err := a.receive(c, request); err != nil {
					return err
				}
				if err := a.send(c, reply); err != nil {
					return err
				}
			}
			for _, c := range conns {
				if err := a.receiveEOF(c); err != nil {
					return err
				}
			}
			if err := a.pause(afterFIN); err != nil {
				return err
			}
			for _, c := range conns {
				if err := a.close(c); err != nil {
					return err
				}
			}
			return a.close(ls)
		}),
		client(func(a *actor) error {
			addr, err := await(a, ready)
			if err != nil {
				return err
			}
			conns := make([]*sock, sharedPortClients)
			for i := range conns {
				if conns[i], err = a.dial(addr); err != nil {
					return err
				}
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			for _, c := range conns {
				if err := a.send(c, request); err != nil {
					return err
				}
				if err := a.receive(c, reply); err != nil {
					return err
				}
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			for _, c := range conns {
				if err := a.close(c); err != nil {
					return err
				}
			}
			return nil
		}),
	)
}
