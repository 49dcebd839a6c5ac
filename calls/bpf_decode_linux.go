//go:build linux && (amd64 || arm64)

package calls

import (
	"net/netip"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Turning the recorder's records into Events: the same fields, Side and
// Detail rules as the ptrace tracer (trace.go's notes), so that the rest
// of socktrace cannot tell the two apart. The differences are additions:
// the data calls (Read, Write) and the exact completion time of a
// non-blocking connect (the kernel's state change, not the moment a
// tracer looked).

// Record types and call kinds: enum record_type and enum call_kind in
// bpf/recorder.bpf.c.
const (
	recCall             = 1
	recState            = 2
	recRetransmit       = 3
	recRetransmitSynAck = 4
	recResetSent        = 5
	recResetReceived    = 6
	recSockError        = 7
	recFork             = 8
	recExit             = 9
)

const (
	bpfCallSocket = 1 + iota
	bpfCallBind
	bpfCallListen
	bpfCallConnect
	bpfCallAccept
	bpfCallAccept4
	bpfCallShutdown
	bpfCallClose
	bpfCallSetsockopt
	bpfCallRead
	bpfCallWrite
	bpfCallSendto
	bpfCallSendmsg
	bpfCallRecvfrom
	bpfCallRecvmsg
	// Kinds past the C enum (CALL_MAX): the BPF side handles every kind
	// it does not name as a data call (the socket behind the first
	// argument, the return value), so these need no change there.
	// sendfile's first argument is the descriptor it writes to; splice's
	// the one it reads from (a splice into a socket is not seen).
	// sendmmsg and recvmmsg are not recorded: they return a number of
	// messages, not of bytes.
	bpfCallWritev
	bpfCallReadv
	bpfCallSendfile
	bpfCallSplice
)

// bpfCallNumbers maps this architecture's system call numbers to the
// recorder's call kinds (the BPF side is architecture-neutral).
var bpfCallNumbers = map[int]int{
	unix.SYS_SOCKET:     bpfCallSocket,
	unix.SYS_BIND:       bpfCallBind,
	unix.SYS_LISTEN:     bpfCallListen,
	unix.SYS_CONNECT:    bpfCallConnect,
	unix.SYS_ACCEPT:     bpfCallAccept,
	unix.SYS_ACCEPT4:    bpfCallAccept4,
	unix.SYS_SHUTDOWN:   bpfCallShutdown,
	unix.SYS_CLOSE:      bpfCallClose,
	unix.SYS_SETSOCKOPT: bpfCallSetsockopt,
	unix.SYS_READ:       bpfCallRead,
	unix.SYS_WRITE:      bpfCallWrite,
	unix.SYS_SENDTO:     bpfCallSendto,
	unix.SYS_SENDMSG:    bpfCallSendmsg,
	unix.SYS_RECVFROM:   bpfCallRecvfrom,
	unix.SYS_RECVMSG:    bpfCallRecvmsg,
	unix.SYS_WRITEV:     bpfCallWritev,
	unix.SYS_READV:      bpfCallReadv,
	unix.SYS_SENDFILE:   bpfCallSendfile,
	unix.SYS_SPLICE:     bpfCallSplice,
}

// dataCallNames is the Detail of a data call: the system call's name.
var dataCallNames = map[uint32]string{
	bpfCallRead:     "read",
	bpfCallWrite:    "write",
	bpfCallSendto:   "sendto",
	bpfCallSendmsg:  "sendmsg",
	bpfCallRecvfrom: "recvfrom",
	bpfCallRecvmsg:  "recvmsg",
	bpfCallWritev:   "writev",
	bpfCallReadv:    "readv",
	bpfCallSendfile: "sendfile",
	bpfCallSplice:   "splice",
}

// kernelRecordSize is the size of a kernel record (KERNEL_RECORD_SIZE in
// bpf/recorder.bpf.c): the fields of struct event before ExitNs.
const kernelRecordSize = int(unsafe.Offsetof(recorderEvent{}.ExitNs))

// decodeRecord copies a raw ring buffer record into rec, which must be
// zero (a kernel record fills only its head); false when it is too short
// (never, unless the object and this code disagree).
func decodeRecord(raw []byte, rec *recorderEvent) bool {
	if len(raw) < kernelRecordSize {
		return false
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(rec)), unsafe.Sizeof(*rec)), raw)
	return true
}

