//go:build linux && (amd64 || arm64)

package calls

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/socktrace/socktrace/internal/neutral"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// How tracing works
//
// One goroutine, locked to its OS thread for its whole life, is the
// tracer: Linux ties ptrace to the thread that attached, so every ptrace
// request and every wait4 happens there. It waits with
// wait4(-1, __WALL|__WNOTHREAD): __WNOTHREAD keeps it from reaping
// children that other goroutines of the host program started (their
// threads are never this one).
//
// Trace starts the command under a seccomp filter (see trace_exec_linux.go)
// that returns SECCOMP_RET_TRACE for socket, bind, listen, connect, accept,
// accept4, shutdown and close, and for setsockopt(SOL_SOCKET, SO_LINGER)
// (the filter checks the arguments: the option that makes close abort with
// a RST stops, TCP_NODELAY and the like do not), so the command runs at
// full speed except at those calls. At a seccomp stop the tracer reads the call
// (PTRACE_GET_SYSCALL_INFO: arch-neutral, and it names the ABI, so an i386
// call on amd64 is decoded with its own numbers), records the entry time,
// and, when the call is one it reports, resumes with PTRACE_SYSCALL to stop
// again at the syscall exit for the result and exit time; otherwise (close
// of a file, a UDP socket) it resumes with PTRACE_CONT at once.
//
// Attach cannot install a filter in a running process without injecting
// code that would stay there after detaching (a filter returning
// SECCOMP_RET_TRACE with no tracer makes the call fail with ENOSYS), so it
// stops at every system call entry and exit (PTRACE_SYSCALL), like strace.
// That is slower; it is what --pid costs.
//
// Sockets are resolved with pidfd_getfd(2): the tracer takes a duplicate
// of the tracee's descriptor while the tracee is stopped, asks it
// (getsockname, getpeername, SO_DOMAIN, SO_PROTOCOL, fstat for the inode)
// and closes it again before resuming. Only TCP sockets (IPv4, IPv6,
// MPTCP) produce events. Close is resolved at entry, before the
// descriptor is gone; connect's local address after its exit.
//
// Non-blocking connect: the EINPROGRESS return is reported as it is, with
// the local address the kernel chose (the SYN is already out). The tracer
// then looks at the socket (TCP_INFO; never SO_ERROR, which would consume
// the error the program is about to read). If the handshake has already
// ended — on loopback it usually has — the completion event follows at
// once. Otherwise the tracer keeps its duplicate of the socket and a
// goroutine waits with epoll until it is writable, then reports it. A
// watch still pending when the program closes the descriptor is settled
// at that close's entry, before the close event. In every case the
// completion's Exit is when the tracer saw the handshake over: an upper
// bound, usually within microseconds; the packets give the exact time.
// The duplicate is dropped at the latest when the program closes the
// descriptor (at close entry, so it never delays a FIN), execs, or exits.
// (A descriptor closed by dup2 or close_range, which are not stopped on,
// keeps the socket open until the handshake ends or the process exits.)
//
// Side, Detail and the other fields: see the notes in trace.go.

// Kernel constants missing from or named differently in x/sys/unix.
const (
	wNoThread       = 0x20000000 // __WNOTHREAD
	ipprotoMPTCP    = 262
	errRestartSys   = 512 // ERESTARTSYS and friends: the call will be restarted
	errRestartNoInt = 513
	errRestartNoHnd = 514
	errRestartBlock = 516
)

// Options for the traced command: the child is killed if the tracer
// thread dies (no untraced child left running with a filter that would
// make its socket calls fail).
const traceOptions = unix.PTRACE_O_TRACESECCOMP | unix.PTRACE_O_TRACECLONE |
	unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK | unix.PTRACE_O_TRACEEXEC |
	unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_EXITKILL

// Options for an attached process: no EXITKILL, so that if socktrace dies
// the kernel detaches and the process goes on.
const attachOptions = unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEFORK |
	unix.PTRACE_O_TRACEVFORK | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_TRACESYSGOOD

// Tracer follows a traced command (Trace) or an attached process (Attach)
// and delivers its socket calls to TraceOptions.Events.
type Tracer struct {
	opts   TraceOptions
	attach bool
	name   string
	ctx    context.Context

	// Owned by the tracer goroutine.
	syscallMode bool // stop at every syscall (Attach, or no seccomp filter)
	rootPid     int
	rootExeced  bool
	rootDone    bool
	report      *os.File // the exec helper's report pipe (Trace)
	tasks       map[int]*task
	procs       map[int]*proc
	socks       map[uint64]sockMemo // by socket inode
	detaching   bool
	noGetfd     bool    // pidfd_getfd refused: resolve sockets through /proc
	after       []Event // to deliver after the current call's event
	wakerPid    int

	mu        sync.Mutex // guards the fields below, shared with cancel
	cancelled bool
	pidfds    map[int]int // tgid → pidfd (-1: none), to kill the tree on cancel
	wakeW     *os.File

	emitMu sync.Mutex // serialises Events calls
	conns  *connWatcher

	stops, seccompStops, syscallStops, events atomic.Uint64

	done chan struct{}
	code int
	err  error
}

