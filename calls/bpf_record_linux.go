//go:build linux && (amd64 || arm64)

package calls

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/capture"
)

// How the eBPF recorder works
//
// bpf/recorder.bpf.c is loaded into the kernel and attached to
// the sys_enter/sys_exit raw tracepoints (the socket calls), sched_process_fork
// and sched_process_exit (which processes are traced), and the sock and
// tcp tracepoints (the kernel's view of the connections). Its records
// come through one ring buffer; a goroutine reads them in order and turns
// them into Events (decode.go's rules, the same as the ptrace tracer's)
// and KernelEvents. Nothing stops the traced program: it runs at full
// speed, with about a microsecond of CPU added to each recorded call and a
// few hundred nanoseconds to any other system call on the machine while
// recording (BenchmarkRecordPerCall, on a 2-vCPU virtual machine; most of
// a recorded call's cost is the ring buffer's reservation).
//
// The ring buffer holds 16 MiB (about 100,000 records). When user space
// falls that far behind, the kernel side counts what it could not write
// (TraceStats.Dropped); nothing is lost silently. The kernel side does not
// wake the reader for each record: the reader polls every progressEvery,
// more often while records flow, and is woken early when the ring's fill
// crosses a quarter.

// ErrBPFUnavailable is returned (wrapped, with the reason) by Record and
// RecordPID when the kernel does not let socktrace use eBPF: no CAP_BPF
// or CAP_PERFMON, no BTF, a locked-down kernel, missing tracepoints.
// Callers can fall back to Trace and Attach.
var ErrBPFUnavailable = errors.New("eBPF recording unavailable")

// Recorder records a program's socket calls and its connections' kernel
// events with eBPF (Record, RecordPID).
type Recorder struct {
	opts TraceOptions
	name string
	ctx  context.Context
	objs recorderObjects
	// compat: the compat object was loaded (a kernel before 6.2).
	compat bool
	links  []link.Link
	rd     *ringbuf.Reader
	clock  clockOffset
	dec    decoder

	rootPid  int
	ownChild bool // the root is our child: reap it for its exit code
	// all is set for Watch: every process is recorded, none is ours to
	// wait for, and only the context ends the recording.
	all bool

	mu        sync.Mutex
	alive     map[uint32]bool // traced processes not yet exited
	rootDone  bool
	rootCode  int
	exitNoted bool // CommandExited called
	cancelled bool

	records, events atomic.Uint64
	// The packet capture (opts.Packets): attached, segments delivered,
	// and the kernel side's count of those lost when recording ended.
	capturing           bool
	packets             atomic.Uint64
	packetsDroppedFinal atomic.Uint64
	pktBuf              []byte
	pkt                 capture.Packet
	// droppedFinal is the kernel side's drop count when recording ended
	// (closed set): its map is gone then.
	droppedFinal atomic.Uint64
	closed       atomic.Bool
	// rdMu keeps Backlog off the reader's mapping once close unmaps it.
	rdMu     sync.Mutex
	rdClosed bool

	// lastMono is the latest time a record was stamped with (readLoop's
	// own), reportedMono the one last reported to Progress.
	lastMono, reportedMono uint64

	done chan struct{}
	code int
	err  error
}

// Record starts argv and records it and every process it starts, with
// eBPF, until all of them have exited; it returns once the command runs.
// Events and KernelEvents go to opts.Events and opts.Kernel. argv[0] is
// looked up in PATH; when it cannot be found Record returns an *ExecError.
// When eBPF cannot be used it returns an error wrapping ErrBPFUnavailable
// and starts nothing.
//
// Cancelling ctx kills the command and every process it started; Wait
// then returns ctx.Err().
func Record(ctx context.Context, argv []string, opts TraceOptions) (*Recorder, error) {
	return record(ctx, argv, opts, nil)
}

