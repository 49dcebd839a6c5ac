package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/urfave/cli/v2"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/internal/neutral"
)

// runProgram traces a program's socket calls (a command it starts, or a
// running process with --pid) while capturing its packets, and explains
// its connections with the calls aligned. The command's exit code becomes
// socktrace's, except when socktrace was stopped (Ctrl-C, SIGTERM,
// SIGHUP): then what was captured is explained and it exits 0.
//
// The report and the program can share stdout. A text report is for a
// person and interleaves as strace's output does on a terminal; a JSON
// report must stay parseable, so then the program's stdout is sent to
// socktrace's stderr (it is said once on stderr). With -o FILE the report
// goes to the file and the program keeps stdout.
func runProgram(c *cli.Context) error {
	argv := c.Args().Slice()
	pid := c.Int("pid")
	switch {
	case c.IsSet("pid") && pid <= 0:
		return usagef("--pid %d is not a process ID", pid)
	case pid == 0 && len(argv) == 0:
		return usagef("run needs a command or a process: socktrace run -- CMD ARGS..., or socktrace run --pid PID")
	case pid != 0 && len(argv) > 0:
		return usagef("run takes a command or --pid, not both")
	}
	if pid != 0 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return fmt.Errorf("--pid %d: no such process", pid)
		}
	}
	tracer := c.String("tracer")
	if err := checkTracer(tracer); err != nil {
		return err
	}
	captureHow := c.String("capture")
	switch {
	case captureHow != "auto" && captureHow != "ebpf" && captureHow != "afpacket":
		return usagef("--capture takes auto, ebpf or afpacket, not %q", captureHow)
	case captureHow == "ebpf" && tracer == "ptrace":
		return usagef("--capture ebpf needs the calls recorded with eBPF, not --tracer ptrace")
	}
	outs, err := openOutputs(c, nil)
	if err != nil {
		return err
	}
	out, err := makeOutput(c, outs, false, false)
	if err != nil {
		outs.abort()
		return err
	}
	iface := c.String("iface")
	if iface == "" {
		// A program may talk to any address: capture them all, as
		// tcpdump -i any does (loopback's duplicates dropped).
		iface = capture.AnyInterface
	}
	stderr := c.App.ErrWriter
	opts := calls.TraceOptions{
		RingBufferSize: runRingBufferSize,
		CommandExited: func(code int, running []calls.Process) {
			warnf(stderr, "socktrace: %s exited with status %d; still tracing what it left running: %s (as strace -f does); Ctrl-C stops them and explains what was captured\n",
				argv[0], code, processList(running))
		},
	}
	if pid == 0 && outs.reportFile == nil && c.String("format") == "json" {
		if f, ok := stderr.(*os.File); ok {
			opts.Stdout = f
			warnf(stderr, "socktrace: the report is JSON on stdout, so %s's own stdout goes to stderr (-o FILE keeps them apart instead)\n", argv[0])
		}
	}

	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(runMemoryLimit)
	}
	ctx := c.Context
	exitCode := 0
	// Each connection is explained when it ends, while the program runs
	// on (runstream.go).
	tracker := decode.NewTracker(out, decode.TrackerConfig{})
	st := newStreamer(tracker)
	if f, ok := out.(interface{ Flush() }); ok {
		st.flushOut = f.Flush
	}
	var pcap *pcapOut
	if outs.pcap != nil {
		if pcap, err = newPcapOut(outs.pcap); err != nil {
			outs.abort()
			return err
		}
		st.pcap = newStreamPcap(pcap, iface)
	}
	var pre *calls.Preloaded
	if tracer != "ptrace" {
		// The BPF programs load while the capture opens: both take tens
		// of milliseconds, and neither needs the other.
		pre = calls.Preload(runRingBufferSize)
		defer pre.Close()
	}
	inKernel, err := captureInKernel(captureHow, tracer, pre, argv, pid, outs.pcap != nil, iface, stderr)
	if err != nil {
		outs.abort()
		return err
	}
	if inKernel {
		st.hold = inKernelStreamHold
		if st.pcap != nil {
			st.pcap.snapLen = capture.SLL2HeaderLen + calls.PacketSnapLen
		}
	}
	var recorded calls.TraceStats
	dc, runErr := captureLive(ctx, "", iface, "tcp", nil, st, inKernel, func(ctx context.Context, emit func(calls.Event), sink liveSink) error {
		opts.Events, opts.Kernel, opts.Progress = emit, sink.kernel, sink.progress
		opts.Packets, opts.CaptureInterface = sink.packet, iface
		if hook := runEventsHook; hook != nil {
			opts.Events = func(ev calls.Event) { hook(ev); emit(ev) }
		}
		tr, err := startRecording(ctx, stderr, tracer, argv, pid, opts, pre)
		if errors.Is(err, calls.ErrPtraceNotPermitted) {
			warnf(stderr, "socktrace: %v%s\nsocktrace: going on with the packets only: every call is inferred from them and marked so\n", err, otherUser(pid))
			exitCode, err = runUntraced(ctx, argv, pid, opts.Stdout)
			return err
		}
		if err != nil {
			return err
		}
		if rec, ok := tr.(*calls.Recorder); ok && yieldCPU {
			// eBPF never stops the program, which can then have the
			// CPU first (yield.go); ptrace stops it at every call
			// until socktrace has looked, so socktrace must not wait.
			stop := startYielding(rec.Backlog, sink.backlog)
			defer stop()
		}
		exitCode, err = tr.Wait()
		recorded = tr.Stats()
		return err
	})
	if dc == nil {
		outs.abort()
		return runErr
	}
	if dc.inKernel {
		dc.stats = capture.LiveStats{Received: recorded.Packets, Dropped: recorded.PacketsDropped}
	}
	var execErr *calls.ExecError
	if errors.As(runErr, &execErr) {
		// The command never ran: there is nothing to explain.
		outs.abort()
		return cli.Exit(fmt.Sprintf("socktrace: %v", execErr), execErr.ExitCode())
	}
	stopped := ctx.Err() != nil
	if errors.Is(runErr, context.Canceled) {
		runErr = nil // stopped: explain what was seen
	}
	if err := explainStream(c, out, outs, iface, dc, st, pcap, recorded, runErr); err != nil {
		return err
	}
	if exitCode != 0 && !stopped {
		name := strings.Join(argv, " ")
		if pid != 0 {
			name = fmt.Sprintf("process %d", pid)
		}
		return cli.Exit(fmt.Sprintf("socktrace: %s exited with status %d", name, exitCode), exitCode)
	}
	return nil
}