// decoder keeps what turning records into events needs to remember.
type decoder struct {
	// memos: the side and addresses of each socket seen at listen,
	// connect or accept, by struct sock address.
	memos map[uint64]sockMemo
	// connecting: non-blocking connects that returned EINPROGRESS and
	// whose handshake has not ended yet.
	connecting map[uint64]Event
	// ended: handshakes that ended before their connect's record was read
	// (the state change can be written first), and those whose call had
	// returned before they ended (a Fast Open send on a non-blocking
	// socket), taken by no connect (connect ignores one from before it).
	ended map[uint64]kernelRecord
	// tuples: the last 4-tuple the kernel reported for each socket with
	// a port. A socket's port is already released when its last state
	// change (to CLOSE) is reported.
	tuples map[uint64][2]netip.AddrPort
	// held: kernel events of sockets that had no port yet.
	held map[uint64][]KernelEvent
	// exitCodes: wait statuses of exited processes.
	exitCodes map[uint32]int64

	// evs and kevs hold what record returns, reused from one record to
	// the next: the caller delivers them before the next record.
	evs  []Event
	kevs []KernelEvent
	// details: the Detail strings of socket() and accept4() (a handful
	// of distinct ones), made once rather than for every call; comm and
	// commString the last process name seen, as a string.
	details    map[[3]uint32]string
	comm       [16]int8
	commString string
}

type kernelRecord struct {
	at       time.Time
	newState TCPState
	local    netip.AddrPort
}

// mapBound bounds the decoder's maps: sockets closed in ways the recorder
// does not see (a killed process) leave entries behind.
const mapBound = 1 << 16

func (d *decoder) init() {
	d.memos = make(map[uint64]sockMemo)
	d.connecting = make(map[uint64]Event)
	d.ended = make(map[uint64]kernelRecord)
	d.exitCodes = make(map[uint32]int64)
	d.tuples = make(map[uint64][2]netip.AddrPort)
	d.held = make(map[uint64][]KernelEvent)
	d.details = make(map[[3]uint32]string)
}

// detail is the Detail of a socket() or an accept4() call with arguments
// a and b, from the cache.
func (d *decoder) detail(call, a, b uint32) string {
	key := [3]uint32{call, a, b}
	if s, ok := d.details[key]; ok {
		return s
	}
	var s string
	if call == bpfCallSocket {
		s = socketDetail(int(a), int(b))
	} else {
		s = "accept4" + sockFlags(int(int32(a)), " ")
	}
	if len(d.details) >= 256 {
		clear(d.details)
	}
	d.details[key] = s
	return s
}

// dataDetail is the Detail of a data call of kind call with flags (send
// and recv flags; 0 for the calls that have none): the system call's
// name, then the flags that change what it does, as strace names them
// ("recvfrom MSG_PEEK"). From the cache, as detail's.
func (d *decoder) dataDetail(call, flags uint32) string {
	flags &= namedMsgFlags
	if flags == 0 {
		return dataCallNames[call]
	}
	key := [3]uint32{call, flags, 1}
	if s, ok := d.details[key]; ok {
		return s
	}
	s := dataCallNames[call] + " " + msgFlags(flags)
	if len(d.details) >= 256 {
		clear(d.details)
	}
	d.details[key] = s
	return s
}

