package calls

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/socktrace/socktrace/capture"
)

// Tracing a program (Trace, Attach; Linux on amd64 and arm64).
//
// Which events come. One Event per socket call on a TCP socket (IPv4,
// IPv6, MPTCP): socket, bind, listen, connect, accept and accept4 (both
// Call "accept"), shutdown, close, and setsockopt of SO_LINGER (Detail
// "SO_LINGER 0" when the close that follows will abort with a RST; other
// options are not stopped on). Calls on other sockets (UNIX, UDP,
// netlink) and close of anything that is not a socket produce nothing.
// Failed calls are events too, with Result -1 and Errno set: a
// non-blocking accept that found nothing queued (EAGAIN, as Go and
// asyncio servers make one per wake-up), a connect that returned
// EINPROGRESS. A call still blocked when tracing ends (the program was
// killed in accept, or Attach detached) comes with a zero Exit.
//
// What each carries. PID, TID and Comm (/proc/PID/comm, re-read after
// exec). FD is the descriptor the call was made on (for accept, the
// listening socket; the new one is Result; for socket, the new one, also
// in Result). Local and Remote are resolved at the time of the call:
// connect's Remote is the address given and its Local the one the kernel
// chose (read after the call returned); bind's Local is the address
// given, with "bound to ADDR" in Detail when the kernel picked the port;
// accept's are the new connection's; close and shutdown are resolved at
// entry, before the descriptor goes (a connection already closed by both
// sides has no peer any more: its 4-tuple from connect or accept is
// reported). IPv4-mapped IPv6 addresses are reported as IPv4, as they are
// on the wire. Detail: socket "AF_INET6 SOCK_STREAM|SOCK_NONBLOCK|...",
// listen "backlog N", accept4 "accept4 SOCK_NONBLOCK|...", shutdown
// "SHUT_WR", bind "bound to ADDR".
//
// Non-blocking connect. The call returns EINPROGRESS and is reported as
// such, with its local address (the SYN is already sent). When the
// handshake ends, a second connect event follows: same FD and addresses,
// Enter of the original call, Exit the moment the tracer saw the
// handshake over (an upper bound, usually within microseconds), Detail
// "completed" with Result 0, or "failed" with Result -1 (the errno is the
// program's to read with SO_ERROR; reading it would steal it).
//
// Side. Set where the calls make it plain: listen and accept, and close
// or shutdown of a listening or accepted socket, are Server; connect, and
// close or shutdown of a connected socket, are Client. socket and bind
// leave it empty.
//
// Helper process. Trace re-executes the running binary (/proc/self/exe)
// as a small helper that installs the seccomp filter and then execs the
// command (trace_exec_linux.go explains why). Package calls' init
// recognises the helper by an environment variable; in any other process
// it costs one environment lookup. A binary that imports package calls
// needs nothing else for Trace to work, go test binaries included.

// PacketSnapLen is how many bytes of each segment, from its network header
// on, the eBPF recorder's packet capture keeps (TraceOptions.Packets): the
// IP and TCP headers whole (with options) and the start of the payload.
// The wire length is kept.
const PacketSnapLen = 128