func record(ctx context.Context, argv []string, opts TraceOptions, pre *Preloaded) (*Recorder, error) {
	if len(argv) == 0 {
		return nil, errors.New("calls: Record: empty command")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, &ExecError{Name: argv[0], Err: err}
	}
	if opts.Dir != "" && !filepath.IsAbs(path) {
		if path, err = filepath.Abs(path); err != nil {
			return nil, &ExecError{Name: argv[0], Err: err}
		}
	}
	r, err := pre.recorder(ctx, opts, argv[0])
	if err != nil {
		return nil, err
	}
	if opts.Packets != nil {
		if err := r.startCapture(opts.CaptureInterface); err != nil {
			r.close()
			return nil, err
		}
	}
	if err := r.startChild(path, argv); err != nil {
		r.close()
		return nil, err
	}
	r.start()
	return r, nil
}

// RecordPID records the running process pid and the processes it starts
// from then on, until it exits or ctx is cancelled. The process is never
// stopped. On cancel Wait returns 0 and ctx.Err(); when the process exits,
// its exit code.
func RecordPID(ctx context.Context, pid int, opts TraceOptions) (*Recorder, error) {
	return recordPID(ctx, pid, opts, nil)
}

func recordPID(ctx context.Context, pid int, opts TraceOptions, pre *Preloaded) (*Recorder, error) {
	if pid <= 0 {
		return nil, fmt.Errorf("calls: RecordPID: invalid pid %d", pid)
	}
	if err := unix.Kill(pid, 0); errors.Is(err, unix.ESRCH) {
		return nil, fmt.Errorf("calls: record pid %d: no such process", pid)
	}
	r, err := pre.recorder(ctx, opts, fmt.Sprintf("pid %d", pid))
	if err != nil {
		return nil, err
	}
	r.rootPid = pid
	if opts.Packets != nil {
		if err := r.startCapture(opts.CaptureInterface); err != nil {
			r.close()
			return nil, err
		}
	}
	if err := r.addProc(uint32(pid)); err != nil {
		r.close()
		return nil, err
	}
	if r.capturing {
		// Its connections that are open already: their segments from
		// now on, not from its next call on them. At best: a process
		// that exits meanwhile, or a /proc this process may not read
		// (hidepid), leaves them to be marked by the calls.
		_ = r.markOwnPorts(pid)
	}
	r.start()
	return r, nil
}

// Watch records the socket calls of every process on the machine that
// name a connection — bind, listen, connect, accept, shutdown, close; not
// socket() or the data calls — and the kernel's reports on every TCP
// socket, until ctx is cancelled; Wait then returns 0 and ctx.Err(). It is
// what lets `watch` say which process owns each connection.
func Watch(ctx context.Context, opts TraceOptions) (*Recorder, error) {
	r, err := newRecorder(ctx, opts, "all processes", true)
	if err != nil {
		return nil, err
	}
	r.start()
	return r, nil
}

// Wait waits until recording has ended and returns the command's exit code
// (128+N when killed by signal N), as Tracer.Wait does.
func (r *Recorder) Wait() (exitCode int, err error) {
	<-r.done
	return r.code, r.err
}

// Backlog is how full the ring buffer is, from 0 to 1: what the kernel
// has written and the reader has not read yet. At 1 the kernel drops
// records (TraceStats counts them). It is safe to call from any
// goroutine; once recording has ended it is 0.
func (r *Recorder) Backlog() float64 {
	r.rdMu.Lock()
	defer r.rdMu.Unlock()
	if r.rdClosed || r.rd == nil || r.rd.BufferSize() == 0 {
		return 0
	}
	return float64(r.rd.AvailableBytes()) / float64(r.rd.BufferSize())
}

// Stats reports what the recorder has done so far.
func (r *Recorder) Stats() TraceStats {
	return TraceStats{
		Events:         r.events.Load(),
		Records:        r.records.Load(),
		Dropped:        r.droppedNow(),
		Packets:        r.packets.Load(),
		PacketsDropped: r.packetsDroppedNow(),
	}
}

