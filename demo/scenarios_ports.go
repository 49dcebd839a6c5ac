package demo

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
)

// reusePortClients is how many clients reuseport connects: enough that
// the kernel's hash of their 4-tuples usually sends some to each of the
// two listeners (all four to one happens one run in eight).
const reusePortClients = 4

// expectErrno checks that a call the scenario made to fail failed with
// want.
func (a *actor) expectErrno(call calls.Call, what string, err, want error) error {
	if serr := a.stopped(); serr != nil {
		return serr
	}
	if errors.Is(err, want) {
		return nil
	}
	if err == nil {
		err = errors.New("it succeeded")
	}
	return a.failed(call, fmt.Errorf("%s: want %v: %w", what, want, err))
}

// runPortInUse: "a port already in use cannot be used again". While the
// first server listens, a second socket's bind() to the same address
// fails with EADDRINUSE. Then the first server serves one client and
// closes first, so its side of the connection waits in TIME_WAIT on the
// port; with the listener closed too, nothing listens there, yet bind()
// without SO_REUSEADDR still fails, and with SO_REUSEADDR it succeeds.
func runPortInUse(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	return r.together(
		server(func(a *actor) error {
			ls, err := a.listenOn(r.serverAddr())
			if err != nil {
				return err
			}
			// A second server on the same address, as a second
			// copy of a program would try.
			second, err := a.socket()
			if err != nil {
				return err
			}
			err = a.tryBind(second, ls.local)
			if err := a.expectErrno(calls.Bind, fmt.Sprintf("a second bind to %v while it listens", ls.local), err, unix.EADDRINUSE); err != nil {
				return err
			}
			if err := a.close(second); err != nil {
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
			// The server closes its sending side first (FIN), so that
			// its end, not the client's, ends in TIME_WAIT; shutdown
			// rather than close lets it read the client's FIN, and
			// when read() returns 0 the connection is in TIME_WAIT.
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.shutdown(c, unix.SHUT_WR); err != nil {
				return err
			}
			if err := a.receiveEOF(c); err != nil {
				return err
			}
			if err := a.close(c); err != nil {
				return err
			}
			if err := a.close(ls); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			// Nothing listens on the port now, but the connection in
			// TIME_WAIT still holds it.
			again, err := a.socket()
			if err != nil {
				return err
			}
			err = a.tryBind(again, ls.local)
			what := fmt.Sprintf("bind to %v with a connection in TIME_WAIT, without SO_REUSEADDR", ls.local)
			if err == nil {
				if n, max, ok := timeWaitTableFull(); ok {
					what = fmt.Sprintf("bind to %v without SO_REUSEADDR after the connection closed: the kernel had no room to keep it in TIME_WAIT "+
						"(%d connections are, at most %d: net.ipv4.tcp_max_tw_buckets); wait a minute for them to expire", ls.local, n, max)
				}
			}
			if err := a.expectErrno(calls.Bind, what, err, unix.EADDRINUSE); err != nil {
				return err
			}
			if err := a.close(again); err != nil {
				return err
			}
			reused, err := a.socket()
			if err != nil {
				return err
			}
			if err := a.reuseAddr(reused); err != nil {
				return err
			}
			if err := a.tryBind(reused, ls.local); err != nil {
				return a.failed(calls.Bind, fmt.Errorf("bind to %v with SO_REUSEADDR: %w", ls.local, err))
			}
			return a.close(reused)
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

// runReusePort: "one process can bind several sockets to the same
// port". Two listening sockets in one process set SO_REUSEPORT and bind
// the same address; the kernel spreads the clients' connections between
// them by a hash of each 4-tuple. Each accept() names its listening
// socket, so the report shows which one took which connection. Contrast
// with shared-port: one listener, many accepted sockets.
func runReusePort(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	connected := make(chan struct{})
	return r.together(
		server(func(a *actor) error {
			var ls [2]*sock
			for i := range ls {
				s, err := a.socket()
				if err != nil {
					return err
				}
				ls[i] = s
				if err := a.reuseAddr(s); err != nil {
					return err
				}
				if err := a.setInt(s, "SO_REUSEPORT", unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
					return err
				}
				addr := r.serverAddr()
				if i > 0 {
					addr = ls[0].local // the port the first one got
				}
				if err := a.bind(s, addr); err != nil {
					return err
				}
				if err := a.listen(s, backlog); err != nil {
					return err
				}
			}
			ready <- ls[0].local
			if _, err := await(a, connected); err != nil {
				return err
			}
			conns := make([]*sock, 0, reusePortClients)
			for len(conns) < reusePortClients {
				l, err := a.waitAcceptable(ls[:])
				if err != nil {
					return err
				}
				c, err := a.accept(l)
				if err != nil {
					return err
				}
				conns = append(conns, c)
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
			for _, l := range ls {
				if err := a.close(l); err != nil {
					return err
				}
			}
			return nil
		}),
		client(func(a *actor) error {
			addr, err := await(a, ready)
			if err != nil {
				return err
			}
			conns := make([]*sock, reusePortClients)
			for i := range conns {
				if conns[i], err = a.dial(addr); err != nil {
					return err
				}
			}
			close(connected)
			if err := a.pause(gap); err != nil {
				return err
			}
			// Every request first, then every reply: the server serves
			// the connections in the order it accepted them, which
			// the kernel's spreading decides.
			for _, c := range conns {
				if err := a.send(c, request); err != nil {
					return err
				}
			}
			for _, c := range conns {
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

// waitAcceptable waits until one of the listening sockets has a finished
// handshake queued, and returns it, so that the accept() that follows
// does not block. poll() is not reported: like getsockname, it puts
// nothing on the wire. It polls in short rounds so that a stopping run is
// noticed even if the wake-up shutdown of a listener did not wake poll.
func (a *actor) waitAcceptable(ls []*sock) (*sock, error) {
	fds := make([]unix.PollFd, len(ls))
	for {
		for i, l := range ls {
			fds[i] = unix.PollFd{Fd: int32(l.fd), Events: unix.POLLIN}
		}
		n, err := unix.Poll(fds, 100)
		if serr := a.stopped(); serr != nil {
			return nil, serr
		}
		if err != nil && !errors.Is(err, unix.EINTR) {
			return nil, a.failed(calls.Accept, fmt.Errorf("poll: %w", err))
		}
		if n > 0 {
			for i, fd := range fds {
				if fd.Revents&unix.POLLIN != 0 {
					return ls[i], nil
				}
			}
		}
	}
}

// timeWaitTableFull reports whether the kernel's table of connections in
// TIME_WAIT is full (then it closes a connection at once instead, and
// counts it in TcpExtTCPTimeWaitOverflow): how many it holds and at most.
func timeWaitTableFull() (n, max int, full bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_max_tw_buckets")
	if err != nil {
		return 0, 0, false
	}
	if max, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return 0, 0, false
	}
	// The calling thread's network namespace: an actor of a slow-link
	// scenario runs in one of its own.
	b, err = os.ReadFile("/proc/thread-self/net/sockstat")
	if err != nil {
		return 0, 0, false
	}
	n, ok := sockstatTimeWait(string(b))
	return n, max, ok && n >= max-max/100
}

// sockstatTimeWait reads the count of TCP connections in TIME_WAIT from
// /proc/net/sockstat: "TCP: inuse 5 orphan 0 tw 131072 alloc 9 mem 1".
func sockstatTimeWait(sockstat string) (int, bool) {
	for _, line := range strings.Split(sockstat, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			if f[i] == "tw" {
				n, err := strconv.Atoi(f[i+1])
				return n, err == nil
			}
		}
	}
	return 0, false
}
