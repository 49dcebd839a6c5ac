package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
)

// actor is one side (client or server) of a scenario, running on its own
// locked OS thread. Each of its methods makes exactly one syscall, timed
// around the syscall alone, and reports it as one calls.Event. Addresses
// are learnt with getsockname and getpeername, which are not reported:
// they put nothing on the wire and are not part of the call sequences
// the demo shows.
type actor struct {
	r     *runner
	side  calls.Side
	tid   int
	socks []*sock // every socket this actor made or accepted
}

// now is the wall clock (CLOCK_REALTIME, what packet timestamps use)
// without Go's monotonic reading, so that event times compare with packet
// times the same way they compare with each other.
func now() time.Time { return time.Now().Round(0) }

func (r *runner) event(side calls.Side, tid int, call calls.Call, s *sock, detail string) calls.Event {
	ev := calls.Event{
		Side: side, Call: call, FD: -1, Detail: detail,
		PID: r.pid, TID: tid, Comm: r.comm, Scenario: r.scenario,
	}
	if s != nil {
		ev.FD, ev.Local, ev.Remote = s.fd, s.local, s.remote
	}
	return ev
}

func (r *runner) emit(ev calls.Event) {
	if r.opts.Calls == nil {
		return
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.opts.Calls(ev)
}

// setResult fills in what the syscall returned: result on success, -1 and
// the errno on failure, as the C library would report them.
func setResult(ev *calls.Event, result int, err error) {
	if err == nil {
		ev.Result = result
		return
	}
	ev.Result = -1
	var errno syscall.Errno
	if errors.As(err, &errno) {
		ev.Errno = errno
	}
}

func (a *actor) event(call calls.Call, s *sock, detail string) calls.Event {
	return a.r.event(a.side, a.tid, call, s, detail)
}

// failed wraps a syscall's error with who made which call.
func (a *actor) failed(call calls.Call, err error) error {
	return fmt.Errorf("%s: %s: %w", a.side, call, err)
}

// socket makes a TCP socket. It refuses once the run is stopping, so that
// nothing is opened after the watchdog has woken everything.
func (a *actor) socket() (*sock, error) {
	r := a.r
	detail := "AF_INET, SOCK_STREAM"
	if r.family == unix.AF_INET6 {
		detail = "AF_INET6, SOCK_STREAM"
	}
	ev := a.event(calls.Socket, nil, detail)

	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return nil, context.Cause(r.ctx)
	}
	ev.Enter = now()
	// Blocking mode on purpose (no SOCK_NONBLOCK): each call then
	// blocks in the kernel until done, so enter and exit bracket what it
	// did. CLOEXEC so that a program the caller starts later does not
	// inherit the demo's sockets.
	fd, err := unix.Socket(r.family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	ev.Exit = now()
	var s *sock
	if err == nil {
		s = &sock{fd: fd, side: a.side}
		r.open[fd] = s
		a.socks = append(a.socks, s)
		ev.FD = fd
	}
	r.mu.Unlock()

	setResult(&ev, fd, err)
	r.emit(ev)
	if err != nil {
		return nil, a.failed(calls.Socket, err)
	}
	return s, nil
}

func (a *actor) setsockopt(s *sock, detail string, set func(fd int) error) error {
	ev := a.event(calls.SetSockOpt, s, detail)
	ev.Enter = now()
	err := set(s.fd)
	ev.Exit = now()
	setResult(&ev, 0, err)
	a.r.emit(ev)
	if err != nil {
		return a.failed(calls.SetSockOpt, fmt.Errorf("%s: %w", detail, err))
	}
	return nil
}

// reuseAddr sets SO_REUSEADDR, so that a server can bind a port on which
// connections of an earlier run still sit in TIME_WAIT. It does not let
// two sockets listen on one port.
func (a *actor) reuseAddr(s *sock) error {
	return a.setsockopt(s, "SO_REUSEADDR", func(fd int) error {
		return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	})
}

// setInt sets an integer socket option, reported as detail.
func (a *actor) setInt(s *sock, detail string, level, opt, value int) error {
	return a.setsockopt(s, detail, func(fd int) error {
		return unix.SetsockoptInt(fd, level, opt, value)
	})
}

// lingerZero sets SO_LINGER {on, 0 s}: close() then discards unsent data
// and sends RST instead of FIN.
func (a *actor) lingerZero(s *sock) error {
	return a.setsockopt(s, "SO_LINGER 0", func(fd int) error {
		return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	})
}

// bind binds s to addr. The event's Local is the address the socket got,
// which for port 0 is the port the kernel chose (Detail says so).
func (a *actor) bind(s *sock, addr netip.AddrPort) error {
	err := a.tryBind(s, addr)
	if errors.Is(err, unix.EADDRINUSE) && a.r.opts.Port != 0 {
		return &PortInUseError{Addr: addr}
	}
	if err != nil {
		return a.failed(calls.Bind, fmt.Errorf("%v: %w", addr, err))
	}
	return nil
}

// tryBind is bind returning the syscall's error unwrapped, so that a
// scenario can expect one (port-in-use expects EADDRINUSE).
func (a *actor) tryBind(s *sock, addr netip.AddrPort) error {
	sa := sockaddr(addr)
	ev := a.event(calls.Bind, s, "")
	ev.Local = addr
	ev.Enter = now()
	err := unix.Bind(s.fd, sa)
	ev.Exit = now()
	if err == nil {
		a.r.setAddrs(s, localAddr(s.fd, addr), s.remote)
		ev.Local = s.local
		if addr.Port() == 0 {
			ev.Detail = fmt.Sprintf("port 0: the kernel chose port %d", s.local.Port())
		}
	}
	setResult(&ev, 0, err)
	a.r.emit(ev)
	return err
}

func (a *actor) listen(s *sock, backlog int) error {
	ev := a.event(calls.Listen, s, fmt.Sprintf("backlog %d", backlog))
	ev.Enter = now()
	err := unix.Listen(s.fd, backlog)
	ev.Exit = now()
	setResult(&ev, 0, err)
	a.r.emit(ev)
	a.rewake(s)
	if err != nil {
		return a.failed(calls.Listen, err)
	}
	return nil
}

// accept takes the next established connection off ls's queue. The
// event's FD is the listening socket, Result the new one, and Local and
// Remote the new connection's 4-tuple: the local port is the listening
// port, shared by every accepted socket.
func (a *actor) accept(ls *sock) (*sock, error) {
	r := a.r
	ev := a.event(calls.Accept, ls, "")
	ev.Enter = now()
	fd, sa, err := unix.Accept4(ls.fd, unix.SOCK_CLOEXEC)
	ev.Exit = now()
	var s *sock
	if err == nil {
		s = &sock{fd: fd, side: a.side, remote: addrPort(sa)}
		s.local = localAddr(fd, ls.local)
		r.mu.Lock()
		r.open[fd] = s
		if r.stopped {
			// The watchdog has already woken everything; wake this
			// one too, so the side cannot block on it.
			unix.Shutdown(fd, unix.SHUT_RDWR)
		}
		r.mu.Unlock()
		a.socks = append(a.socks, s)
		ev.Local, ev.Remote = s.local, s.remote
	}
	setResult(&ev, fd, err)
	r.emit(ev)
	if err != nil {
		return nil, a.failed(calls.Accept, err)
	}
	return s, nil
}

// connect connects s to addr and returns the syscall's error unwrapped,
// so that a scenario can expect one (refused expects ECONNREFUSED).
// The event's Local is the address the kernel gave the socket.
func (a *actor) connect(s *sock, addr netip.AddrPort) error {
	sa := sockaddr(addr)
	ev := a.event(calls.Connect, s, "")
	ev.Remote = addr
	ev.Enter = now()
	err := unix.Connect(s.fd, sa)
	ev.Exit = now()
	local, remote := localAddr(s.fd, s.local), s.remote
	if err != nil && local.Port() != 0 && local.Addr().IsUnspecified() {
		// A refused connect still had a local port, the one its SYN
		// came from, but the kernel has already cleared the socket's
		// source address. On loopback that address is the loopback
		// address, so say so: it lets the call be matched with its
		// SYN and RST by 4-tuple.
		local = netip.AddrPortFrom(a.r.clientLoop, local.Port())
	}
	if err == nil {
		remote = addr
	}
	a.r.setAddrs(s, local, remote)
	ev.Local = local
	setResult(&ev, 0, err)
	a.r.emit(ev)
	a.rewake(s)
	return err
}

func (a *actor) write(s *sock, data []byte) (int, error) {
	ev := a.event(calls.Write, s, quote(data))
	ev.Enter = now()
	n, err := unix.Write(s.fd, data)
	ev.Exit = now()
	setResult(&ev, n, err)
	a.r.emit(ev)
	return n, err
}

// maxQuoted is how much of the data a read or write event quotes: enough
// for the demo's messages, and no megabyte of quoted bulk data.
const maxQuoted = 64

// quote is data in Go syntax, safe to print, cut after maxQuoted bytes
// with the full length said.
func quote(data []byte) string {
	if len(data) <= maxQuoted {
		return fmt.Sprintf("%q", data)
	}
	return fmt.Sprintf("%q… (%d bytes)", data[:maxQuoted], len(data))
}

func (a *actor) read(s *sock, buf []byte) (int, error) {
	ev := a.event(calls.Read, s, "")
	ev.Enter = now()
	n, err := unix.Read(s.fd, buf)
	ev.Exit = now()
	switch {
	case err != nil:
	case n == 0:
		ev.Detail = "EOF: the peer sent FIN"
	default:
		ev.Detail = quote(buf[:n])
	}
	setResult(&ev, n, err)
	a.r.emit(ev)
	return n, err
}

func (a *actor) shutdown(s *sock, how int) error {
	detail := map[int]string{unix.SHUT_RD: "SHUT_RD", unix.SHUT_WR: "SHUT_WR", unix.SHUT_RDWR: "SHUT_RDWR"}[how]
	ev := a.event(calls.Shutdown, s, detail)
	ev.Enter = now()
	err := unix.Shutdown(s.fd, how)
	ev.Exit = now()
	setResult(&ev, 0, err)
	a.r.emit(ev)
	if err != nil {
		return a.failed(calls.Shutdown, err)
	}
	return nil
}

// close closes s. It holds r.mu across the syscall so that the watchdog
// never shuts down an fd number that has just been closed and reused.
func (a *actor) close(s *sock) error {
	r := a.r
	ev := a.event(calls.Close, s, "")
	r.mu.Lock()
	ev.Enter = now()
	err := unix.Close(s.fd)
	ev.Exit = now()
	// On Linux the fd is gone even when close fails, so it is never
	// closed twice.
	delete(r.open, s.fd)
	s.closed = true
	r.mu.Unlock()
	setResult(&ev, 0, err)
	r.emit(ev)
	if err != nil {
		return a.failed(calls.Close, err)
	}
	return nil
}

// rewake shuts s down if the run has stopped. The watchdog's shutdown of
// a socket that was neither listening nor connected yet does nothing
// (ENOTCONN), so a listen or connect that completes after the watchdog
// ran must be followed by another shutdown, or the accept or read after
// it would block for good.
func (a *actor) rewake(s *sock) {
	r := a.r
	r.mu.Lock()
	if !r.stopped {
		r.mu.Unlock()
		return
	}
	ev := a.event(calls.Shutdown, s, "SHUT_RDWR (stopping the run)")
	ev.Enter = now()
	err := unix.Shutdown(s.fd, unix.SHUT_RDWR)
	ev.Exit = now()
	r.mu.Unlock()
	setResult(&ev, 0, err)
	r.emit(ev)
}

// setAddrs records what is now known of s's addresses. Only the actor
// that owns s writes them, but the watchdog reads them (for its events),
// hence r.mu.
func (r *runner) setAddrs(s *sock, local, remote netip.AddrPort) {
	r.mu.Lock()
	s.local, s.remote = local, remote
	r.mu.Unlock()
}

// closeAll closes what the actor left open, typically after a failure.
func (a *actor) closeAll() error {
	var first error
	for _, s := range a.socks {
		if !s.closed {
			if err := a.close(s); err != nil && first == nil {
				first = err
			}
		}
	}
	return first
}

// The helpers below combine calls into the steps of a scenario. Each call
// they make is still reported on its own.

// stopped returns the reason the run is stopping, or nil. A step that a
// woken call cut short reports this instead of the call's own error.
func (a *actor) stopped() error {
	if a.r.ctx.Err() != nil {
		return context.Cause(a.r.ctx)
	}
	return nil
}

// pause sleeps for d, or less if the run stops.
func (a *actor) pause(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-a.r.ctx.Done():
		return context.Cause(a.r.ctx)
	}
}