// newRecorder loads the BPF objects and attaches them. all records every
// process (watch).
func newRecorder(ctx context.Context, opts TraceOptions, name string, all bool) (*Recorder, error) {
	r, err := loadedRecorder(opts.RingBufferSize, all)
	if err != nil {
		return nil, err
	}
	r.ctx, r.opts, r.name = ctx, opts, name
	return r, nil
}

// loadedRecorder is a Recorder with its BPF objects loaded and attached,
// recording nothing yet: no process is in its map (unless all).
func loadedRecorder(ringBufferSize int, all bool) (*Recorder, error) {
	r := &Recorder{alive: make(map[uint32]bool), done: make(chan struct{}), code: -1, all: all}
	r.opts.RingBufferSize = ringBufferSize
	r.dec.init()
	r.pktBuf = make([]byte, 0, capture.SLL2HeaderLen+PacketSnapLen)
	// The memory layout the capture needs, read while the programs load
	// (each takes tens of milliseconds of a CPU: in parallel, the wait
	// is the longer of the two). Not for watch, which captures nothing.
	var layout chan memoryLayout
	if !all && runtime.GOARCH == "amd64" {
		layout = make(chan memoryLayout, 1)
		go func() {
			l, _ := readMemoryLayout("/proc/kallsyms") // unread: no payload from fragments
			layout <- l
		}()
	}
	if err := r.load(all); err != nil {
		r.close()
		return nil, err
	}
	if layout != nil {
		if err := r.setMemoryLayout(<-layout); err != nil {
			r.close()
			return nil, err
		}
	}
	r.clock = newClockOffset()
	return r, nil
}

// Preloaded is a recorder being loaded into the kernel ahead of Record or
// RecordPID. Loading and attaching the BPF programs is most of what
// starting to record costs (about 100 ms: the kernel's BTF, the verifier,
// the maps), and the caller can do other work meanwhile, such as opening
// its packet capture. Nothing is recorded before Record or RecordPID.
type Preloaded struct {
	ringBufferSize int
	done           chan struct{}
	r              *Recorder
	err            error

	mu    sync.Mutex
	taken bool
}

// Preload starts loading a recorder in the background, for one Record or
// RecordPID whose options have this RingBufferSize (0: the default).
func Preload(ringBufferSize int) *Preloaded {
	p := &Preloaded{ringBufferSize: ringBufferSize, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.r, p.err = loadedRecorder(ringBufferSize, false)
	}()
	return p
}

// Err waits until the loading has ended and returns its error: nil when
// the recorder is ready, one wrapping ErrBPFUnavailable when eBPF cannot
// be used here (Record and RecordPID would fail with it).
func (p *Preloaded) Err() error {
	<-p.done
	return p.err
}

// Record is Record with the preloaded recorder. It fails, as Record
// does, when eBPF cannot be used: the error is the loading's.
func (p *Preloaded) Record(ctx context.Context, argv []string, opts TraceOptions) (*Recorder, error) {
	return record(ctx, argv, opts, p)
}

// RecordPID is RecordPID with the preloaded recorder.
func (p *Preloaded) RecordPID(ctx context.Context, pid int, opts TraceOptions) (*Recorder, error) {
	return recordPID(ctx, pid, opts, p)
}

// Close releases the preloaded recorder unless Record or RecordPID took
// it. It does not wait for the loading to end.
func (p *Preloaded) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.taken {
		return
	}
	p.taken = true
	go func() {
		<-p.done
		if p.r != nil {
			p.r.close()
		}
	}()
}

// recorder is the Recorder to record with: the preloaded one (once), or
// one loaded now when p is nil.
func (p *Preloaded) recorder(ctx context.Context, opts TraceOptions, name string) (*Recorder, error) {
	if p == nil {
		return newRecorder(ctx, opts, name, false)
	}
	if opts.RingBufferSize != p.ringBufferSize {
		return nil, fmt.Errorf("calls: record %s: preloaded with a ring buffer of %d bytes, not %d", name, p.ringBufferSize, opts.RingBufferSize)
	}
	p.mu.Lock()
	taken := p.taken
	p.taken = true
	p.mu.Unlock()
	if taken {
		return nil, fmt.Errorf("calls: record %s: the preloaded recorder is used or closed", name)
	}
	<-p.done
	if p.err != nil {
		return nil, p.err
	}
	p.r.ctx, p.r.opts, p.r.name = ctx, opts, name
	return p.r, nil
}