// msgFlagNames are the send and recv flags a data call's Detail names:
// those that change what the call does to the connection or its queues
// (MSG_PEEK leaves the bytes queued, MSG_FASTOPEN connects, MSG_OOB is
// urgent data), or how it waits. The others (MSG_CMSG_CLOEXEC, ...)
// are left out.
var msgFlagNames = [...]struct {
	bit  uint32
	name string
}{
	{unix.MSG_OOB, "MSG_OOB"},
	{unix.MSG_PEEK, "MSG_PEEK"},
	{unix.MSG_TRUNC, "MSG_TRUNC"},
	{unix.MSG_DONTWAIT, "MSG_DONTWAIT"},
	{unix.MSG_WAITALL, "MSG_WAITALL"},
	{unix.MSG_NOSIGNAL, "MSG_NOSIGNAL"},
	{unix.MSG_MORE, "MSG_MORE"},
	{unix.MSG_FASTOPEN, "MSG_FASTOPEN"},
}

// namedMsgFlags is the union of msgFlagNames' bits.
var namedMsgFlags = func() uint32 {
	var m uint32
	for _, f := range msgFlagNames {
		m |= f.bit
	}
	return m
}()

// msgFlags names the flags in flags, joined by '|'.
func msgFlags(flags uint32) string {
	var b []byte
	for _, f := range msgFlagNames {
		if flags&f.bit != 0 {
			if len(b) > 0 {
				b = append(b, '|')
			}
			b = append(b, f.name...)
		}
	}
	return string(b)
}

// name is the process name c as a string, allocated only when it is not
// the last one seen.
func (d *decoder) name(c *[16]int8) string {
	if *c != d.comm || d.commString == "" {
		d.comm, d.commString = *c, commString(c)
	}
	return d.commString
}

func (d *decoder) exited(pid uint32, status int64) {
	if len(d.exitCodes) >= mapBound {
		clear(d.exitCodes)
	}
	d.exitCodes[pid] = status
}

// exitCode is the shell's exit code of an exited process, -1 if unknown.
func (d *decoder) exitCode(pid uint32) int {
	st, ok := d.exitCodes[pid]
	if !ok {
		return -1
	}
	ws := unix.WaitStatus(st)
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return -1
}

// flush returns the kernel events still held for want of a port.
// Non-blocking connects whose end was never seen stay as they were
// reported (EINPROGRESS).
func (d *decoder) flush() []KernelEvent {
	clear(d.connecting)
	var kevs []KernelEvent
	for _, held := range d.held {
		kevs = append(kevs, held...)
	}
	clear(d.held)
	return kevs
}

func addrOf(family uint16, raw *[16]byte, port uint16) netip.AddrPort {
	var a netip.Addr
	if family == unix.AF_INET6 {
		a = netip.AddrFrom16(*raw).Unmap()
	} else {
		a = netip.AddrFrom4([4]byte(raw[:4]))
	}
	return netip.AddrPortFrom(a, port)
}

// peerOf is the remote address as getpeername(2) would give it: none for
// a listener, an unconnected socket, or one closed or still connecting.
func peerOf(rec *recorderEvent) netip.AddrPort {
	st := TCPState(rec.State)
	if rec.Rport == 0 || st == TCPClose || st == TCPSynSent || st == TCPListen {
		return netip.AddrPort{}
	}
	return addrOf(rec.Family, &rec.Raddr, rec.Rport)
}