// TraceOptions configures Trace and Attach.
type TraceOptions struct {
	// Events receives each observed socket call once it has returned
	// (and, for calls still blocked when tracing ends, with a zero Exit).
	// It is called from goroutines owned by the Tracer, never
	// concurrently, in the order the calls returned. While it runs, the
	// traced thread that made the call stays stopped, so it must return
	// quickly: hand the event to a channel or a buffer and go on. It must
	// not call Wait. A nil Events discards the events.
	Events func(Event)

	// Kernel receives what the kernel reported about the traced
	// program's TCP sockets: state changes, retransmissions, resets,
	// errors. Only the eBPF recorder (Record, RecordPID, Watch) calls it,
	// from the same goroutine as Events and in order with its events. A
	// nil Kernel discards them.
	Kernel func(KernelEvent)

	// Progress, if set, is called now and then with a time t such that
	// every call that returned before t, and every kernel event before
	// t, has been given to Events and Kernel: a streaming reader can put
	// what it holds from before t in order and go on. Calls still blocked
	// at t (a read waiting for data) come later, with their Enter before
	// t. Only the eBPF recorder calls it, from the same goroutine as
	// Events; the ptrace tracer delivers each call while the thread that
	// made it is stopped, so it has nothing to catch up on.
	Progress func(t time.Time)

	// Packets, if set, receives the traced program's TCP segments, which
	// the eBPF recorder (Record, RecordPID) then records in the kernel
	// beside its calls: the segments of its sockets only, as an AF_PACKET
	// capture on CaptureInterface would see them, each as a LINUX_SLL2
	// frame with the first PacketSnapLen bytes from the network header on
	// (Length is the whole frame's). It is called from the same goroutine
	// as Events, in order with the calls, and Progress covers it too. The
	// Packet and its Data are valid only during the call. The ptrace
	// tracer and Watch ignore it: capture with package capture instead.
	Packets func(*capture.Packet)
	// CaptureInterface is the interface Packets captures on: "" or
	// capture.AnyInterface for every interface of this network
	// namespace.
	CaptureInterface string

	// RingBufferSize is the size in bytes of the eBPF recorder's ring
	// buffer: a power of two, at least a page; 0 means 16 MiB. Smaller
	// rings lose records sooner under a storm (counted in
	// TraceStats.Dropped); tests shrink it to make that happen.
	RingBufferSize int

	// Env is the environment of the traced command; nil means the
	// environment of the current process. Dir is its working directory;
	// empty means the current one. Trace only.
	Env []string
	Dir string

	// Stdin, Stdout and Stderr are the traced command's standard files;
	// nil means the current process's own (os.Stdin, ...). Trace only.
	Stdin, Stdout, Stderr *os.File

	// CommandExited, if set, is called once when the traced command
	// itself exits while processes it started are still running and
	// traced (Trace only). Wait goes on until they exit too, as strace
	// -f does; the caller can say so. It gets the command's exit code
	// and those processes. Like Events, it runs on the tracer's
	// goroutine and must return quickly.
	CommandExited func(code int, running []Process)
}

// Process is a traced process: its PID and its name (comm).
type Process struct {
	PID  int
	Comm string
}

// TraceStats counts what a Tracer did, for overhead measurements.
type TraceStats struct {
	Stops        uint64 // every ptrace stop handled
	SeccompStops uint64 // stops caused by the seccomp filter (socket calls and close)
	SyscallStops uint64 // syscall-entry and syscall-exit stops
	Events       uint64 // events delivered
	// The eBPF recorder's counts: records read from its ring buffer, and
	// records the kernel side could not write because the buffer was
	// full (lost events: reported, never silent).
	Records, Dropped uint64
	// The recorder's packet capture (TraceOptions.Packets): segments
	// delivered, and those lost to a full ring buffer.
	Packets, PacketsDropped uint64
}

// ErrPtraceNotPermitted is returned (wrapped) by Trace and Attach when the
// kernel refuses ptrace: yama's kernel.yama.ptrace_scope, a container
// without CAP_SYS_PTRACE, a seccomp policy, or another tracer already
// attached. Callers can go on without the calls (capture only) when
// errors.Is(err, ErrPtraceNotPermitted).
var ErrPtraceNotPermitted = errors.New("ptrace not permitted")

// ExecError reports that the command given to Trace could not be run: it
// was not found, or the kernel refused to execute it. Trace returns it
// when exec.LookPath fails; Wait returns it when execve failed in the
// child.
type ExecError struct {
	Name string // the command as given
	Err  error  // exec.ErrNotFound, a syscall.Errno, ...
}

func (e *ExecError) Error() string {
	return fmt.Sprintf("cannot run %s: %v", e.Name, e.Err)
}

func (e *ExecError) Unwrap() error { return e.Err }

// ExitCode is the exit status a shell would give: 127 when the command
// was not found, 126 when it was found but could not be executed.
func (e *ExecError) ExitCode() int {
	if isNotFound(e.Err) {
		return 127
	}
	return 126
}

func isNotFound(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist)
}
