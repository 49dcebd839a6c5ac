package demo

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
)

// The waits below let a scenario wait for what the kernel has done (data
// arrived, an ACK came or went, a SYN was retransmitted) instead of
// sleeping and hoping it has happened: on a loaded machine, or over a
// slow link, a sleep of any length can end too early. They ask the kernel
// with ioctl and getsockopt, which put nothing on the wire and are not
// among the calls the demo shows, so they are not reported (as
// waitQueued is not). Each checks in short rounds until its condition
// holds or the run stops (the run's timeout bounds every wait).

// waitFor checks cond every millisecond until it holds or the run stops.
// A failure to ask the kernel is reported as a failure of call.
func (a *actor) waitFor(call calls.Call, what string, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if serr := a.stopped(); serr != nil {
			return serr
		}
		if err != nil {
			return a.failed(call, fmt.Errorf("%s: %w", what, err))
		}
		if ok {
			return nil
		}
		if err := a.pause(time.Millisecond); err != nil {
			return err
		}
	}
}

// waitUnread waits until at least n bytes have arrived on s and wait in
// its receive buffer unread (ioctl FIONREAD).
func (a *actor) waitUnread(s *sock, n int) error {
	return a.waitFor(calls.Read, fmt.Sprintf("waiting for %d unread bytes", n), func() (bool, error) {
		unread, err := unix.IoctlGetInt(s.fd, unix.SIOCINQ)
		return unread >= n, err
	})
}

// waitAcked waits until the peer has acknowledged every byte written on
// s: its send queue, sent and unsent, is empty (ioctl SIOCOUTQ).
func (a *actor) waitAcked(s *sock) error {
	return a.waitFor(calls.Write, "waiting for the peer's ACK", func() (bool, error) {
		queued, err := unix.IoctlGetInt(s.fd, unix.SIOCOUTQ)
		return queued == 0, err
	})
}

// segmentsSent is how many segments s's kernel has sent, pure ACKs
// included (TCP_INFO tcpi_segs_out).
func (a *actor) segmentsSent(s *sock) (uint32, error) {
	info, err := unix.GetsockoptTCPInfo(s.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	if err != nil {
		return 0, a.failed(calls.Read, fmt.Errorf("reading the segments sent: %w", err))
	}
	return info.Segs_out, nil
}

// waitSentAfter waits until s's kernel has sent a segment since it had
// sent since segments.
func (a *actor) waitSentAfter(s *sock, since uint32) error {
	return a.waitFor(calls.Read, "waiting for an ACK to go out", func() (bool, error) {
		info, err := unix.GetsockoptTCPInfo(s.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return false, err
		}
		return info.Segs_out-since > 0, nil
	})
}

// waitRetransmitted waits until the kernel has retransmitted a segment of
// s (TCP_INFO tcpi_total_retrans): for a socket in connect(), its SYN. s
// is another actor's socket, blocked in connect(), so it is read under
// r.mu and only while open: its owner closes it under r.mu.
func (a *actor) waitRetransmitted(s *sock) error {
	return a.waitFor(calls.Accept, "waiting for the client's SYN retransmission", func() (bool, error) {
		a.r.mu.Lock()
		defer a.r.mu.Unlock()
		if s.closed {
			return false, fmt.Errorf("the socket was closed")
		}
		info, err := unix.GetsockoptTCPInfo(s.fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return false, err
		}
		return info.Total_retrans > 0, nil
	})
}
