//go:build linux && (amd64 || arm64)

package calls

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The exec helper.
//
// The seccomp filter has to be installed in the child after fork and
// before execve, and Go's os/exec and syscall.ForkExec run no user code in
// between. So Trace starts a copy of the running binary (/proc/self/exe)
// with helperEnv in its environment; the init function below recognises
// it before main runs, waits until the tracer has seized it, installs the
// filter and execs the real command. Alternatives were worse: installing
// the filter on a tracer thread before ForkExec leaves that thread
// filtered (its own close calls would fail with ENOSYS, no tracer being
// attached to it), and injecting seccomp(2) into the command after its
// exec stop needs per-arch code patching and misses nothing less.
//
// The price is one extra execve of this binary per traced command (a few
// milliseconds, measured by BenchmarkTraceStartup), paid once.
//
// Every binary that imports package calls runs this init; in a normal
// process it costs one environment lookup. It works the same in go test
// binaries, whose /proc/self/exe imports calls too.
//
// Protocol between tracer and helper:
//
//	argv: helperArgv0, path, argv...
//	fd 3: read end of the "go" pipe; one byte arrives once the tracer has
//	      seized the helper (EOF: tracer gave up, exit quietly).
//	fd 4: write end of the report pipe, made close-on-exec; 5-byte
//	      records, a kind and a little-endian errno. 'R' first, as soon
//	      as the helper runs (the tracer waits for it before seizing);
//	      then maybe 'F' (filter not installed: the tracer must stop at
//	      every syscall instead); on exec failure 'E', and exit 127.
//
// With helperEnv=helperWake the process is the attach waker: it blocks
// reading fd 0 and exits at EOF, which wakes the tracer's wait4.
const (
	helperEnv   = "SOCKTRACE_CALLS_HELPER"
	helperExec  = "exec-v1"
	helperWake  = "wake-v1"
	helperArgv0 = "socktrace-exec"
	// helperNoFilterEnv=1 makes the helper skip the filter as if seccomp
	// were unavailable, so tests can exercise the fallback.
	helperNoFilterEnv = "SOCKTRACE_CALLS_TEST_NOFILTER"
	helperGoFD        = 3
	helperRepFD       = 4

	reportReady     = 'R'
	reportNoFilter  = 'F'
	reportExecError = 'E'
)

func init() {
	v, ok := syscall.Getenv(helperEnv)
	if !ok {
		return
	}
	switch v {
	case helperExec:
		runExecHelper(true)
	case helperWake:
		var b [16]byte
		for {
			n, err := syscall.Read(0, b[:])
			if n > 0 || err == syscall.EINTR {
				continue
			}
			os.Exit(0)
		}
	}
}

// runExecHelper never returns: it execs the command or exits. With filter,
// it installs the seccomp filter first.
func runExecHelper(filter bool) {
	// Init runs on the main thread; keep it there: the filter is
	// installed per thread, and it must be the thread that calls execve.
	runtime.LockOSThread()
	if len(os.Args) < 3 {
		os.Exit(126)
	}
	path, argv := os.Args[1], os.Args[2:]
	env := make([]string, 0, len(syscall.Environ()))
	testNoFilter := false
	for _, kv := range syscall.Environ() {
		if kv == helperNoFilterEnv+"=1" {
			testNoFilter = true // for tests of the fallback
			continue
		}
		if !strings.HasPrefix(kv, helperEnv+"=") {
			env = append(env, kv)
		}
	}

	// Tell the tracer that this is the helper running, not the kernel
	// still in the middle of exec'ing it: a PTRACE_SEIZE that raced with
	// that exec would get a PTRACE_EVENT_EXEC stop for it.
	helperReport(reportReady, 0)
	var b [1]byte
	for {
		n, err := syscall.Read(helperGoFD, b[:])
		if err == syscall.EINTR {
			continue
		}
		if n != 1 {
			// The tracer could not seize us: do not run the command
			// untraced behind its back.
			os.Exit(126)
		}
		break
	}
	syscall.Close(helperGoFD)
	syscall.CloseOnExec(helperRepFD)

	if !filter {
		// The eBPF recorder: nothing to install.
	} else if testNoFilter {
		helperReport(reportNoFilter, syscall.ENOSYS)
	} else if prog, err := traceFilter(); err != nil {
		helperReport(reportNoFilter, syscall.EINVAL)
	} else if err := installFilter(prog); err != nil {
		var errno syscall.Errno
		errors.As(err, &errno)
		helperReport(reportNoFilter, errno)
	}
	// The helper is already seized, so a traced call between here and
	// execve would merely stop like any other; syscall.Exec makes none.
	err := syscall.Exec(path, argv, env)
	errno, _ := err.(syscall.Errno)
	helperReport(reportExecError, errno)
	os.Exit(127)
}

func helperReport(kind byte, errno syscall.Errno) {
	var b [5]byte
	b[0] = kind
	binary.LittleEndian.PutUint32(b[1:], uint32(errno))
	unix.Write(helperRepFD, b[:])
}

// helperEnviron is the exec helper's environment: the command's (opts.Env,
// or this process's), with helperEnv set to mode.
func (opts *TraceOptions) helperEnviron(mode string) []string {
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	henv := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, helperEnv+"=") {
			henv = append(henv, kv)
		}
	}
	return append(henv, helperEnv+"="+mode)
}

// stdio is the command's standard input, output and error: opts's, or
// this process's where opts leaves one nil.
func (opts *TraceOptions) stdio() []*os.File {
	stdio := []*os.File{opts.Stdin, opts.Stdout, opts.Stderr}
	for i, def := range []*os.File{os.Stdin, os.Stdout, os.Stderr} {
		if stdio[i] == nil {
			stdio[i] = def
		}
	}
	return stdio
}