// task is a traced thread.
type task struct {
	tid     int
	proc    *proc
	pending *pendingCall
}

// proc is a traced process (thread group).
type proc struct {
	pid     int
	pidfd   int
	comm    string
	threads int
}

// pendingCall is a call seen at entry whose exit is awaited.
type pendingCall struct {
	kind       callKind
	args       [6]uint64
	ev         Event
	restarting bool // interrupted by a signal; the kernel will restart it
}

// Trace starts argv under ptrace with the socket-call seccomp filter and
// returns once it runs. argv[0] is looked up in PATH as by os/exec; when
// it cannot be found Trace returns an *ExecError (ExitCode 127) and starts
// nothing. When ptrace is refused it returns an error wrapping
// ErrPtraceNotPermitted.
//
// Cancelling ctx kills the command and every process it started (SIGKILL),
// reaps them, and makes Wait return ctx.Err(). Without that, Wait returns
// when the command and all its descendants have exited.
func Trace(ctx context.Context, argv []string, opts TraceOptions) (*Tracer, error) {
	if len(argv) == 0 {
		return nil, errors.New("calls: Trace: empty command")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, &ExecError{Name: argv[0], Err: err}
	}
	if opts.Dir != "" && !filepath.IsAbs(path) {
		// Found relative to our directory; the command starts in Dir.
		if path, err = filepath.Abs(path); err != nil {
			return nil, &ExecError{Name: argv[0], Err: err}
		}
	}
	t := newTracer(ctx, opts, argv[0])
	if err := t.start(func() error { return t.startChild(path, argv) }); err != nil {
		return nil, err
	}
	return t, nil
}

// Attach traces every thread of the running process pid, and the
// processes and threads it starts from then on, until the process exits
// or ctx is cancelled. On cancel it detaches and leaves the process
// running as it was; Wait then returns 0 and ctx.Err(). When the process
// exits, Wait returns its exit code.
//
// Attach stops the process at every system call (see the package notes
// in trace_linux.go): expect it to run markedly slower while traced.
//
// A process that is a child of the calling process is reaped by the
// tracer when it exits (the kernel gives the exit to a tracer in the real
// parent's thread group): its exit code comes from Wait, and an
// exec.Cmd.Wait on it fails with ECHILD.
func Attach(ctx context.Context, pid int, opts TraceOptions) (*Tracer, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("calls: Attach: invalid pid %d", pid)
	}
	if pid == os.Getpid() {
		return nil, errors.New("calls: Attach: a process cannot trace itself")
	}
	t := newTracer(ctx, opts, "pid "+strconv.Itoa(pid))
	t.attach = true
	t.syscallMode = true
	if err := t.start(func() error { return t.seizeProcess(pid) }); err != nil {
		return nil, err
	}
	return t, nil
}

// Wait waits until tracing has ended and returns the exit code of the
// traced command (128+N when killed by signal N, as a shell reports it).
// Its error is nil when the command ran and exited, whatever its code;
// an *ExecError (with exit code 127 or 126) when it could not be
// executed; ctx.Err() when tracing was cancelled. After Wait returns no
// more events are delivered.
func (t *Tracer) Wait() (exitCode int, err error) {
	<-t.done
	return t.code, t.err
}

// Stats reports what the tracer has done so far.
func (t *Tracer) Stats() TraceStats {
	return TraceStats{
		Stops:        t.stops.Load(),
		SeccompStops: t.seccompStops.Load(),
		SyscallStops: t.syscallStops.Load(),
		Events:       t.events.Load(),
	}
}

func newTracer(ctx context.Context, opts TraceOptions, name string) *Tracer {
	return &Tracer{
		opts:   opts,
		name:   name,
		ctx:    ctx,
		tasks:  make(map[int]*task),
		procs:  make(map[int]*proc),
		socks:  make(map[uint64]sockMemo),
		pidfds: make(map[int]int),
		done:   make(chan struct{}),
		code:   -1,
	}
}

// start runs setup and then the trace loop on a dedicated, locked OS
// thread, and returns setup's error.
func (t *Tracer) start(setup func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: when this goroutine returns, the runtime ends
		// the thread, and the kernel then detaches (Attach) or kills
		// (Trace, PTRACE_O_EXITKILL) whatever is still traced. That is
		// the last line of defence against stopped or orphaned tracees.
		runtime.LockOSThread()
		if err := setup(); err != nil {
			t.closeProcs()
			errc <- err
			return
		}
		cw, err := newConnWatcher(t)
		if err != nil {
			// Not fatal: the EINPROGRESS connect events still come,
			// only their completion is not reported.
			cw = nil
		}
		t.conns = cw
		errc <- nil
		go t.watchContext()
		t.loop()
		t.finish()
	}()
	return <-errc
}

