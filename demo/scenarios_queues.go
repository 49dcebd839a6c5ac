package demo

import (
	"bytes"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
)

const (
	// backlogFullBacklog is backlog-full's listen backlog. Linux queues
	// one more finished handshake than the backlog (the queue is full
	// when it holds more than the backlog), so two clients get in.
	backlogFullBacklog = 1
	// backlogFullClients is how many clients backlog-full connects: the
	// accept queue takes two, the third's SYNs are dropped.
	backlogFullClients = 3

	// bulkSize is how much send-buffer's client writes in one write():
	// far more than the server's receive buffer and the client's send
	// buffer together hold, so that write() must wait for the server.
	bulkSize = 128 << 10
	// smallBuffer is the SO_SNDBUF and SO_RCVBUF send-buffer sets (the
	// kernel doubles it for its bookkeeping).
	smallBuffer = 16 << 10
	// bulkHold is how long send-buffer's server leaves the bulk data
	// unread once the client's write() is blocked on it, so that the
	// window has time to close to zero. The scenario's order does not
	// depend on it: the server waits for the bulk data and an ACK of it
	// first.
	bulkHold = 300 * time.Millisecond
)

// runBacklogFull: "listen() waits for requests", and how many. The
// server calls listen(fd, 1) and does not accept. The kernel completes
// the first two clients' handshakes on its own into the accept queue;
// then the queue is full and it drops the third client's SYN, which the
// client's kernel retransmits (after 1 s, then 2 s or 3 s after the SYN,
// depending on the kernel) while its connect() blocks. The server stays
// out of accept() until the client's kernel has retransmitted the SYN
// (read from the client's TCP_INFO, not guessed with a sleep, which a
// loaded machine can make end before the retransmission); accept() then
// drains the queue, and the next retransmitted SYN is answered (or the
// one just sent, if accept() beat it to the listener).
func runBacklogFull(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	queued := make([]chan struct{}, backlogFullClients)
	for i := range queued {
		queued[i] = make(chan struct{})
	}
	// connecting carries the third client's socket, just before its
	// connect().
	connecting := make(chan *sock, 1)
	roles := []role{server(func(a *actor) error {
		ls, err := a.socket()
		if err != nil {
			return err
		}
		if err := a.reuseAddr(ls); err != nil {
			return err
		}
		if err := a.bind(ls, r.serverAddr()); err != nil {
			return err
		}
		if err := a.listen(ls, backlogFullBacklog); err != nil {
			return err
		}
		ready <- ls.local
		// Let each client in only once the previous one's handshake is
		// in the accept queue: a SYN that overtook the previous
		// client's last ACK would find the SYN queue full instead, and
		// be answered with a SYN cookie.
		for i := 0; i < backlogFullClients-1; i++ {
			if err := a.waitQueued(ls, i+1); err != nil {
				return err
			}
			close(queued[i])
		}
		third, err := await(a, connecting)
		if err != nil {
			return err
		}
		if err := a.waitRetransmitted(third); err != nil {
			return err
		}
		conns := make([]*sock, backlogFullClients)
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
	})}
	addrs := make(chan netip.AddrPort, backlogFullClients)
	for i := range backlogFullClients {
		roles = append(roles, client(func(a *actor) error {
			var addr netip.AddrPort
			var err error
			if i == 0 {
				if addr, err = await(a, ready); err != nil {
					return err
				}
				for range backlogFullClients - 1 {
					addrs <- addr
				}
			} else {
				if _, err := await(a, queued[i-1]); err != nil {
					return err
				}
				if addr, err = await(a, addrs); err != nil {
					return err
				}
			}
			c, err := a.socket()
			if err != nil {
				return err
			}
			if i == backlogFullClients-1 {
				connecting <- c
			}
			if err := a.connect(c, addr); err != nil {
				if serr := a.stopped(); serr != nil {
					return serr
				}
				return a.failed(calls.Connect, fmt.Errorf("%v: %w", addr, err))
			}
			if err := a.send(c, request); err != nil {
				return err
			}
			if err := a.receive(c, reply); err != nil {
				return err
			}
			return a.close(c)
		}))
	}
	return r.together(roles...)
}

