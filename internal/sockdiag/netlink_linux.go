package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"golang.org/x/sys/unix"
)

// allStates asks for sockets in every TCP state (1<<TCP_ESTABLISHED ...
// 1<<TCP_NEW_SYN_RECV).
const allStates = 0xfff

// heldStates leaves TIME_WAIT out: such a socket belongs to no process,
// and a storm of short connections leaves tens of thousands of them
// (up to net.ipv4.tcp_max_tw_buckets, 131072 here), which pushed the
// sockets that processes hold past Dump's bound.
const heldStates = allStates &^ (1 << unix.BPF_TCP_TIME_WAIT)

// request is one inet_diag_req_v2 in a netlink message: a dump of every
// socket of family, or (exact) the one socket of the 4-tuple id.
func request(family uint8, local, remote netip.AddrPort, exact bool, states uint32) []byte {
	b := make([]byte, nlmsgHdrLen+56)
	binary.NativeEndian.PutUint32(b[0:4], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:6], sockDiagByFam)
	flags := uint16(unix.NLM_F_REQUEST)
	if !exact {
		flags |= unix.NLM_F_DUMP
	}
	binary.NativeEndian.PutUint16(b[6:8], flags)
	binary.NativeEndian.PutUint32(b[8:12], 1) // sequence number
	r := b[nlmsgHdrLen:]
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(r[4:8], states)
	if exact {
		id := r[8:56]
		binary.BigEndian.PutUint16(id[0:2], local.Port())
		binary.BigEndian.PutUint16(id[2:4], remote.Port())
		putAddr(id[4:20], local.Addr(), family)
		putAddr(id[20:36], remote.Addr(), family)
		// The cookie is INET_DIAG_NOCOOKIE: match by addresses alone.
		binary.NativeEndian.PutUint32(id[40:44], ^uint32(0))
		binary.NativeEndian.PutUint32(id[44:48], ^uint32(0))
	}
	return b
}

func putAddr(b []byte, a netip.Addr, family uint8) {
	if family == afInet {
		a4 := a.Unmap().As4()
		copy(b, a4[:])
		return
	}
	a16 := a.As16()
	copy(b, a16[:])
}

// Dump lists the machine's TCP sockets that a process may hold (IPv4 and
// IPv6, every state but TIME_WAIT), at most max of them; truncated is set
// when there were more.
func Dump(max int) (socks []Socket, truncated bool, err error) {
	add := func(s Socket) bool {
		if len(socks) >= max {
			truncated = true
			return false
		}
		socks = append(socks, s)
		return true
	}
	for _, family := range []uint8{afInet, afInet6} {
		if err := exchange(request(family, netip.AddrPort{}, netip.AddrPort{}, false, heldStates), add); err != nil {
			return socks, truncated, err
		}
		if truncated {
			break
		}
	}
	return socks, truncated, nil
}

// Find returns the socket whose local and remote addresses are these;
// ok is false when there is none (it closed, or is not on this machine,
// or belongs to another network namespace).
func Find(local, remote netip.AddrPort) (s Socket, ok bool, err error) {
	family := uint8(afInet6)
	if local.Addr().Unmap().Is4() {
		family = afInet
	}
	err = exchange(request(family, local, remote, true, allStates), func(got Socket) bool {
		s, ok = got, true
		return false
	})
	if errors.Is(err, unix.ENOENT) {
		return Socket{}, false, nil
	}
	if err != nil {
		return Socket{}, false, err
	}
	return s, ok, nil
}

// exchange sends req on a new sock_diag socket and reads the reply to
// its end, calling add for each socket until it returns false.
func exchange(req []byte, add func(Socket) bool) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag request: %w", err)
	}
	// The kernel fills a datagram up to the reader's buffer; 32 KiB
	// takes a few hundred sockets a read.
	buf := make([]byte, 32<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("sock_diag reply: %w", os.NewSyscallError("recvfrom", err))
		}
		if n == 0 {
			return fmt.Errorf("%w: empty datagram", ErrMalformed)
		}
		// Done also when add has had enough: closing the socket
		// abandons the rest of a dump.
		done, err := parseReply(buf[:n], add)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}
