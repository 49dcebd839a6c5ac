//go:build linux && (amd64 || arm64)

package calls

import (
	"fmt"
	"sort"
	"unsafe"

	"golang.org/x/sys/unix"
)

// callKind is a system call the tracer stops on.
type callKind uint8

const (
	callNone callKind = iota
	callSocket
	callBind
	callListen
	callConnect
	callAccept
	callAccept4
	callShutdown
	callClose
	callSocketcall // i386 multiplexer; the real call is in its first argument
)

// socketcall(2) sub-call numbers (linux/net.h) the tracer cares about.
var socketcallKinds = map[uint32]callKind{
	1:  callSocket,
	2:  callBind,
	3:  callConnect,
	4:  callListen,
	5:  callAccept,
	13: callShutdown,
	18: callAccept4,
}

// archTable lists, for one audit arch, the system call numbers that stop.
type archTable struct {
	arch       uint32
	x32Bit     uint32 // nonzero: numbers with this bit set are the same calls (x32)
	calls      map[uint32]callKind
	socketcall uint32 // nonzero: the socketcall multiplexer's number
}

// kind says which traced call nr is for arch, or callNone.
func kindOf(arch uint32, nr uint64) callKind {
	for i := range traceArches {
		t := &traceArches[i]
		if t.arch != arch {
			continue
		}
		n := uint32(nr) &^ t.x32Bit
		if nr > 0xffffffff {
			return callNone
		}
		return t.calls[n]
	}
	return callNone
}

// Classic BPF opcodes (linux/bpf_common.h).
const (
	bpfLdWAbs  = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfJeqK    = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJsetK   = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
	bpfAndK    = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	bpfRetK    = unix.BPF_RET | unix.BPF_K
	seccompNr  = 0  // offsetof(struct seccomp_data, nr)
	seccompArc = 4  // offsetof(struct seccomp_data, arch)
	seccompA0  = 16 // offsetof(struct seccomp_data, args[0]), low half on little endian
)

// traceFilter builds the seccomp program installed in the traced command:
// SECCOMP_RET_TRACE for the socket calls and close of every ABI the kernel
// runs, SECCOMP_RET_ALLOW for everything else. A call from an ABI the
// filter does not know also stops (the tracer lets it go without an event)
// rather than slipping past: slow for such a program, but never blind.
//
// The program is straight-line per arch: load arch, compare, then one
// conditional jump per call number. BPF jumps only forward, so each arch
// block ends with its own "allow" and "trace" returns.
func traceFilter() ([]unix.SockFilter, error) {
	var prog []unix.SockFilter
	emit := func(code uint16, jt, jf uint8, k uint32) {
		prog = append(prog, unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k})
	}
	emit(bpfLdWAbs, 0, 0, seccompArc)
	for _, t := range traceArches {
		block := archBlock(t)
		if len(block) > 255 {
			return nil, fmt.Errorf("seccomp filter block for arch %#x too long", t.arch)
		}
		emit(bpfJeqK, 0, uint8(len(block)), t.arch)
		prog = append(prog, block...)
	}
	emit(bpfRetK, 0, 0, unix.SECCOMP_RET_TRACE)
	return prog, nil
}

func archBlock(t archTable) []unix.SockFilter {
	nrs := make([]uint32, 0, len(t.calls))
	for nr, k := range t.calls {
		if k != callSocketcall {
			nrs = append(nrs, nr)
		}
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	subs := make([]uint32, 0, len(socketcallKinds))
	if t.socketcall != 0 {
		for s := range socketcallKinds {
			subs = append(subs, s)
		}
		sort.Slice(subs, func(i, j int) bool { return subs[i] < subs[j] })
	}

	var b []unix.SockFilter
	emit := func(code uint16, jt, jf uint8, k uint32) {
		b = append(b, unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k})
	}
	// Layout: ld nr; [jset x32, and]; jeq nr_i...; [jeq socketcall; ld a0;
	// jeq sub_j...]; allow; trace. Jump targets are fixed up below.
	emit(bpfLdWAbs, 0, 0, seccompNr)
	if t.x32Bit != 0 {
		emit(bpfJsetK, 0, 1, t.x32Bit)
		emit(bpfAndK, 0, 0, ^t.x32Bit)
	}
	// Number of instructions after the compare chain: allow + trace, plus
	// the socketcall part.
	tail := 2
	if t.socketcall != 0 {
		tail += 2 + len(subs)
	}
	for i, nr := range nrs {
		// From instruction i of len(nrs), "trace" is the last one.
		toTrace := len(nrs) - 1 - i + tail - 1
		emit(bpfJeqK, uint8(toTrace), 0, nr)
	}
	if t.socketcall != 0 {
		// Not socketcall: jump over ld and the sub compares to "allow".
		emit(bpfJeqK, 0, uint8(1+len(subs)), t.socketcall)
		emit(bpfLdWAbs, 0, 0, seccompA0)
		for i, s := range subs {
			emit(bpfJeqK, uint8(len(subs)-1-i+1), 0, s)
		}
	}
	emit(bpfRetK, 0, 0, unix.SECCOMP_RET_ALLOW)
	emit(bpfRetK, 0, 0, unix.SECCOMP_RET_TRACE)
	return b
}

// installFilter sets no_new_privs (required to install a filter without
// CAP_SYS_ADMIN, and asked for by design: a traced tree must not gain
// privileges through setuid binaries) and installs the filter on the
// calling thread. It is called in the exec helper, on the thread that
// then calls execve, so the filter is inherited by the command and
// everything it starts.
func installFilter(prog []unix.SockFilter) error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	_, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&fprog)))
	if errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", errno)
	}
	return nil
}