// loadError is an ErrBPFUnavailable error that keeps its cause (such as
// an *ebpf.VerifierError: the kernel rejected a program) for errors.As.
type loadError struct {
	unavailable error
	cause       error
}

func (e *loadError) Error() string   { return e.unavailable.Error() }
func (e *loadError) Unwrap() []error { return []error{e.unavailable, e.cause} }

func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBPFUnavailable, fmt.Sprintf(format, args...))
}

func (r *Recorder) load(all bool) error {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return unavailable("the kernel has no BTF (/sys/kernel/btf/vmlinux: %v)", errors.Unwrap(err))
	}
	// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK.
	_ = rlimit.RemoveMemlock()
	// The recorder, and the compat object for kernels before 6.2, which
	// have no bpf_rdonly_cast (bpf_generate.go): the same programs, maps
	// and records.
	objects := []func() (*ebpf.CollectionSpec, error){loadRecorder, loadRecordercompat}
	if forceCompat {
		objects = objects[1:]
	}
	var first error
	for i, loadSpec := range objects {
		spec, err := loadSpec()
		if err != nil {
			return fmt.Errorf("calls: %w", err)
		}
		if err := r.prepare(spec, all); err != nil {
			return err
		}
		err = loadObjects(spec, &r.objs)
		if err == nil {
			r.compat = forceCompat || i > 0
			break
		}
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return &loadError{unavailable("the kernel refused to load BPF programs (needs CAP_BPF and CAP_PERFMON, or root; kernel.unprivileged_bpf_disabled, lockdown): %v", err), err}
		}
		// What to say when neither loads: why the compat object
		// failed when the first needed what the kernel lacks (a kfunc),
		// else why the first did.
		if first == nil || errors.Is(first, ebpf.ErrNotSupported) {
			first = err
		}
		if i == len(objects)-1 {
			return &loadError{unavailable("loading the BPF programs: %v", firstLine(first)), first}
		}
	}
	for nr, kind := range bpfCallNumbers {
		if all && (kind == bpfCallSocket || kind == bpfCallSetsockopt || dataCallNames[uint32(kind)] != "") {
			// Watching every process: only the calls that tie a
			// connection to its process, to keep the cost down.
			continue
		}
		if err := r.objs.NrKinds.Put(uint32(nr), uint32(kind)); err != nil {
			return fmt.Errorf("calls: fill nr_kinds: %w", err)
		}
	}
	for _, p := range []*ebpf.Program{r.objs.SysEnter, r.objs.SysExit, r.objs.ProcessFork, r.objs.ProcessExit, r.objs.SetState,
		r.objs.Retransmit, r.objs.RetransmitSynack, r.objs.SendReset, r.objs.ReceiveReset, r.objs.ErrorReport} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return unavailable("attaching %s: %v", p, err)
		}
		r.links = append(r.links, l)
	}
	rd, err := ringbuf.NewReader(r.objs.Events)
	if err != nil {
		return fmt.Errorf("calls: ring buffer: %w", err)
	}
	r.rd = rd
	return nil
}