func (t *Tracer) watchContext() {
	select {
	case <-t.done:
		return
	case <-t.ctx.Done():
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cancelled = true
	if t.attach {
		// Wake the tracer thread out of wait4: the waker child exits
		// when its pipe closes. The tracer then detaches.
		if t.wakeW != nil {
			t.wakeW.Close()
			t.wakeW = nil
		}
		return
	}
	for pid, fd := range t.pidfds {
		if fd < 0 {
			// No pidfd (pidfd_open refused): a plain kill. The pid
			// cannot have been reused: it is a traced process not yet
			// reported dead, so no one has reaped it.
			unix.Kill(pid, unix.SIGKILL)
			continue
		}
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	}
}

func (t *Tracer) isCancelled() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cancelled
}

// startChild starts the exec helper (trace_exec_linux.go), seizes it and
// lets it go on to install the filter and exec path.
func (t *Tracer) startChild(path string, argv []string) error {
	goR, goW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("calls: trace %s: %w", t.name, err)
	}
	defer goW.Close()
	repR, repW, err := os.Pipe()
	if err != nil {
		goR.Close()
		return fmt.Errorf("calls: trace %s: %w", t.name, err)
	}

	henv := t.opts.helperEnviron(helperExec)
	stdio := t.opts.stdio()
	attr := &syscall.ProcAttr{
		Dir:   t.opts.Dir,
		Env:   henv,
		Files: []uintptr{stdio[0].Fd(), stdio[1].Fd(), stdio[2].Fd(), goR.Fd(), repW.Fd()},
	}
	hargv := append([]string{helperArgv0, path}, argv...)
	pid, err := syscall.ForkExec("/proc/self/exe", hargv, attr)
	goR.Close()
	repW.Close()
	if err != nil {
		repR.Close()
		return fmt.Errorf("calls: trace %s: start exec helper: %w", t.name, err)
	}
	// Wait until the helper runs: seizing it while the kernel is still
	// exec'ing /proc/self/exe would report that exec as the command's.
	var ready [5]byte
	if _, err := io.ReadFull(repR, ready[:]); err != nil || ready[0] != reportReady {
		goW.Close()
		repR.Close()
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		if err == nil {
			err = fmt.Errorf("unexpected report %q", ready[0])
		}
		return fmt.Errorf("calls: trace %s: exec helper did not start: %w", t.name, err)
	}
	if err := ptraceSeize(pid, traceOptions); err != nil {
		// The helper reads EOF on its go pipe and exits without
		// running the command; reap it.
		goW.Close()
		repR.Close()
		var ws unix.WaitStatus
		for {
			if _, werr := unix.Wait4(pid, &ws, 0, nil); werr != unix.EINTR {
				break
			}
		}
		return ptraceError(t.name, err)
	}
	t.rootPid = pid
	t.report = repR
	t.addTask(pid, pid)
	if _, err := goW.Write([]byte{1}); err != nil {
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			// Our child, and traced: reap both reports.
			if _, werr := unix.Wait4(pid, &ws, unix.WALL, nil); werr != nil && werr != unix.EINTR {
				break
			}
		}
		return fmt.Errorf("calls: trace %s: release exec helper: %w", t.name, err)
	}
	return nil
}

func ptraceError(name string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("calls: cannot trace %s: %w (PTRACE_SEIZE: %v); check kernel.yama.ptrace_scope "+
			"(3 forbids all tracing), CAP_SYS_PTRACE in a container, or another tracer already attached",
			name, ErrPtraceNotPermitted, err)
	}
	return fmt.Errorf("calls: trace %s: PTRACE_SEIZE: %w", name, err)
}

// seizeProcess seizes every thread of pid. Threads started while it works
// by already-seized threads are attached by the kernel (TRACECLONE); the
// others are found by listing /proc/PID/task again until nothing is new.
func (t *Tracer) seizeProcess(pid int) error {
	seized := make(map[int]bool)
	for {
		tids, err := listTasks(pid)
		if err != nil {
			if len(seized) == 0 {
				if errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("calls: attach to pid %d: no such process", pid)
				}
				return fmt.Errorf("calls: attach to pid %d: %w", pid, err)
			}
			break
		}
		added := 0
		for _, tid := range tids {
			if seized[tid] {
				continue
			}
			if err := ptraceSeize(tid, attachOptions); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue // the thread has just exited
				}
				// Returning ends this thread; the kernel detaches
				// whatever was seized so far.
				return ptraceError(t.name, err)
			}
			seized[tid] = true
			added++
		}
		if added == 0 {
			break
		}
	}
	t.rootPid = pid
	for tid := range seized {
		t.addTask(tid, pid)
		// Seized threads run on; stop each once so it can be restarted
		// with PTRACE_SYSCALL.
		if err := ptraceInterrupt(tid); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("calls: attach to pid %d: PTRACE_INTERRUPT %d: %w", pid, tid, err)
		}
	}
	return t.startWaker()
}

