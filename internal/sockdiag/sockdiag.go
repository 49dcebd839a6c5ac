// Package sockdiag lists the machine's TCP sockets through the kernel's
// sock_diag netlink interface (NETLINK_SOCK_DIAG, as ss(8) does) and finds
// the processes that hold them through /proc/PID/fd. watch uses it to name
// the processes of connections that existed before it started, and of
// connections whose calls the eBPF recorder did not report in time.
//
// Replies are parsed without trusting their lengths: a malformed reply is
// an error that says where, never a panic, and a dump stops at a bound the
// caller chooses.
package sockdiag

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/socktrace/socktrace/calls"
)

// Socket is one TCP socket as the kernel describes it.
type Socket struct {
	Local, Remote netip.AddrPort // Remote is 0.0.0.0:0 or [::]:0 for a listener
	State         calls.TCPState
	UID           uint32 // the socket's owner (the user that made it)
	// Inode identifies the socket in /proc/PID/fd (socket:[Inode]); 0
	// for sockets no file refers to (TIME_WAIT, request sockets).
	Inode uint64
}

// Netlink message layout (linux/netlink.h, linux/inet_diag.h).
const (
	nlmsgHdrLen    = 16
	inetDiagMsgLen = 72 // struct inet_diag_msg, without attributes
	nlmsgDone      = 3  // NLMSG_DONE
	nlmsgError     = 2  // NLMSG_ERROR
	sockDiagByFam  = 20 // SOCK_DIAG_BY_FAMILY
	afInet         = 2
	afInet6        = 10
)

// ErrMalformed marks a reply that is not what sock_diag sends.
var ErrMalformed = errors.New("malformed sock_diag reply")

// parseReply reads the netlink messages in b, one datagram of a reply,
// calling add for each socket until it returns false. done is set when
// the reply's end (NLMSG_DONE) was read; a netlink error message is
// returned as an error. Nothing past the first malformed message is read,
// and what came before it was given to add.
func parseReply(b []byte, add func(Socket) bool) (done bool, err error) {
	for off := 0; off < len(b); {
		rest := b[off:]
		if len(rest) < nlmsgHdrLen {
			return false, fmt.Errorf("%w: %d bytes at offset %d, shorter than a message header", ErrMalformed, len(rest), off)
		}
		length := int(binary.NativeEndian.Uint32(rest[0:4]))
		typ := binary.NativeEndian.Uint16(rest[4:6])
		if length < nlmsgHdrLen || length > len(rest) {
			return false, fmt.Errorf("%w: message at offset %d claims %d bytes, %d remain", ErrMalformed, off, length, len(rest))
		}
		body := rest[nlmsgHdrLen:length]
		switch typ {
		case nlmsgDone:
			return true, nil
		case nlmsgError:
			if len(body) < 4 {
				return false, fmt.Errorf("%w: error message at offset %d has %d bytes", ErrMalformed, off, len(body))
			}
			errno := -int32(binary.NativeEndian.Uint32(body[0:4]))
			if errno == 0 {
				return true, nil // an acknowledgement
			}
			return false, fmt.Errorf("sock_diag: %w", errnoError(errno))
		case sockDiagByFam:
			s, err := parseInetDiagMsg(body)
			if err != nil {
				return false, fmt.Errorf("message at offset %d: %w", off, err)
			}
			if !add(s) {
				return true, nil
			}
		default:
			// Other message types (NLMSG_NOOP, NLMSG_OVERRUN) carry no
			// socket.
		}
		// Messages are aligned to 4 bytes.
		next := off + (length+3)&^3
		if next <= off {
			return false, fmt.Errorf("%w: message at offset %d does not advance", ErrMalformed, off)
		}
		off = next
	}
	return false, nil
}

// parseInetDiagMsg reads a struct inet_diag_msg: family, state, timer,
// retrans, then inet_diag_sockid (ports big-endian, addresses in network
// order, interface, cookie), then expires, rqueue, wqueue, uid, inode.
func parseInetDiagMsg(b []byte) (Socket, error) {
	if len(b) < inetDiagMsgLen {
		return Socket{}, fmt.Errorf("%w: inet_diag_msg of %d bytes, want %d", ErrMalformed, len(b), inetDiagMsgLen)
	}
	family := b[0]
	var s Socket
	s.State = calls.TCPState(b[1])
	sport := binary.BigEndian.Uint16(b[4:6])
	dport := binary.BigEndian.Uint16(b[6:8])
	var src, dst netip.Addr
	switch family {
	case afInet:
		src = netip.AddrFrom4([4]byte(b[8:12]))
		dst = netip.AddrFrom4([4]byte(b[24:28]))
	case afInet6:
		src = netip.AddrFrom16([16]byte(b[8:24])).Unmap()
		dst = netip.AddrFrom16([16]byte(b[24:40])).Unmap()
	default:
		return Socket{}, fmt.Errorf("%w: address family %d, want AF_INET or AF_INET6", ErrMalformed, family)
	}
	s.Local = netip.AddrPortFrom(src, sport)
	s.Remote = netip.AddrPortFrom(dst, dport)
	s.UID = binary.NativeEndian.Uint32(b[64:68])
	s.Inode = uint64(binary.NativeEndian.Uint32(b[68:72]))
	return s, nil
}

func errnoError(errno int32) error { return syscall.Errno(errno) }