// await waits for the other side to send on ch, or for the run to stop.
func await[T any](a *actor, ch <-chan T) (T, error) {
	select {
	case v := <-ch:
		return v, nil
	case <-a.r.ctx.Done():
		var zero T
		return zero, context.Cause(a.r.ctx)
	}
}

// listenOn makes a server's listening socket: socket, SO_REUSEADDR, bind,
// listen — the server flow of the seed note up to the point where it
// waits for connection requests.
func (a *actor) listenOn(addr netip.AddrPort) (*sock, error) {
	s, err := a.socket()
	if err != nil {
		return nil, err
	}
	if err := a.reuseAddr(s); err != nil {
		return nil, err
	}
	if err := a.bind(s, addr); err != nil {
		return nil, err
	}
	if err := a.listen(s, backlog); err != nil {
		return nil, err
	}
	return s, nil
}

// dial makes a client socket and connects it to addr.
func (a *actor) dial(addr netip.AddrPort) (*sock, error) {
	s, err := a.socket()
	if err != nil {
		return nil, err
	}
	if err := a.connect(s, addr); err != nil {
		if serr := a.stopped(); serr != nil {
			return nil, serr
		}
		return nil, a.failed(calls.Connect, fmt.Errorf("%v: %w", addr, err))
	}
	return s, nil
}

