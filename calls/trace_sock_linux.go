//go:build linux && (amd64 || arm64)

package calls

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Reading the tracee: its memory (sockaddrs) and its descriptors.

// readMem reads the tracee's memory at addr.
func readMem(tid int, addr uintptr, buf []byte) error {
	if len(buf) == 0 {
		return nil
	}
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: addr, Len: len(buf)}}
	n, err := unix.ProcessVMReadv(tid, local, remote, 0)
	if err == nil && n == len(buf) {
		return nil
	}
	// process_vm_readv can be missing or refused (seccomp, old
	// kernels); the tracer may always peek.
	n, err = unix.PtracePeekData(tid, addr, buf)
	if err != nil {
		return fmt.Errorf("read tracee memory at %#x: %w", addr, err)
	}
	if n != len(buf) {
		return fmt.Errorf("read tracee memory at %#x: short read", addr)
	}
	return nil
}

// readSockaddr reads an AF_INET or AF_INET6 address from the tracee.
func readSockaddr(tid int, addr uintptr, length uint64) (netip.AddrPort, bool) {
	if addr == 0 || length < 2 {
		return netip.AddrPort{}, false
	}
	var buf [28]byte // sizeof(struct sockaddr_in6)
	n := int(min(length, uint64(len(buf))))
	if err := readMem(tid, addr, buf[:n]); err != nil {
		return netip.AddrPort{}, false
	}
	return parseSockaddr(buf[:n])
}

// parseSockaddr decodes a raw struct sockaddr_in or sockaddr_in6 (family
// in host byte order, port and address in network byte order).
func parseSockaddr(b []byte) (netip.AddrPort, bool) {
	if len(b) < 2 {
		return netip.AddrPort{}, false
	}
	family := *(*uint16)(unsafe.Pointer(&b[0]))
	switch family {
	case unix.AF_INET:
		if len(b) < 8 {
			return netip.AddrPort{}, false
		}
		port := uint16(b[2])<<8 | uint16(b[3])
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), true
	case unix.AF_INET6:
		if len(b) < 24 {
			return netip.AddrPort{}, false
		}
		port := uint16(b[2])<<8 | uint16(b[3])
		a := netip.AddrFrom16([16]byte(b[8:24]))
		if len(b) >= 28 {
			if scope := *(*uint32)(unsafe.Pointer(&b[24])); scope != 0 && a.Is6() && !a.Is4In6() {
				a = a.WithZone(strconv.FormatUint(uint64(scope), 10))
			}
		}
		return netip.AddrPortFrom(a.Unmap(), port), true
	}
	return netip.AddrPort{}, false
}

func fromSockaddr(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.ZoneId != 0 && !a.Is4In6() {
			a = a.WithZone(strconv.FormatUint(uint64(sa.ZoneId), 10))
		}
		return netip.AddrPortFrom(a.Unmap(), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// sockState is what the tracer learns about a tracee's descriptor.
type sockState struct {
	ino           uint64
	tcp           bool
	local, remote netip.AddrPort
	dup           int // our duplicate when asked to keep it, else -1
}

// inspect looks at descriptor fd of process p through a duplicate taken
// with pidfd_getfd. ok is false when fd is not open or not a socket.
// With keep, the duplicate is left open in s.dup for the caller to close.
//
// Where pidfd_getfd is missing (Linux < 5.6) or refused (a container's
// seccomp profile allows ptrace but not pidfd_getfd without
// CAP_SYS_PTRACE), it falls back to /proc: the socket inode from
// /proc/PID/fd/N, its addresses from /proc/PID/net/tcp and tcp6. That
// costs more, and a socket not yet bound or connected, or already gone to
// TIME_WAIT, is not listed there, so its event is lost; keep is not
// honoured (no completion events for non-blocking connects).
func (t *Tracer) inspect(p *proc, fd int, keep bool) (s sockState, ok bool) {
	s.dup = -1
	if fd < 0 {
		return s, false
	}
	if p.pidfd < 0 || t.noGetfd || testHookNoGetfd {
		return inspectProc(p.pid, fd)
	}
	dup, err := unix.PidfdGetfd(p.pidfd, fd, 0)
	if err != nil {
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			t.noGetfd = true
			return inspectProc(p.pid, fd)
		}
		return s, false // EBADF: not open
	}
	closeDup := true
	defer func() {
		if closeDup {
			unix.Close(dup)
		}
	}()
	var st unix.Stat_t
	if err := unix.Fstat(dup, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return s, false
	}
	s.ino = st.Ino
	if m, ok := t.socks[s.ino]; ok && m.local.IsValid() && !keep {
		// Seen at listen, connect or accept: a TCP socket whose
		// addresses no longer change. Saves four system calls per
		// close, shutdown and EAGAIN accept.
		s.tcp, s.local, s.remote = true, m.local, m.remote
		return s, true
	}
	domain, err1 := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_DOMAIN)
	proto, err2 := unix.GetsockoptInt(dup, unix.SOL_SOCKET, unix.SO_PROTOCOL)
	s.tcp = err1 == nil && err2 == nil &&
		(domain == unix.AF_INET || domain == unix.AF_INET6) &&
		(proto == unix.IPPROTO_TCP || proto == ipprotoMPTCP)
	if !s.tcp {
		return s, true
	}
	if sa, err := unix.Getsockname(dup); err == nil {
		s.local = fromSockaddr(sa)
	}
	if sa, err := unix.Getpeername(dup); err == nil {
		s.remote = fromSockaddr(sa)
	}
	if keep {
		closeDup = false
		s.dup = dup
	}
	return s, true
}