// startWaker starts a child of the tracer thread that exits when wakeW is
// closed; its exit is what wakes wait4 when ctx is cancelled during
// Attach, so that the tracer thread — the only one allowed to — detaches.
func (t *Tracer) startWaker() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("calls: attach: %w", err)
	}
	pid, err := syscall.ForkExec("/proc/self/exe", []string{helperArgv0 + "-wake"}, &syscall.ProcAttr{
		Env:   []string{helperEnv + "=" + helperWake},
		Files: []uintptr{r.Fd()},
	})
	r.Close()
	if err != nil {
		w.Close()
		return fmt.Errorf("calls: attach: start waker: %w", err)
	}
	t.wakerPid = pid
	t.mu.Lock()
	t.wakeW = w
	t.mu.Unlock()
	return nil
}

func listTasks(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return nil, err
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// addTask records a new traced thread of process tgid (0: find out).
func (t *Tracer) addTask(tid, tgid int) *task {
	if tk := t.tasks[tid]; tk != nil {
		return tk
	}
	if tgid == 0 {
		tgid = readTgid(tid)
	}
	p := t.procs[tgid]
	if p == nil {
		p = &proc{pid: tgid, pidfd: -1}
		if fd, err := unix.PidfdOpen(tgid, 0); err == nil {
			p.pidfd = fd
		}
		t.mu.Lock()
		t.pidfds[tgid] = p.pidfd
		cancelled := t.cancelled && !t.attach
		t.mu.Unlock()
		if cancelled {
			// Born after the kill sweep: kill it too.
			if p.pidfd >= 0 {
				unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
			} else {
				unix.Kill(tgid, unix.SIGKILL)
			}
		}
		t.procs[tgid] = p
	}
	p.threads++
	tk := &task{tid: tid, proc: p}
	t.tasks[tid] = tk
	return tk
}

// removeTask forgets a thread that exited or was detached.
func (t *Tracer) removeTask(tk *task) {
	if t.tasks[tk.tid] != tk {
		return
	}
	delete(t.tasks, tk.tid)
	if pc := tk.pending; pc != nil {
		// Still blocked when it died or was detached: report the call
		// with no exit.
		tk.pending = nil
		t.emit(tk, pc.ev)
	}
	p := tk.proc
	p.threads--
	if p.threads > 0 {
		return
	}
	delete(t.procs, p.pid)
	if t.conns != nil {
		t.conns.dropProc(p.pid)
	}
	t.mu.Lock()
	delete(t.pidfds, p.pid)
	t.mu.Unlock()
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
}

func (t *Tracer) closeProcs() {
	for _, tk := range t.tasks {
		tk.pending = nil
		t.removeTask(tk)
	}
	if t.report != nil {
		t.report.Close()
		t.report = nil
	}
}

func readTgid(tid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return tid
	}
	s := string(b)
	if i := strings.Index(s, "\nTgid:"); i >= 0 {
		s = s[i+len("\nTgid:"):]
		if j := strings.IndexByte(s, '\n'); j >= 0 {
			s = s[:j]
		}
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
			return n
		}
	}
	return tid
}

// loop handles ptrace stops until nothing is traced any more.
func (t *Tracer) loop() {
	for len(t.tasks) > 0 {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(-1, &ws, unix.WALL|wNoThread, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			// ECHILD: the kernel says nothing is left, whatever our
			// bookkeeping says.
			if !errors.Is(err, unix.ECHILD) && t.err == nil {
				t.err = fmt.Errorf("calls: trace %s: wait4: %w", t.name, err)
			}
			return
		}
		if wpid == t.wakerPid {
			t.wakerPid = 0
			if t.attach && !t.detaching {
				if !t.isCancelled() && t.err == nil {
					// Killed by someone else: without it a cancel
					// could not wake us, so leave now.
					t.err = fmt.Errorf("calls: trace %s: waker process %d died; detached", t.name, wpid)
				}
				t.startDetach()
			}
			continue
		}
		t.handle(wpid, ws)
		if t.attach && !t.detaching && t.isCancelled() {
			t.startDetach()
		}
	}
}

