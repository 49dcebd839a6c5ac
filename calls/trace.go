package calls

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

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

	// Env is the environment of the traced command; nil means the
	// environment of the current process. Dir is its working directory;
	// empty means the current one. Trace only.
	Env []string
	Dir string

	// Stdin, Stdout and Stderr are the traced command's standard files;
	// nil means the current process's own (os.Stdin, ...). Trace only.
	Stdin, Stdout, Stderr *os.File
}

// TraceStats counts what a Tracer did, for overhead measurements.
type TraceStats struct {
	Stops        uint64 // every ptrace stop handled
	SeccompStops uint64 // stops caused by the seccomp filter (socket calls and close)
	SyscallStops uint64 // syscall-entry and syscall-exit stops
	Events       uint64 // events delivered
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
