package demo

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
)

// udpSocket makes a UDP socket (SOCK_DGRAM). Like socket, it refuses
// once the run is stopping.
func (a *actor) udpSocket() (*sock, error) {
	r := a.r
	detail := "AF_INET, SOCK_DGRAM"
	if r.family == unix.AF_INET6 {
		detail = "AF_INET6, SOCK_DGRAM"
	}
	ev := a.event(calls.Socket, nil, detail)
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return nil, fmt.Errorf("%s: %s: %w", a.side, calls.Socket, a.stopped())
	}
	ev.Enter = now()
	fd, err := unix.Socket(r.family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	ev.Exit = now()
	var s *sock
	if err == nil {
		s = &sock{fd: fd, side: a.side, datagram: true}
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

// sendTo sends data as one datagram to addr. An unbound socket gets an
// ephemeral port from the kernel on its first sendto, which the event's
// Local then shows.
func (a *actor) sendTo(s *sock, data []byte, addr netip.AddrPort) error {
	ev := a.event(calls.SendTo, s, quote(data))
	ev.Remote = addr
	ev.Enter = now()
	err := unix.Sendto(s.fd, data, 0, sockaddr(addr))
	ev.Exit = now()
	if err == nil {
		local := localAddr(s.fd, s.local)
		if local.Addr().IsUnspecified() {
			// The kernel bound the socket to the wildcard address
			// and a port; on loopback the datagram left from the
			// loopback address, which is what matches it in a
			// capture.
			local = netip.AddrPortFrom(a.r.loop, local.Port())
		}
		a.r.setAddrs(s, local, s.remote)
		ev.Local = s.local
	}
	setResult(&ev, len(data), err)
	a.r.emit(ev)
	if err != nil {
		return a.failed(calls.SendTo, fmt.Errorf("to %v: %w", addr, err))
	}
	return nil
}

// recvFrom receives one datagram into buf and returns its length and
// sender. The event's Remote is the sender.
func (a *actor) recvFrom(s *sock, buf []byte) (int, netip.AddrPort, error) {
	ev := a.event(calls.RecvFrom, s, "")
	ev.Enter = now()
	n, sa, err := unix.Recvfrom(s.fd, buf, 0)
	ev.Exit = now()
	var from netip.AddrPort
	if err == nil {
		from = addrPort(sa)
		ev.Remote = from
		ev.Detail = quote(buf[:n])
	}
	setResult(&ev, n, err)
	a.r.emit(ev)
	return n, from, err
}

// receiveDatagram receives one datagram and expects it to be want,
// whole: UDP keeps the boundaries of what was sent.
func (a *actor) receiveDatagram(s *sock, want []byte) (netip.AddrPort, error) {
	buf := make([]byte, 2*len(want)+64)
	n, from, err := a.recvFrom(s, buf)
	if serr := a.stopped(); serr != nil {
		return from, serr
	}
	if err != nil {
		return from, a.failed(calls.RecvFrom, err)
	}
	if string(buf[:n]) != string(want) {
		return from, a.failed(calls.RecvFrom, fmt.Errorf("got %q, want the datagram %q whole", buf[:n], want))
	}
	return from, nil
}

// freeUDPPort finds a UDP port no socket is bound to: it binds port 0,
// reads the port the kernel chose and closes the socket. Not reported:
// it is setup, not part of the lesson. Another program could take the
// port in between; on loopback, during a demo, none does.
func (r *runner) freeUDPPort() (netip.AddrPort, error) {
	fd, err := unix.Socket(r.family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("finding a free UDP port: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(r.loop, 0))); err != nil {
		return netip.AddrPort{}, fmt.Errorf("finding a free UDP port: %w", err)
	}
	return localAddr(fd, netip.AddrPortFrom(r.loop, 0)), nil
}

// The datagrams of the udp scenario: two requests of different lengths,
// to show that each arrives as sent, and one reply.
var (
	udpFirst  = []byte("first datagram\n")
	udpSecond = []byte("the second, longer datagram\n")
	udpReply  = []byte("one datagram back\n")
	udpLost   = []byte("anyone there?\n")
)

// runUDP: "IP, port and protocol". A UDP server binds its port and
// receives; the client sends two datagrams with sendto() — no
// handshake, no connection — and the server receives each whole with
// recvfrom(), learning who sent it, and answers with sendto(). Nothing
// acknowledges a datagram and nothing retransmits one; no FIN ends the
// exchange, close() sends nothing. Then a connected UDP socket (connect
// sends nothing, it only fixes the peer) sends to a port with no socket:
// the kernel answers with ICMP port unreachable, and the socket's next
// call, recv(), fails with ECONNREFUSED.
func runUDP(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	// The server's end finds the port with no socket: over a slow link
	// (--rtt) the two ends are in different network namespaces, and only
	// the server's has the server's address.
	deadPort := make(chan netip.AddrPort, 1)
	return r.together(
		server(func(a *actor) error {
			s, err := a.udpSocket()
			if err != nil {
				return err
			}
			if err := a.bind(s, r.serverAddr()); err != nil {
				return err
			}
			ready <- s.local
			from, err := a.receiveDatagram(s, udpFirst)
			if err != nil {
				return err
			}
			if _, err := a.receiveDatagram(s, udpSecond); err != nil {
				return err
			}
			if err := a.sendTo(s, udpReply, from); err != nil {
				return err
			}
			if err := a.close(s); err != nil {
				return err
			}
			dead, err := r.freeUDPPort()
			if err != nil {
				return a.failed(calls.Bind, err)
			}
			deadPort <- dead
			return nil
		}),
		client(func(a *actor) error {
			addr, err := await(a, ready)
			if err != nil {
				return err
			}
			s, err := a.udpSocket()
			if err != nil {
				return err
			}
			if err := a.sendTo(s, udpFirst, addr); err != nil {
				return err
			}
			if err := a.sendTo(s, udpSecond, addr); err != nil {
				return err
			}
			if _, err := a.receiveDatagram(s, udpReply); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.close(s); err != nil {
				return err
			}
			// A connected UDP socket, to a port nobody has bound.
			dead, err := await(a, deadPort)
			if err != nil {
				return err
			}
			c, err := a.udpSocket()
			if err != nil {
				return err
			}
			if err := a.connect(c, dead); err != nil {
				if serr := a.stopped(); serr != nil {
					return serr
				}
				return a.failed(calls.Connect, fmt.Errorf("UDP to %v: %w", dead, err))
			}
			if _, err := a.write(c, udpLost); err != nil {
				if serr := a.stopped(); serr != nil {
					return serr
				}
				return a.failed(calls.Write, err)
			}
			// Blocks until the ICMP error comes back and is reported.
			buf := make([]byte, 64)
			_, err = a.read(c, buf)
			if err := a.expectErrno(calls.Read, fmt.Sprintf("recv on a UDP socket connected to %v, where nothing listens", dead), err, unix.ECONNREFUSED); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			return a.close(c)
		}),
	)
}