// send writes all of msg, one write call per chunk the kernel takes.
func (a *actor) send(s *sock, msg []byte) error {
	for len(msg) > 0 {
		n, err := a.write(s, msg)
		if serr := a.stopped(); serr != nil {
			return serr
		}
		if err != nil {
			return a.failed(calls.Write, err)
		}
		msg = msg[n:]
	}
	return nil
}

// receive reads until it has exactly want, one read call per chunk that
// arrives (on loopback, a small message arrives whole).
func (a *actor) receive(s *sock, want []byte) error {
	got := make([]byte, 0, len(want))
	buf := make([]byte, len(want))
	for len(got) < len(want) {
		n, err := a.read(s, buf[:len(want)-len(got)])
		if serr := a.stopped(); serr != nil {
			return serr
		}
		if err != nil {
			return a.failed(calls.Read, err)
		}
		if n == 0 {
			return a.failed(calls.Read, fmt.Errorf("the peer closed after %d of %d bytes", len(got), len(want)))
		}
		got = append(got, buf[:n]...)
	}
	if !bytes.Equal(got, want) {
		return a.failed(calls.Read, fmt.Errorf("got %q, want %q", got, want))
	}
	return nil
}

// receiveEOF reads once and expects end of file: the peer's FIN.
func (a *actor) receiveEOF(s *sock) error {
	buf := make([]byte, 64)
	n, err := a.read(s, buf)
	if serr := a.stopped(); serr != nil {
		return serr
	}
	switch {
	case err != nil:
		return a.failed(calls.Read, fmt.Errorf("want EOF: %w", err))
	case n > 0:
		return a.failed(calls.Read, fmt.Errorf("want EOF, got %q", buf[:n]))
	}
	return nil
}

// receiveReset reads once and expects the peer's RST: ECONNRESET.
func (a *actor) receiveReset(s *sock) error {
	buf := make([]byte, 64)
	n, err := a.read(s, buf)
	if serr := a.stopped(); serr != nil {
		return serr
	}
	switch {
	case errors.Is(err, unix.ECONNRESET):
		return nil
	case err != nil:
		return a.failed(calls.Read, fmt.Errorf("want ECONNRESET: %w", err))
	case n == 0:
		return a.failed(calls.Read, errors.New("want ECONNRESET, got EOF (the peer sent FIN, not RST)"))
	default:
		return a.failed(calls.Read, fmt.Errorf("want ECONNRESET, got %q", buf[:n]))
	}
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// localAddr asks the kernel for fd's local address, falling back to what
// was known before if it cannot say.
func localAddr(fd int, known netip.AddrPort) netip.AddrPort {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return known
	}
	if ap := addrPort(sa); ap.IsValid() {
		return ap
	}
	return known
}