// captureInKernel decides where run captures (--capture HOW): in the
// kernel, with the eBPF recorder (only the program's own segments, cut
// at calls.PacketSnapLen bytes; no packet socket, whose copy of every
// segment into its ring costs the program as much as recording its calls
// does), or with a packet socket. auto captures in the kernel when the
// calls are recorded with eBPF (it waits for the recorder's loading to
// know), no -w file asks for whole packets, and the capture is of every
// interface: the kernel side sees a received segment once, on the device
// it arrived on, so on an interface stacked on another (a VLAN, a
// macvlan, a bond) it would see none of them.
func captureInKernel(how, tracer string, pre *calls.Preloaded, argv []string, pid int, writing bool, iface string, stderr io.Writer) (bool, error) {
	every := iface == "" || iface == capture.AnyInterface
	if how == "afpacket" || pre == nil || how == "auto" && (writing || !every) {
		return false, nil
	}
	if what, ok := thirtyTwoBit(argv, pid); ok && tracer == "auto" {
		// Traced with ptrace (startRecording says why).
		if how == "ebpf" {
			warnf(stderr, "socktrace: %s is traced with ptrace, so its packets are captured with a packet socket, not in the kernel\n", what)
		}
		return false, nil
	}
	if err := pre.Err(); err != nil {
		if how == "ebpf" {
			return false, fmt.Errorf("--capture ebpf: %w", err)
		}
		return false, nil // startRecording says why, and uses ptrace
	}
	return true, nil
}

// runMemoryLimit is run's soft limit on the Go heap, in place of the 48
// MiB main sets for every command. What run holds by design is more: up
// to 32 MiB of packets and 131072 calls and events waiting for their time
// (runstream.go), 2 × 8 MiB of packets waiting for a call (ownfilter.go), the
// tracker's budget, and a program making thousands of connections a
// second keeps it near that. Under 48 MiB the collector then ran back to
// back (gctrace: 45–58 cycles on 10k connections with data, against 10–12
// with this limit), took the CPU the recorder and the capture's reader
// needed, and their rings overflowed (kernel events lost, packets
// dropped). Each of those holdings is bounded, so the heap still is.
const runMemoryLimit = 128 << 20