// testHookNoGetfd makes inspect use /proc, for tests of the fallback.
var testHookNoGetfd bool

// inspectProc is inspect through /proc, without pidfd_getfd.
func inspectProc(pid, fd int) (s sockState, ok bool) {
	s.dup = -1
	link, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(fd))
	if err != nil {
		return s, false
	}
	v, found := strings.CutPrefix(link, "socket:[")
	if !found {
		return s, false
	}
	ino, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64)
	if err != nil {
		return s, false
	}
	s.ino = ino
	for _, table := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/" + table)
		if err != nil {
			continue
		}
		if local, remote, found := findInode(b, ino); found {
			s.tcp, s.local, s.remote = true, local, remote
			if s.remote.Addr().IsUnspecified() && s.remote.Port() == 0 {
				s.remote = netip.AddrPort{} // listening: no peer
			}
			break
		}
	}
	return s, true
}

// findInode finds the line of socket ino in a /proc/net/tcp{,6} table:
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
func findInode(table []byte, ino uint64) (local, remote netip.AddrPort, ok bool) {
	want := strconv.FormatUint(ino, 10)
	for _, line := range bytes.Split(table, []byte{'\n'}) {
		f := strings.Fields(string(line))
		if len(f) < 10 || f[9] != want {
			continue
		}
		local, ok1 := parseProcAddr(f[1])
		remote, ok2 := parseProcAddr(f[2])
		return local, remote, ok1 && ok2
	}
	return local, remote, false
}

// parseProcAddr decodes "0100007F:1F90" (IPv4) or 32 hex digits and a
// port (IPv6): the address as 32-bit words in host byte order, the port
// in hex.
func parseProcAddr(s string) (netip.AddrPort, bool) {
	a, p, found := strings.Cut(s, ":")
	if !found {
		return netip.AddrPort{}, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, false
	}
	// Each 32-bit word was printed as a host-order integer; undo that.
	// (amd64 and arm64 are little endian).
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	var addr netip.Addr
	if len(raw) == 4 {
		addr = netip.AddrFrom4([4]byte(raw))
	} else {
		addr = netip.AddrFrom16([16]byte(raw)).Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(port)), true
}

func socketDetail(domain, typ int) string {
	d := "AF_INET"
	if domain == unix.AF_INET6 {
		d = "AF_INET6"
	}
	return d + " SOCK_STREAM" + sockFlags(typ, "|")
}

func sockFlags(flags int, sep string) string {
	var names string
	switch flags & (unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC) {
	case 0:
		return ""
	case unix.SOCK_NONBLOCK:
		names = "SOCK_NONBLOCK"
	case unix.SOCK_CLOEXEC:
		names = "SOCK_CLOEXEC"
	default:
		names = "SOCK_NONBLOCK|SOCK_CLOEXEC"
	}
	return sep + names
}

func shutdownHow(how int) string {
	switch how {
	case unix.SHUT_RD:
		return "SHUT_RD"
	case unix.SHUT_WR:
		return "SHUT_WR"
	case unix.SHUT_RDWR:
		return "SHUT_RDWR"
	}
	return "how " + strconv.Itoa(how)
}