func (t *Tracer) finish() {
	if t.wakerPid != 0 {
		t.mu.Lock()
		if t.wakeW != nil {
			t.wakeW.Close()
			t.wakeW = nil
		}
		t.mu.Unlock()
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(t.wakerPid, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		t.wakerPid = 0
	}
	t.closeProcs()
	if t.conns != nil {
		t.conns.stop()
	}
	if t.attach && !t.rootDone {
		// Detached: the process runs on and has no exit code; 0, so
		// that "until Ctrl-C" ends as a success.
		t.code = 0
	}
	if t.isCancelled() && t.err == nil {
		t.err = t.ctx.Err()
	}
	close(t.done)
}

// handle acts on one wait4 report.
func (t *Tracer) handle(wpid int, ws unix.WaitStatus) {
	t.stops.Add(1)
	tk := t.tasks[wpid]
	if ws.Exited() || ws.Signaled() {
		if tk != nil {
			t.removeTask(tk)
		}
		if wpid == t.rootPid && !t.rootDone {
			t.rootExit(ws)
		}
		return
	}
	if !ws.Stopped() {
		return
	}
	if tk == nil {
		// A new child whose first stop came before its parent's
		// fork/clone event.
		tk = t.addTask(wpid, 0)
	}
	sig := ws.StopSignal()
	event := int(ws>>16) & 0xff
	if t.detaching {
		t.detachStop(tk, sig, event)
		return
	}
	switch {
	case sig == unix.SIGTRAP|0x80:
		t.syscallStop(tk)
	case event == unix.PTRACE_EVENT_SECCOMP:
		t.seccompStop(tk)
	case event == unix.PTRACE_EVENT_FORK || event == unix.PTRACE_EVENT_VFORK || event == unix.PTRACE_EVENT_CLONE:
		if msg, err := unix.PtraceGetEventMsg(tk.tid); err == nil && msg != 0 {
			t.addTask(int(msg), 0)
		}
		t.resume(tk, 0)
	case event == unix.PTRACE_EVENT_EXEC:
		t.execStop(tk)
	case event == unix.PTRACE_EVENT_STOP:
		switch sig {
		case unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
			// Group-stop: stay stopped, as without a tracer, but
			// keep reporting (SIGCONT, PTRACE_INTERRUPT).
			if err := ptraceListen(tk.tid); err != nil {
				t.resume(tk, 0)
			}
		default:
			t.resume(tk, 0) // a new tracee's first stop, or an interrupt
		}
	case event != 0:
		t.resume(tk, 0)
	default:
		// Signal-delivery-stop: deliver the signal.
		t.resume(tk, int(sig))
	}
}

func (t *Tracer) rootExit(ws unix.WaitStatus) {
	t.rootDone = true
	switch {
	case ws.Exited():
		t.code = ws.ExitStatus()
	case ws.Signaled():
		t.code = 128 + int(ws.Signal())
	}
	if !t.attach && !t.rootExeced {
		if kind, errno := t.readReport(); kind == reportExecError {
			if errno == 0 {
				errno = unix.ENOEXEC
			}
			var err error = errno
			if errno == unix.ENOENT {
				err = fmt.Errorf("%w: %w", exec.ErrNotFound, errno)
			}
			e := &ExecError{Name: t.name, Err: err}
			t.code = e.ExitCode()
			t.err = e
		}
	}
	if t.attach || t.err != nil || t.opts.CommandExited == nil {
		return
	}
	var running []Process
	for pid, p := range t.procs {
		if pid != t.rootPid && pid != t.wakerPid {
			running = append(running, Process{PID: pid, Comm: t.comm(p)})
		}
	}
	if len(running) > 0 {
		slices.SortFunc(running, func(a, b Process) int { return a.PID - b.PID })
		t.opts.CommandExited(t.code, running)
	}
}

// readReport reads what the exec helper wrote before exec (or exit).
// All write ends are closed by then, so the read cannot block.
func (t *Tracer) readReport() (kind byte, errno unix.Errno) {
	if t.report == nil {
		return 0, 0
	}
	defer func() {
		t.report.Close()
		t.report = nil
	}()
	var buf [64]byte
	n, _ := t.report.Read(buf[:])
	for i := 0; i+5 <= n; i += 5 {
		k := buf[i]
		e := unix.Errno(uint32(buf[i+1]) | uint32(buf[i+2])<<8 | uint32(buf[i+3])<<16 | uint32(buf[i+4])<<24)
		if k == reportExecError || kind == 0 {
			kind, errno = k, e
		}
	}
	return kind, errno
}

func (t *Tracer) execStop(tk *task) {
	p := tk.proc
	if msg, err := unix.PtraceGetEventMsg(tk.tid); err == nil && int(msg) != tk.tid {
		// A non-leader thread exec'd and took the leader's tid; its old
		// tid is gone without an exit report.
		if old := t.tasks[int(msg)]; old != nil {
			old.pending = nil
			t.removeTask(old)
		}
	}
	tk.pending = nil
	p.comm = ""
	if t.conns != nil {
		// Close-on-exec may have closed a socket whose connect we
		// watch; never hold a socket open that the program dropped.
		t.conns.dropProc(p.pid)
	}
	if tk.tid == t.rootPid && !t.rootExeced && !t.attach {
		t.rootExeced = true
		if kind, _ := t.readReport(); kind == reportNoFilter {
			// The helper could not install the filter (seccomp
			// disabled or forbidden): stop at every syscall instead.
			t.syscallMode = true
		}
	}
	t.resume(tk, 0)
}

// resume restarts a stopped tracee, to the next syscall exit when a call
// awaits its result, else to the next filter (or, in syscall mode, any
// syscall) stop.
func (t *Tracer) resume(tk *task, sig int) {
	var err error
	if t.syscallMode || (tk.pending != nil && !tk.pending.restarting) {
		err = unix.PtraceSyscall(tk.tid, sig)
	} else {
		err = unix.PtraceCont(tk.tid, sig)
	}
	_ = err // ESRCH: killed meanwhile; its exit report follows.
}

func (t *Tracer) seccompStop(tk *task) {
	t.seccompStops.Add(1)
	var info syscallInfo
	if err := getSyscallInfo(tk.tid, &info); err != nil || info.Op != unix.PTRACE_SYSCALL_INFO_SECCOMP {
		t.resume(tk, 0)
		return
	}
	t.enter(tk, &info)
}

func (t *Tracer) syscallStop(tk *task) {
	t.syscallStops.Add(1)
	var info syscallInfo
	if err := getSyscallInfo(tk.tid, &info); err != nil {
		t.resume(tk, 0)
		return
	}
	switch info.Op {
	case unix.PTRACE_SYSCALL_INFO_ENTRY:
		t.enter(tk, &info)
	case unix.PTRACE_SYSCALL_INFO_EXIT:
		t.exit(tk, &info)
	default:
		t.resume(tk, 0)
	}
}

// enter handles a traced call at entry.
func (t *Tracer) enter(tk *task, info *syscallInfo) {
	kind := kindOf(info.Arch, info.Nr)
	args := info.Args
	if kind == callSocketcall {
		kind = socketcallKinds[uint32(args[0])]
		if kind != callNone {
			var raw [6 * 4]byte
			if err := readMem(tk.tid, uintptr(args[1]), raw[:]); err != nil {
				kind = callNone
			}
			for i := range args {
				args[i] = uint64(uint32(raw[4*i]) | uint32(raw[4*i+1])<<8 | uint32(raw[4*i+2])<<16 | uint32(raw[4*i+3])<<24)
			}
		}
	}
	if kind == callNone {
		t.resume(tk, 0)
		return
	}
	enter := time.Now()
	if pc := tk.pending; pc != nil && pc.restarting && pc.kind == kind && pc.args[0] == args[0] {
		// The same call restarted after a signal: it entered when it
		// first did.
		enter = pc.ev.Enter
	}
	tk.pending = t.begin(tk, kind, args, enter)
	t.resume(tk, 0)
}

// begin starts the event of a call at its entry; nil means the call will
// not produce one (not a TCP socket).
func (t *Tracer) begin(tk *task, kind callKind, args [6]uint64, enter time.Time) *pendingCall {
	fd := int(int32(args[0]))
	pc := &pendingCall{kind: kind, args: args, ev: Event{FD: fd, Enter: enter, PID: tk.proc.pid, TID: tk.tid}}
	ev := &pc.ev
	switch kind {
	case callSocket:
		domain, typ := int(int32(args[0])), int(int32(args[1]))
		if (domain != unix.AF_INET && domain != unix.AF_INET6) || typ&0xf != unix.SOCK_STREAM {
			return nil
		}
		ev.Call, ev.FD = Socket, -1
		ev.Detail = socketDetail(domain, typ)
	case callBind, callConnect:
		ap, ok := readSockaddr(tk.tid, uintptr(args[1]), args[2])
		if !ok {
			return nil // AF_UNIX, AF_UNSPEC, unreadable: not a TCP address
		}
		if kind == callBind {
			ev.Call, ev.Local = Bind, ap
		} else {
			ev.Call, ev.Remote, ev.Side = Connect, ap, Client
		}
	case callSendto, callSendmsg:
		// TCP Fast Open: a send with MSG_FASTOPEN on a socket not yet
		// connected is its connect() (complete drops the one on a
		// connected socket, which fails with EISCONN). The filter
		// stops only such sends; without it (syscall mode) every send
		// stops, and the others end here.
		flags, addr, alen := args[3], args[4], args[5]
		name := "sendto MSG_FASTOPEN"
		if kind == callSendmsg {
			// struct user_msghdr (64-bit): msg_name, msg_namelen.
			var hdr [12]byte
			if readMem(tk.tid, uintptr(args[1]), hdr[:]) != nil {
				return nil
			}
			flags, name = args[2], "sendmsg MSG_FASTOPEN"
			addr = binary.NativeEndian.Uint64(hdr[0:8])
			alen = uint64(max(int32(binary.NativeEndian.Uint32(hdr[8:12])), 0))
		}
		if flags&unix.MSG_FASTOPEN == 0 {
			return nil
		}
		ap, ok := readSockaddr(tk.tid, uintptr(addr), alen)
		if !ok {
			return nil
		}
		ev.Call, ev.Remote, ev.Side, ev.Detail = Connect, ap, Client, name
	case callListen:
		ev.Call, ev.Side = Listen, Server
		ev.Detail = "backlog " + strconv.Itoa(int(int32(args[1])))
	case callAccept, callAccept4:
		ev.Call, ev.Side = Accept, Server
		if kind == callAccept4 {
			ev.Detail = "accept4" + sockFlags(int(int32(args[3])), " ")
		}
	case callSetsockopt:
		if int32(args[1]) != unix.SOL_SOCKET || int32(args[2]) != unix.SO_LINGER {
			return nil // stopped only without the filter (syscall mode)
		}
		s, ok := t.inspect(tk.proc, fd, false)
		if !ok || !s.tcp {
			return nil
		}
		memo := t.socks[s.ino]
		ev.Call, ev.Local, ev.Remote, ev.Side = SetSockOpt, s.local, s.remote, memo.side
		ev.Detail = "SO_LINGER"
		var l [8]byte // struct linger { int l_onoff; int l_linger; }
		if args[4] >= uint64(len(l)) && readMem(tk.tid, uintptr(args[3]), l[:]) == nil {
			onoff := int32(binary.NativeEndian.Uint32(l[0:4]))
			linger := int32(binary.NativeEndian.Uint32(l[4:8]))
			if onoff == 0 {
				ev.Detail = "SO_LINGER off"
			} else {
				// "SO_LINGER 0": close will abort with a RST.
				ev.Detail = "SO_LINGER " + strconv.Itoa(int(linger))
			}
		}
	case callShutdown, callClose:
		if kind == callClose && t.conns != nil {
			// Before anything else: our duplicate must not outlive
			// the program's descriptor, or the close would not close.
			t.conns.drop(tk.proc.pid, fd)
		}
		s, ok := t.inspect(tk.proc, fd, false)
		if !ok || !s.tcp {
			return nil
		}
		memo := t.socks[s.ino]
		ev.Local, ev.Remote, ev.Side = s.local, s.remote, memo.side
		if !ev.Remote.IsValid() && memo.remote.IsValid() {
			// A connection already fully closed by both sides
			// (TIME_WAIT lives on without the socket) no longer has a
			// peer; it had one when we saw it connect or accept.
			ev.Local, ev.Remote = memo.local, memo.remote
		}
		if kind == callShutdown {
			ev.Call = Shutdown
			ev.Detail = shutdownHow(int(int32(args[1])))
		} else {
			// The memo stays: the socket may live on in another
			// descriptor (dup, fork, SCM_RIGHTS) closed later.
			ev.Call = Close
		}
	default:
		return nil
	}
	return pc
}

// exit completes a pending call at its syscall exit.
func (t *Tracer) exit(tk *task, info *syscallInfo) {
	pc := tk.pending
	if pc == nil || pc.restarting {
		t.resume(tk, 0)
		return
	}
	rval := int64(info.Nr)
	isErr := info.Args[0]&0xff != 0
	if isErr && isRestart(-rval) {
		pc.restarting = true
		t.resume(tk, 0)
		return
	}
	tk.pending = nil
	ev := pc.ev
	ev.Exit = time.Now()
	if isErr {
		ev.Result, ev.Errno = -1, unix.Errno(-rval)
	} else {
		ev.Result = int(rval)
	}
	if t.complete(tk, pc, &ev) {
		t.emit(tk, ev)
	}
	for _, e := range t.after {
		t.deliver(e)
	}
	t.after = t.after[:0]
	t.resume(tk, 0)
}

// complete fills in what is known only after the call: the new socket's
// addresses, the connect's local address. It reports false when the call
// turns out not to be on a TCP socket.
func (t *Tracer) complete(tk *task, pc *pendingCall, ev *Event) bool {
	p := tk.proc
	switch pc.kind {
	case callSocket:
		if ev.Errno == 0 {
			ev.FD = ev.Result
		}
	case callBind:
		s, ok := t.inspect(p, ev.FD, false)
		if !ok || !s.tcp {
			return false
		}
		if ev.Errno == 0 && s.local != ev.Local {
			ev.Detail = "bound to " + s.local.String()
		}
	case callListen:
		s, ok := t.inspect(p, ev.FD, false)
		if !ok || !s.tcp {
			return false
		}
		ev.Local = s.local
		if ev.Errno == 0 {
			t.remember(s.ino, sockMemo{side: Server, local: s.local})
		}
	case callConnect, callSendto, callSendmsg:
		if pc.kind != callConnect && ev.Errno == unix.EISCONN {
			return false // a send on a connected socket: no connect
		}
		keep := ev.Errno == unix.EINPROGRESS && t.conns != nil
		s, ok := t.inspect(p, ev.FD, keep)
		keep = keep && ok && s.dup >= 0
		if !ok || !s.tcp {
			if keep {
				unix.Close(s.dup)
			}
			return false
		}
		ev.Local = s.local
		if ev.Errno == 0 || ev.Errno == unix.EINPROGRESS {
			t.remember(s.ino, sockMemo{side: Client, local: s.local, remote: ev.Remote})
		}
		if keep {
			pending := *ev
			pending.Comm = t.comm(p)
			if done, ok := t.conns.watch(p.pid, ev.FD, s.dup, pending); ok {
				t.after = append(t.after, done)
			}
		}
	case callAccept, callAccept4:
		if ev.Errno != 0 {
			s, ok := t.inspect(p, ev.FD, false)
			if !ok || !s.tcp {
				return false
			}
			ev.Local = s.local
			break
		}
		s, ok := t.inspect(p, ev.Result, false)
		if !ok || !s.tcp {
			return false
		}
		ev.Local, ev.Remote = s.local, s.remote
		t.remember(s.ino, sockMemo{side: Server, local: s.local, remote: s.remote})
	}
	return true
}

// sockMemo is what the tracer remembers of a socket from its connect,
// accept or listen: its side, and its addresses, which do not change
// afterwards (a connection's 4-tuple, a listener's address).
type sockMemo struct {
	side          Side
	local, remote netip.AddrPort
}

func (t *Tracer) remember(ino uint64, m sockMemo) {
	if len(t.socks) >= 1<<16 {
		// Sockets closed by means the tracer does not see (exit,
		// close_range, SCM_RIGHTS) leave entries behind; bound the map.
		clear(t.socks)
	}
	t.socks[ino] = m
}

func (t *Tracer) emit(tk *task, ev Event) {
	ev.Comm = t.comm(tk.proc)
	t.deliver(ev)
}

func (t *Tracer) deliver(ev Event) {
	t.emitMu.Lock()
	defer t.emitMu.Unlock()
	t.events.Add(1)
	if t.opts.Events != nil {
		t.opts.Events(ev)
	}
}

func (t *Tracer) comm(p *proc) string {
	if p.comm == "" {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid) + "/comm")
		if err != nil {
			return ""
		}
		// A program names itself (prctl PR_SET_NAME): the name may be an
		// escape sequence meant for the terminal of whoever traces it.
		p.comm = neutral.String(strings.TrimSuffix(string(b), "\n"))
	}
	return p.comm
}