// prepare sets a recorder object's options before it is loaded: the ring
// buffer's size and wake-up mark, the capture's namespace, watch's mode
// and maps.
func (r *Recorder) prepare(spec *ebpf.CollectionSpec, all bool) error {
	if n := r.opts.RingBufferSize; n != 0 {
		if n < os.Getpagesize() || n&(n-1) != 0 {
			return fmt.Errorf("calls: ring buffer size %d is not a power of two of at least a page", n)
		}
		spec.Maps["events"].MaxEntries = uint32(n)
	}
	ring := int(spec.Maps["events"].MaxEntries)
	if err := spec.Variables["wakeup_bytes"].Set(uint64(ring / wakeupFraction)); err != nil {
		return fmt.Errorf("calls: %w", err)
	}
	netns, err := netnsInode()
	if err != nil {
		return err
	}
	if err := spec.Variables["capture_netns"].Set(netns); err != nil {
		return fmt.Errorf("calls: %w", err)
	}
	if all {
		if err := spec.Variables["trace_all"].Set(uint32(1)); err != nil {
			return fmt.Errorf("calls: %w", err)
		}
		// watch records every process for as long as it runs: sockets
		// whose end it never sees (a killed process's unconnected
		// ones) must age out rather than fill the maps, and its start
		// is on no program's clock.
		for _, name := range agingMaps {
			spec.Maps[name].Type = ebpf.LRUHash
		}
	}
	return nil
}

// loadObjects loads spec into objs. Its hash maps are allocated as they
// fill, not all at once: preallocating procs and pendings took most of the
// time it takes to start recording (docs/performance.md). Kernels before
// 6.1 allow only preallocated hash maps in tracing programs: then they
// are.
func loadObjects(spec *ebpf.CollectionSpec, objs *recorderObjects) error {
	for _, name := range lazyMaps {
		if spec.Maps[name].Type == ebpf.Hash {
			spec.Maps[name].Flags |= unix.BPF_F_NO_PREALLOC
		}
	}
	err := spec.LoadAndAssign(objs, nil)
	if err != nil && !errors.Is(err, unix.EPERM) && !errors.Is(err, unix.EACCES) {
		for _, name := range lazyMaps {
			spec.Maps[name].Flags &^= unix.BPF_F_NO_PREALLOC
		}
		err = spec.LoadAndAssign(objs, nil)
	}
	return err
}

// forceCompat makes the recorder load the compat object (tests: it must
// record as the first does, on this kernel too).
var forceCompat bool

// lazyMaps are the hash maps created without preallocation (pendings is
// task storage, never preallocated).
var lazyMaps = []string{"procs", "socks", "listeners"}

// agingMaps are made LRU maps for Watch (always preallocated: 25-90 ms of
// start-up for socks' 65536 entries, which Record and RecordPID do not
// pay).
var agingMaps = []string{"socks", "listeners"}

// wakeupFraction: the kernel side wakes the reader when the ring buffer's
// fill crosses this fraction (once per crossing); otherwise the reader
// finds the records when it polls (pollEvery). A wake-up per record cost
// more CPU than reading the record, in socktrace and in the traced
// program (docs/performance.md).
const wakeupFraction = 4

// firstLine keeps the first line of a verifier error (the full log is
// hundreds of lines).
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func (r *Recorder) close() {
	// Detaching from the system call tracepoints waits for the kernel's RCU grace
	// periods (some 15–30 ms each here): the links are closed at once,
	// so that the waits overlap.
	var wg sync.WaitGroup
	for _, l := range r.links {
		wg.Go(func() { l.Close() })
	}
	wg.Wait()
	r.links = nil
	r.rdMu.Lock()
	r.rdClosed = true // also when finish never ran (a failed start)
	r.rdMu.Unlock()
	if r.rd != nil {
		r.rd.Close()
	}
	r.objs.Close()
}

func (r *Recorder) addProc(tgid uint32) error {
	r.mu.Lock()
	r.alive[tgid] = true
	r.mu.Unlock()
	if err := r.objs.Procs.Put(tgid, uint8(1)); err != nil {
		return fmt.Errorf("calls: record %s: %w", r.name, err)
	}
	return nil
}

