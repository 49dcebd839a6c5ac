package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sync"

	"github.com/socktrace/socktrace/calls"
)

// Choosing how `run` records a program's calls (--tracer).
//
// auto, the default, records with eBPF in the kernel (calls.Record): the
// program runs at full speed, the data calls and the kernel's own TCP
// states come too, and --pid never stops the process. Where the kernel
// does not allow it (no CAP_BPF/CAP_PERFMON, no BTF, lockdown), auto says
// why in one line and falls back to ptrace (calls.Trace), which needs only
// CAP_SYS_PTRACE. ebpf and ptrace force one of them.

// tracerNames are the values --tracer takes.
var tracerNames = []string{"auto", "ebpf", "ptrace"}

// recording is a started tracer of either kind.
type recording interface {
	Wait() (int, error)
	Stats() calls.TraceStats
}

func checkTracer(name string) error {
	for _, n := range tracerNames {
		if name == n {
			return nil
		}
	}
	return usagef("--tracer takes auto, ebpf or ptrace, not %q", name)
}

// startRecording starts tracing argv (or attaching to pid) with the chosen
// tracer; pre, when not nil, is the eBPF recorder loaded meanwhile. With auto, an eBPF failure is reported on stderr in one line and
// ptrace is used instead.
func startRecording(ctx context.Context, stderr io.Writer, tracer string, argv []string, pid int, opts calls.TraceOptions, pre *calls.Preloaded) (recording, error) {
	if tracer != "ptrace" {
		if what, ok := thirtyTwoBit(argv, pid); ok {
			if tracer == "auto" {
				warnf(stderr, "socktrace: %s is a 32-bit program: eBPF records only this architecture's 64-bit system calls; tracing with ptrace instead\n", what)
				tracer = "ptrace"
			} else {
				warnf(stderr, "socktrace: %s is a 32-bit program: eBPF records only this architecture's 64-bit system calls, so its calls will be missing (--tracer auto or ptrace traces them)\n", what)
			}
		}
	}
	if tracer != "ptrace" {
		var r *calls.Recorder
		var err error
		switch {
		case pre != nil && pid != 0:
			r, err = pre.RecordPID(ctx, pid, opts)
		case pre != nil:
			r, err = pre.Record(ctx, argv, opts)
		case pid != 0:
			r, err = calls.RecordPID(ctx, pid, opts)
		default:
			r, err = calls.Record(ctx, argv, opts)
		}
		if err == nil {
			return r, nil
		}
		if tracer == "ebpf" || !errors.Is(err, calls.ErrBPFUnavailable) {
			return nil, err
		}
		warnf(stderr, "socktrace: %v; tracing with ptrace instead\n", err)
	}
	var t *calls.Tracer
	var err error
	if pid != 0 {
		t, err = calls.Attach(ctx, pid, opts)
	} else {
		t, err = calls.Trace(ctx, argv, opts)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// maxKernelEvents bounds what a run keeps of the kernel's reports (about
// ten per connection).
const maxKernelEvents = 1 << 21

// kernelLog collects the eBPF recorder's kernel events for the report.
type kernelLog struct {
	mu      sync.Mutex
	events  []calls.KernelEvent
	omitted int64
}

func (l *kernelLog) add(ev calls.KernelEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) >= maxKernelEvents {
		l.omitted++
		return
	}
	l.events = append(l.events, ev)
}

// take returns the events in time order.
func (l *kernelLog) take() []calls.KernelEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	evs := l.events
	l.events = nil
	slices.SortStableFunc(evs, func(a, b calls.KernelEvent) int { return a.Time.Compare(b.Time) })
	return evs
}

// thirtyTwoBit says whether the command (or the --pid process) is a 32-bit
// program, and names it.
func thirtyTwoBit(argv []string, pid int) (string, bool) {
	path := fmt.Sprintf("/proc/%d/exe", pid)
	what := fmt.Sprintf("process %d", pid)
	if pid == 0 {
		p, err := exec.LookPath(argv[0])
		if err != nil {
			return "", false // the recorder reports it
		}
		path, what = p, argv[0]
	}
	yes, err := is32Bit(path)
	return what, err == nil && yes
}