// runRingBufferSize is the eBPF ring buffer's size for run (0: the
// recorder's default); tests shrink it to make it overflow.
var runRingBufferSize int

// runEventsHook, when set, sees each call before run does (in the
// recorder's reading goroutine); tests hold the reader with it.
var runEventsHook func(calls.Event)

// explainStream ends a streamed run: what is still open is explained, the
// losses are said, and the summary covers the whole run.
func explainStream(c *cli.Context, out output, outs *outputs, iface string, dc *liveCapture, st *streamer, pcap *pcapOut, recorded calls.TraceStats, runErr error) error {
	stderr := c.App.ErrWriter
	if recorded.Dropped > 0 {
		warnf(stderr, "socktrace: %d kernel events lost (%d read): the eBPF ring buffer was full; calls and states are missing from the report\n", recorded.Dropped, recorded.Records)
	}
	if pcap != nil {
		pcapErr := st.pcap.err
		if pcapErr == nil {
			pcapErr = pcap.stats(iface, dc.linkType, st.pcap.snapLen, dc.stats)
		}
		if err := pcap.close(); pcapErr == nil {
			pcapErr = err
		}
		if pcapErr != nil && runErr == nil {
			runErr = &outputError{pcapErr}
		}
	}
	if dc.inKernel && dc.stats.Dropped > 0 {
		warnf(stderr, "socktrace: %d of the program's packets lost (%d recorded): the eBPF ring buffer was full; their segments are missing from the report\n", dc.stats.Dropped, dc.stats.Received)
	}
	switch {
	case !dc.inKernel && (dc.stats.Dropped > 0 || st.forced > 0):
		// Say whose packets were lost: the kernel's ring drops before
		// anyone knows whose a packet is.
		warnf(stderr, "socktrace: packets dropped by the kernel's ring: %d (whoever's they were: the ring holds everything the filter passes, other programs' traffic included); %d packets and calls fed out of order when more than %d waited; %d packets of other connections seen and not kept\n",
			dc.stats.Dropped, st.forced, maxStreamHeld, dc.unrelated)
	case st.forced > 0:
		warnf(stderr, "socktrace: %d packets and calls fed before their time when more than %d waited: some may be out of order\n", st.forced, maxStreamHeld)
	}
	st.tracker.Flush()
	return finish(c.Context, out, outs, st.tracker, st.counts, int64(dc.stats.Dropped), runErr)
}

// otherUser explains a refused --pid when the process belongs to another
// user: ptrace then needs CAP_SYS_PTRACE (root).
func otherUser(pid int) string {
	if pid == 0 {
		return ""
	}
	var st unix.Stat_t
	if unix.Stat(fmt.Sprintf("/proc/%d", pid), &st) != nil || int(st.Uid) == os.Geteuid() {
		return ""
	}
	owner, me := userName(int(st.Uid)), userName(os.Geteuid())
	return fmt.Sprintf(" (process %d belongs to user %s and socktrace runs as %s: tracing another user's process needs root, CAP_SYS_PTRACE)", pid, owner, me)
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return "uid " + strconv.Itoa(uid)
}

// processList is "sleep[1234], python3[1240]".
func processList(ps []calls.Process) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(", ")
		}
		// The name is the program's own choice (PR_SET_NAME), and the
		// eBPF recorder reads it from /proc as it is.
		fmt.Fprintf(&b, "%s[%d]", neutral.String(p.Comm), p.PID)
	}
	return b.String()
}

// runUntraced runs the command without tracing (or, for --pid, waits for
// Ctrl-C), for when ptrace is not permitted.
func runUntraced(ctx context.Context, argv []string, pid int, stdout *os.File) (int, error) {
	if pid != 0 {
		<-ctx.Done()
		return 0, nil
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, io.Writer(os.Stdout), os.Stderr
	if stdout != nil {
		cmd.Stdout = stdout
	}
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 127, &calls.ExecError{Name: argv[0], Err: err}
	}
	return 0, nil
}