// startChild starts the command, traced from its first instruction: the
// thread that forks it is marked in the adopters map, and the kernel
// side's fork hook puts the child in the process map before the child
// first runs. (No exec helper: a re-exec of this binary cost some 30 ms
// of every run.) When the command cannot be executed, startChild returns
// an *ExecError.
func (r *Recorder) startChild(path string, argv []string) error {
	env := r.opts.Env
	if env == nil {
		env = os.Environ()
	}
	stdio := r.opts.stdio()
	attr := &syscall.ProcAttr{
		Dir:   r.opts.Dir,
		Env:   env,
		Files: []uintptr{stdio[0].Fd(), stdio[1].Fd(), stdio[2].Fd()},
	}
	// The fork must come from the marked thread: no other goroutine
	// runs on it meanwhile, and none of its forks is adopted.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := uint32(unix.Gettid())
	if err := r.objs.Adopters.Put(tid, uint8(1)); err != nil {
		return fmt.Errorf("calls: record %s: %w", r.name, err)
	}
	pid, err := syscall.ForkExec(path, argv, attr)
	if derr := r.objs.Adopters.Delete(tid); derr != nil && err == nil {
		unix.Kill(pid, unix.SIGKILL)
		reap(pid)
		return fmt.Errorf("calls: record %s: %w", r.name, derr)
	}
	runtime.KeepAlive(stdio)
	if err != nil {
		// ForkExec has reaped the child that could not exec.
		if errors.Is(err, unix.ENOENT) {
			err = fmt.Errorf("%w: %w", exec.ErrNotFound, err)
		}
		return &ExecError{Name: r.name, Err: err}
	}
	r.rootPid, r.ownChild = pid, true
	// Already in the process map (the fork hook); Put again, so that a
	// fork record lost to a full ring cannot leave it out.
	return r.addProc(uint32(pid))
}

func reap(pid int) (unix.WaitStatus, error) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			return ws, err
		}
	}
}

func (r *Recorder) start() {
	go r.readLoop()
	if r.ownChild {
		go r.reapRoot()
	}
	go r.watchContext()
}

func (r *Recorder) watchContext() {
	select {
	case <-r.done:
		return
	case <-r.ctx.Done():
	}
	r.mu.Lock()
	r.cancelled = true
	var pids []uint32
	for pid := range r.alive {
		pids = append(pids, pid)
	}
	r.mu.Unlock()
	if r.ownChild {
		// Record: kill the tree. The pids cannot have been reused: they
		// have not been reported exited.
		for _, pid := range pids {
			unix.Kill(int(pid), unix.SIGKILL)
		}
	}
	r.rd.Flush() // wake the reader to notice
}

// reapRoot waits for the command (our child) and keeps its exit code.
func (r *Recorder) reapRoot() {
	ws, err := reap(r.rootPid)
	code := -1
	switch {
	case err != nil:
	case ws.Exited():
		code = ws.ExitStatus()
	case ws.Signaled():
		code = 128 + int(ws.Signal())
	}
	r.mu.Lock()
	r.rootDone, r.rootCode = true, code
	r.mu.Unlock()
	r.rd.Flush()
}

// finished says whether recording is over: every traced process has
// exited (and the command was reaped), or ctx was cancelled.
func (r *Recorder) finished() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.all {
		// No process of its own: a quiet second (no record, the read's
		// deadline) is not the end.
		return r.cancelled
	}
	if r.cancelled && !r.ownChild {
		return true
	}
	if r.ownChild && !r.rootDone {
		return false
	}
	return len(r.alive) == 0
}

// progressEvery is how often the reader polls the ring buffer while it is
// quiet (the kernel side wakes it only when the ring crosses a quarter
// full), reports Progress and notices processes gone without a record.
// While records flow (a poll found busyBytes or more) it polls every
// busyPollEvery, so that the ring stays far from full without the kernel
// side waking it.
const (
	progressEvery = 50 * time.Millisecond
	busyPollEvery = 10 * time.Millisecond
)

// pollEvery is the reader's next poll interval after a poll that read n
// bytes of records from a ring of ring bytes.
func pollEvery(n, ring int) time.Duration {
	if n >= ring/busyFraction {
		return busyPollEvery
	}
	return progressEvery
}

// busyFraction: a poll that read this fraction of the ring or more means
// records are flowing.
const busyFraction = 32