func isRestart(errno int64) bool {
	switch errno {
	case errRestartSys, errRestartNoInt, errRestartNoHnd, errRestartBlock:
		return true
	}
	return false
}

// startDetach begins leaving an attached process: every thread is
// interrupted, and detached at its next stop (detachStop).
func (t *Tracer) startDetach() {
	t.detaching = true
	for tid := range t.tasks {
		ptraceInterrupt(tid) // ESRCH: it exited; the report follows
	}
}

func (t *Tracer) detachStop(tk *task, sig unix.Signal, event int) {
	inject := 0
	switch {
	case event == unix.PTRACE_EVENT_FORK || event == unix.PTRACE_EVENT_VFORK || event == unix.PTRACE_EVENT_CLONE:
		// The new child is traced too; interrupt it so it can be
		// detached at its first stop.
		if msg, err := unix.PtraceGetEventMsg(tk.tid); err == nil && msg != 0 {
			t.addTask(int(msg), 0)
			ptraceInterrupt(int(msg))
		}
	case event == 0 && sig != unix.SIGTRAP|0x80 && sig != unix.SIGTRAP:
		inject = int(sig) // a signal on its way: let it arrive
	}
	unix.PtraceDetach(tk.tid)
	if inject != 0 {
		unix.Tgkill(tk.proc.pid, tk.tid, unix.Signal(inject))
	}
	t.removeTask(tk)
}

// syscallInfo is struct ptrace_syscall_info (linux/ptrace.h). For an exit
// stop, Nr holds rval and the low byte of Args[0] is_error.
type syscallInfo struct {
	Op      uint8
	_       uint8
	_       uint16
	Arch    uint32
	IP      uint64
	SP      uint64
	Nr      uint64
	Args    [6]uint64
	RetData uint32
	_       uint32
}

func getSyscallInfo(tid int, info *syscallInfo) error {
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_GET_SYSCALL_INFO, uintptr(tid),
		unsafe.Sizeof(*info), uintptr(unsafe.Pointer(info)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func ptraceSeize(pid, options int) error {
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_SEIZE, uintptr(pid), 0, uintptr(options), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func ptraceInterrupt(tid int) error {
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_INTERRUPT, uintptr(tid), 0, 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func ptraceListen(tid int) error {
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_LISTEN, uintptr(tid), 0, 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