func commString(c *[16]int8) string {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&c[0])), len(c))
	for i, ch := range b {
		if ch == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func (d *decoder) remember(sock uint64, m sockMemo) {
	if len(d.memos) >= mapBound {
		clear(d.memos)
	}
	d.memos[sock] = m
}

// record turns one call or kernel record into events (a call, and maybe a
// connect's completion) or a kernel event.
//
// The slices returned are the decoder's own, valid until the next call.
func (d *decoder) record(rec *recorderEvent, clock clockOffset) (evs []Event, kevs []KernelEvent) {
	evs, kevs = d.evs[:0], d.kevs[:0]
	defer func() {
		if evs != nil {
			d.evs = evs[:0]
		}
		if kevs != nil {
			d.kevs = kevs[:0]
		}
	}()
	if rec.Type != recCall {
		return d.kernelRecord(rec, clock, evs, kevs)
	}
	defer func() {
		// A socket's first state changes can come before it has a port
		// (connect() enters SYN_SENT first): give them the 4-tuple its
		// call reports.
		if held, ok := d.held[rec.Sock]; ok && len(evs) > 0 && evs[0].Local.Port() != 0 {
			delete(d.held, rec.Sock)
			for _, k := range held {
				k.Local, k.Remote = evs[0].Local, evs[0].Remote
				kevs = append(kevs, k)
			}
		}
	}()
	ev := Event{
		FD:    int(rec.Fd),
		Enter: clock.wall(rec.EnterNs),
		Exit:  clock.wall(rec.ExitNs),
		PID:   int(rec.Pid),
		TID:   int(rec.Tid),
		Comm:  d.name(&rec.Comm),
	}
	if rec.Ret < 0 {
		ev.Result, ev.Errno = -1, syscall.Errno(-rec.Ret)
	} else {
		ev.Result = int(rec.Ret)
	}
	local := addrOf(rec.Family, &rec.Laddr, rec.Lport)
	given, givenOK := netip.AddrPort{}, false
	if rec.AddrOk != 0 {
		given, givenOK = parseSockaddr(rec.Sockaddr[:])
	}
	memo := d.memos[rec.Sock]
	switch rec.Call {
	case bpfCallSocket:
		ev.Call, ev.FD = Socket, -1
		ev.Detail = d.detail(bpfCallSocket, rec.A, rec.B)
		if ev.Errno == 0 {
			ev.FD = ev.Result
			delete(d.memos, rec.Sock) // a new socket where an old one was
		}
	case bpfCallBind:
		if !givenOK {
			return evs, kevs // not an IP address: not a TCP bind
		}
		ev.Call, ev.Local = Bind, given
		if ev.Errno == 0 && local != given {
			ev.Detail = "bound to " + local.String()
		}
	case bpfCallListen:
		ev.Call, ev.Side, ev.Local = Listen, Server, local
		ev.Detail = "backlog " + strconv.Itoa(int(int32(rec.A)))
		if ev.Errno == 0 {
			d.remember(rec.Sock, sockMemo{side: Server, local: local})
		}
	case bpfCallConnect:
		if !givenOK {
			return evs, kevs
		}
		ev.Call, ev.Side, ev.Remote, ev.Local = Connect, Client, given, local
		return d.connect(rec, ev, evs), kevs
	case bpfCallAccept, bpfCallAccept4:
		ev.Call, ev.Side, ev.Local = Accept, Server, local
		if rec.Call == bpfCallAccept4 {
			ev.Detail = d.detail(bpfCallAccept4, rec.A, 0)
		}
		if ev.Errno == 0 {
			ev.Remote = peerOf(rec)
			d.remember(rec.Sock, sockMemo{side: Server, local: local, remote: ev.Remote})
		}
	case bpfCallShutdown, bpfCallClose, bpfCallSetsockopt:
		ev.Local, ev.Remote, ev.Side = local, peerOf(rec), memo.side
		if !ev.Remote.IsValid() && memo.remote.IsValid() {
			// Closed by both sides already (TIME_WAIT lives on
			// without the socket): the 4-tuple it had.
			ev.Local, ev.Remote = memo.local, memo.remote
		}
		switch rec.Call {
		case bpfCallShutdown:
			ev.Call, ev.Detail = Shutdown, shutdownHow(int(int32(rec.A)))
		case bpfCallClose:
			ev.Call = Close
		default:
			ev.Call = SetSockOpt
			switch {
			case int32(rec.A) == 0:
				ev.Detail = "SO_LINGER off"
			default:
				ev.Detail = "SO_LINGER " + strconv.Itoa(int(int32(rec.B)))
			}
		}
	case bpfCallSendto, bpfCallSendmsg:
		// (One failing with EISCONN is a data call on a socket
		// connected before the recording began, or whose connect's
		// record was lost: no connect, as the ptrace tracer has it.)
		if rec.A&unix.MSG_FASTOPEN != 0 && memo.side == "" && ev.Errno != unix.EISCONN && (givenOK || rec.Rport != 0) {
			// TCP Fast Open: sendto(fd, data, MSG_FASTOPEN, addr) on a
			// socket not yet connected is its connect(), and the
			// kernel sends the data in the SYN when it holds a
			// cookie from the server (on a connected socket the
			// flag makes the call fail with EISCONN: it is always
			// the connect). The address is the one the call names
			// (sendto's, or sendmsg's msg_name: the recorder reads
			// both); failing that, the socket's peer, which the
			// call has set by then.
			return d.fastOpen(rec, ev, local, given, givenOK, evs), kevs
		}
		fallthrough
	case bpfCallRead, bpfCallRecvfrom, bpfCallRecvmsg, bpfCallReadv, bpfCallSplice,
		bpfCallWrite, bpfCallWritev, bpfCallSendfile:
		ev.Call = Read
		switch rec.Call {
		case bpfCallWrite, bpfCallSendto, bpfCallSendmsg, bpfCallWritev, bpfCallSendfile:
			ev.Call = Write
		}
		ev.Local, ev.Remote, ev.Side = local, peerOf(rec), memo.side
		if !ev.Remote.IsValid() && memo.remote.IsValid() {
			ev.Local, ev.Remote = memo.local, memo.remote
		}
		ev.Detail = d.dataDetail(rec.Call, rec.A)
	default:
		return evs, kevs
	}
	return append(evs, ev), kevs
}

// connect appends the events of a connect(), or of a send that made one
// (TCP Fast Open): the call, and a non-blocking one's completion when its
// handshake has already ended.
func (d *decoder) connect(rec *recorderEvent, ev Event, evs []Event) []Event {
	if ev.Errno == 0 || ev.Errno == unix.EINPROGRESS {
		d.remember(rec.Sock, sockMemo{side: Client, local: ev.Local, remote: ev.Remote})
	}
	done, ended := d.ended[rec.Sock]
	delete(d.ended, rec.Sock) // a blocking connect's, or this one's
	// Only a handshake this call began (it enters SYN_SENT inside the
	// call): one that ended before is another socket's that had the same
	// address (the kernel reuses a struct sock's memory at once), whose
	// end no call took: a Fast Open send that returned while its
	// handshake was still on (a non-blocking socket with a cookie).
	ended = ended && !done.at.Before(ev.Enter)
	if ended && ev.Errno != 0 && ev.Errno != unix.EINPROGRESS && ev.Local.Addr().IsUnspecified() &&
		done.local.Port() == ev.Local.Port() && done.local.IsValid() && !done.local.Addr().IsUnspecified() {
		// A connect that failed (refused, timed out): the kernel
		// took back the address it had chosen when the handshake
		// ended, but the state change that ended it still had it,
		// and the connection's packets carry it.
		ev.Local = done.local
	}
	evs = append(evs, ev)
	if ev.Errno == unix.EINPROGRESS {
		if ended {
			evs = append(evs, completed(ev, done))
		} else {
			if len(d.connecting) >= mapBound {
				clear(d.connecting)
			}
			d.connecting[rec.Sock] = ev
		}
	}
	return evs
}

// fastOpen is the event of a send with MSG_FASTOPEN (TCP Fast Open) that
// connected its socket: a connect() to the address the call names (or,
// where it could not be read, to the peer the socket has after it), with
// the call's own name and flags as Detail and the bytes it sent as
// Result.
func (d *decoder) fastOpen(rec *recorderEvent, ev Event, local, given netip.AddrPort, givenOK bool, evs []Event) []Event {
	if !givenOK {
		given = addrOf(rec.Family, &rec.Raddr, rec.Rport)
	}
	ev.Call, ev.Side, ev.Remote, ev.Local = Connect, Client, given, local
	ev.Detail = d.dataDetail(rec.Call, rec.A)
	return d.connect(rec, ev, evs)
}

// completed is the second connect event of a non-blocking connect: Exit
// is when the kernel left SYN_SENT.
func completed(ev Event, done kernelRecord) Event {
	ev.Exit, ev.Errno = done.at, 0
	if done.newState == TCPEstablished {
		ev.Result, ev.Detail = 0, "completed"
		if done.local.IsValid() {
			ev.Local = done.local
		}
	} else {
		ev.Result, ev.Detail = -1, "failed"
	}
	return ev
}

var kernelKinds = map[uint32]KernelKind{
	recState:            KernelState,
	recRetransmit:       KernelRetransmit,
	recRetransmitSynAck: KernelRetransmitSynAck,
	recResetSent:        KernelResetSent,
	recResetReceived:    KernelResetReceived,
	recSockError:        KernelError,
}

// kernelRecord appends what a kernel record yields to evs and kevs.
func (d *decoder) kernelRecord(rec *recorderEvent, clock clockOffset, evs []Event, kevs []KernelEvent) ([]Event, []KernelEvent) {
	kind, ok := kernelKinds[rec.Type]
	if !ok {
		return evs, kevs
	}
	kev := KernelEvent{
		Kind:   kind,
		Time:   clock.wall(rec.EnterNs),
		Local:  addrOf(rec.Family, &rec.Laddr, rec.Lport),
		To:     TCPState(rec.State),
		PID:    int(rec.Pid),
		Socket: rec.Sock,
	}
	if rec.Rport != 0 {
		kev.Remote = addrOf(rec.Family, &rec.Raddr, rec.Rport)
	}
	if kev.Local.Port() != 0 {
		if len(d.tuples) >= mapBound {
			clear(d.tuples)
		}
		d.tuples[rec.Sock] = [2]netip.AddrPort{kev.Local, kev.Remote}
		if held, ok := d.held[rec.Sock]; ok {
			delete(d.held, rec.Sock)
			for _, k := range held {
				k.Local, k.Remote = kev.Local, kev.Remote
				kevs = append(kevs, k)
			}
		}
	} else if t, ok := d.tuples[rec.Sock]; ok {
		kev.Local, kev.Remote = t[0], t[1]
	}
	switch rec.Type {
	case recState:
		kev.From, kev.To = TCPState(rec.A), TCPState(rec.B)
		if kev.From == TCPSynSent && kev.To != TCPSynSent {
			done := kernelRecord{at: kev.Time, newState: kev.To, local: kev.Local}
			if ev, ok := d.connecting[rec.Sock]; ok {
				delete(d.connecting, rec.Sock)
				evs = append(evs, completed(ev, done))
			} else {
				if len(d.ended) >= mapBound {
					clear(d.ended)
				}
				d.ended[rec.Sock] = done
			}
		}
		if kev.To == TCPClose {
			delete(d.connecting, rec.Sock)
			delete(d.tuples, rec.Sock)
			if held, ok := d.held[rec.Sock]; ok {
				// Closed before it ever had a port: as they are.
				delete(d.held, rec.Sock)
				kevs = append(kevs, held...)
			}
		}
	case recSockError:
		kev.Errno = syscall.Errno(rec.A)
	}
	// A listener's new connection on some kernels (Debian 12's 6.1; not
	// 6.18): inet_csk_clone_lock sets its SYN_RECV state before its
	// remote end and own address, so the record has the listener's
	// address and no peer. The next record of the socket (ESTABLISHED)
	// has both: wait for it, as for a port.
	newConn := rec.Type == recState && kev.From == TCPListen && kev.To == TCPSynRecv && !kev.Remote.IsValid()
	if (kev.Local.Port() == 0 || newConn) && kev.To != TCPClose && (kev.Remote.IsValid() || newConn) {
		// No port yet: wait for the record that gives it.
		if len(d.held) >= mapBound {
			clear(d.held)
		}
		d.held[rec.Sock] = append(d.held[rec.Sock], kev)
		return evs, kevs
	}
	return evs, append(kevs, kev)
}