// While records flow, Progress is reported every progressStep of their
// time, progressMargin behind the latest.
const (
	progressStep   = 10 * time.Millisecond
	progressMargin = time.Millisecond
)

// readLoop delivers the records until recording is over, then drains the
// ring buffer and ends.
func (r *Recorder) readLoop() {
	var rec ringbuf.Record
	deadline := time.Now().Add(progressEvery)
	r.rd.SetDeadline(deadline)
	ring := r.objs.Events.MaxEntries()
	read := 0 // bytes of records read since the last poll
	for {
		var before time.Time
		if r.opts.Progress != nil {
			before = time.Now()
		}
		err := r.rd.ReadInto(&rec)
		switch {
		case err == nil:
			read += len(rec.RawSample) + 8 // and the record's header
			r.handle(rec.RawSample)
			if r.opts.Progress != nil && r.lastMono > r.reportedMono+uint64(progressStep) {
				// Records come in the order they were written, each
				// stamped just after: those written before this one,
				// less a margin for the CPUs' race to the ring, are in.
				r.reportedMono = r.lastMono
				r.opts.Progress(r.clock.wall(r.lastMono - uint64(progressMargin)))
			}
			continue
		case errors.Is(err, os.ErrDeadlineExceeded):
			// The reader returns this only after its wait for records
			// (begun after before, ended at the deadline or later)
			// and a read of the ring to its end: every record written
			// before then has been handled.
			if r.opts.Progress != nil {
				if before.Before(deadline) {
					before = deadline
				}
				r.opts.Progress(before)
			}
			deadline = time.Now().Add(pollEvery(read, int(ring)))
			r.rd.SetDeadline(deadline)
			read = 0
			// A safety net for exits the ring buffer had no room for:
			// once a record was lost, forget processes that are gone at
			// every poll. (Not only when the count grows: a process that
			// had exited but was not yet reaped when the last record was
			// lost is gone only later.)
			if r.droppedNow() > 0 {
				r.pruneAlive()
			}
		case errors.Is(err, ringbuf.ErrFlushed):
		default:
			r.finish(fmt.Errorf("calls: record %s: reading the ring buffer: %w", r.name, err))
			return
		}
		r.maybeCommandExited()
		if r.finished() {
			break
		}
	}
	if r.capturing {
		// The segments that still come for the exited processes'
		// connections (a peer's FIN after the program closed and
		// left): their ports stay marked a while.
		time.Sleep(captureLinger)
	}
	// Every record the exited processes made is in the buffer: drain it.
	r.rd.Flush()
	for {
		if err := r.rd.ReadInto(&rec); err != nil {
			break
		}
		r.handle(rec.RawSample)
	}
	r.finish(nil)
}

// maybeCommandExited calls opts.CommandExited once, when the command has
// exited and processes it started live on. All the fork records made
// before the command exited have been read by then (reapRoot flushes).
func (r *Recorder) maybeCommandExited() {
	r.mu.Lock()
	if !r.ownChild || !r.rootDone || r.exitNoted || r.opts.CommandExited == nil {
		r.mu.Unlock()
		return
	}
	r.exitNoted = true
	code := r.rootCode
	var running []Process
	for pid := range r.alive {
		if int(pid) != r.rootPid {
			running = append(running, Process{PID: int(pid)})
		}
	}
	r.mu.Unlock()
	if len(running) == 0 {
		return
	}
	for i := range running {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", running[i].PID)); err == nil {
			running[i].Comm = strings.TrimSuffix(string(b), "\n")
		}
	}
	slices.SortFunc(running, func(a, b Process) int { return a.PID - b.PID })
	r.opts.CommandExited(code, running)
}

func (r *Recorder) pruneAlive() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for pid := range r.alive {
		if exited(int(pid)) {
			delete(r.alive, pid)
		}
	}
}

// exited says whether process pid has exited: it is gone, or a zombie
// waiting for its parent (which may never reap it).
func exited(pid int) bool {
	if unix.Kill(pid, 0) == unix.ESRCH {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) S ...: comm may hold anything, the state follows the
	// last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	state := b[i+2]
	return state == 'Z' || state == 'X'
}