// waitQueued waits until the listening socket's accept queue holds n
// finished handshakes, read from TCP_INFO (for a listener, tcpi_unacked
// is the accept queue's length). Not reported: it puts nothing on the
// wire. It checks in short rounds until the run stops.
func (a *actor) waitQueued(ls *sock, n int) error {
	for {
		info, err := unix.GetsockoptTCPInfo(ls.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if serr := a.stopped(); serr != nil {
			return serr
		}
		if err != nil {
			return a.failed(calls.Listen, fmt.Errorf("reading the accept queue's length: %w", err))
		}
		if int(info.Unacked) >= n {
			return nil
		}
		if err := a.pause(time.Millisecond); err != nil {
			return err
		}
	}
}

// runSendBuffer: the seed note says a send ends only when the result
// comes back; for connect() that is true, for send() it is not. write()
// copies the bytes into the kernel's send buffer and returns, before the
// peer has acknowledged anything: the server turns quick ACKs off
// (TCP_QUICKACK 0) before the request comes, so its kernel delays the ACK
// (40 ms at least) and the write() has long returned when it comes. What
// blocks write() is a full send buffer: the client then writes far more
// than the server, which is not reading, has room for; the server's
// window closes (zero window), the client's send buffer fills, and
// write() waits until the server reads.
//
// The order the lesson needs is made by waiting for events, not by
// sleeping: the client writes its request only once the server has
// turned quick ACKs off (a new connection starts in quick-ACK mode, and a
// request that came first would be acknowledged at once); it writes the
// bulk only once the request's ACK has come (its send queue is empty);
// the server reads the bulk only once some of it has arrived and its
// kernel has acknowledged some, so the bulk write() has begun and seen an
// ACK while blocked, whatever the load.
func runSendBuffer(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	quiet := make(chan struct{})    // the server has turned quick ACKs off
	bulkNext := make(chan struct{}) // the request was acknowledged; the bulk write comes
	bulk := bytes.Repeat([]byte("0123456789abcdef"), bulkSize/16)
	return r.together(
		server(func(a *actor) error {
			ls, err := a.socket()
			if err != nil {
				return err
			}
			if err := a.reuseAddr(ls); err != nil {
				return err
			}
			// Set before listen, so that accepted sockets inherit it
			// and the window the SYN-ACK offers reflects it.
			if err := a.setInt(ls, fmt.Sprintf("SO_RCVBUF %d", smallBuffer), unix.SOL_SOCKET, unix.SO_RCVBUF, smallBuffer); err != nil {
				return err
			}
			if err := a.bind(ls, r.serverAddr()); err != nil {
				return err
			}
			if err := a.listen(ls, backlog); err != nil {
				return err
			}
			ready <- ls.local
			c, err := a.accept(ls)
			if err != nil {
				return err
			}
			if err := a.setInt(c, "TCP_QUICKACK 0", unix.IPPROTO_TCP, unix.TCP_QUICKACK, 0); err != nil {
				return err
			}
			close(quiet)
			if err := a.receive(c, request); err != nil {
				return err
			}
			if _, err := await(a, bulkNext); err != nil {
				return err
			}
			// Every segment the server sends from here on
			// acknowledges bulk data: the request's ACK has reached
			// the client already.
			sent, err := a.segmentsSent(c)
			if err != nil {
				return err
			}
			if err := a.waitUnread(c, 1); err != nil {
				return err
			}
			if err := a.waitSentAfter(c, sent); err != nil {
				return err
			}
			// The bulk data keeps arriving while the server is not
			// reading.
			if err := a.pause(bulkHold); err != nil {
				return err
			}
			if err := a.receiveBulk(c, bulk); err != nil {
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
			c, err := a.socket()
			if err != nil {
				return err
			}
			if err := a.setInt(c, fmt.Sprintf("SO_SNDBUF %d", smallBuffer), unix.SOL_SOCKET, unix.SO_SNDBUF, smallBuffer); err != nil {
				return err
			}
			if err := a.connect(c, addr); err != nil {
				if serr := a.stopped(); serr != nil {
					return serr
				}
				return a.failed(calls.Connect, fmt.Errorf("%v: %w", addr, err))
			}
			if _, err := await(a, quiet); err != nil {
				return err
			}
			if err := a.pause(gap); err != nil {
				return err
			}
			if err := a.send(c, request); err != nil {
				return err
			}
			// The request's ACK comes on its own, a delayed ACK,
			// long after write() returned.
			if err := a.waitAcked(c); err != nil {
				return err
			}
			close(bulkNext)
			if err := a.send(c, bulk); err != nil {
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

// receiveBulk reads until it has all of want, in reads of up to 64 KiB,
// without quoting the data in the events.
func (a *actor) receiveBulk(s *sock, want []byte) error {
	buf := make([]byte, 64<<10)
	got := 0
	for got < len(want) {
		n, err := a.read(s, buf[:min(len(buf), len(want)-got)])
		if serr := a.stopped(); serr != nil {
			return serr
		}
		if err != nil {
			return a.failed(calls.Read, err)
		}
		if n == 0 {
			return a.failed(calls.Read, fmt.Errorf("the peer closed after %d of %d bytes", got, len(want)))
		}
		if !bytes.Equal(buf[:n], want[got:got+n]) {
			return a.failed(calls.Read, fmt.Errorf("bytes %d to %d differ from what was sent", got, got+n))
		}
		got += n
	}
	return nil
}