func (r *Recorder) finish(err error) {
	for _, k := range r.dec.flush() {
		if r.opts.Kernel != nil {
			r.opts.Kernel(k)
		}
	}
	r.mu.Lock()
	code, cancelled := r.rootCode, r.cancelled
	r.mu.Unlock()
	r.code, r.err = code, err
	switch {
	case r.ownChild: // reapRoot's code
	case !cancelled:
		r.code = r.dec.exitCode(uint32(r.rootPid))
	default:
		r.code = 0
	}
	if cancelled && r.err == nil {
		r.err = r.ctx.Err()
	}
	// The count lives in a map that close frees: keep it for Stats.
	r.droppedFinal.Store(r.droppedNow())
	r.packetsDroppedFinal.Store(r.packetsDroppedNow())
	r.closed.Store(true)
	// Recording has ended: what the ring still holds is no one's now.
	r.rdMu.Lock()
	r.rdClosed = true
	r.rdMu.Unlock()
	// Wait returns at once; the programs are detached meanwhile (some
	// 30–60 ms of the kernel's RCU grace periods), while the caller goes
	// on with its report. Nothing is delivered after this.
	go r.close()
	close(r.done)
}

// droppedNow sums the kernel side's per-CPU count of records that did not
// fit in the ring buffer.
func (r *Recorder) droppedNow() uint64 {
	if r.closed.Load() {
		return r.droppedFinal.Load()
	}
	return sumPerCPU(r.objs.Dropped)
}

// sumPerCPU sums the per-CPU counts of a one-entry per-CPU array (0 when
// the map is not there, or cannot be read).
func sumPerCPU(m *ebpf.Map) uint64 {
	if m == nil {
		return 0
	}
	var perCPU []uint64
	if err := m.Lookup(uint32(0), &perCPU); err != nil {
		return 0
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n
}

// handle decodes one record and delivers what it yields.
func (r *Recorder) handle(raw []byte) {
	r.records.Add(1)
	if len(raw) >= 20 && binary.NativeEndian.Uint32(raw[16:20]) == recPacket {
		r.handlePacket(raw)
		return
	}
	var rec recorderEvent
	if !decodeRecord(raw, &rec) {
		return
	}
	if t := max(rec.EnterNs, rec.ExitNs); t > r.lastMono {
		r.lastMono = t
	}
	switch rec.Type {
	case recFork:
		r.mu.Lock()
		r.alive[rec.A] = true
		r.mu.Unlock()
		return
	case recExit:
		r.dec.exited(rec.Pid, rec.Ret)
		r.mu.Lock()
		delete(r.alive, rec.Pid)
		r.mu.Unlock()
		return
	}
	evs, kevs := r.dec.record(&rec, r.clock)
	for _, ev := range evs {
		r.deliver(ev)
	}
	if r.opts.Kernel != nil {
		for _, k := range kevs {
			r.opts.Kernel(k)
		}
	}
}

func (r *Recorder) deliver(ev Event) {
	r.events.Add(1)
	if r.opts.Events != nil {
		r.opts.Events(ev)
	}
}

// clockOffset converts the kernel's CLOCK_MONOTONIC nanoseconds
// (bpf_ktime_get_ns) to wall-clock time, the clock packets are stamped
// with.
type clockOffset struct{ realMinusMono int64 }

func newClockOffset() clockOffset {
	// The narrowest of a few samples: the offset is known to within the
	// time between the two wall-clock reads.
	best, width := int64(0), int64(1<<62)
	for range 5 {
		var mono unix.Timespec
		t0 := time.Now().UnixNano()
		unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
		t1 := time.Now().UnixNano()
		if w := t1 - t0; w < width {
			width = w
			best = (t0+t1)/2 - mono.Nano()
		}
	}
	return clockOffset{best}
}

func (c clockOffset) wall(mono uint64) time.Time {
	if mono == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(mono)+c.realMinusMono)
}
