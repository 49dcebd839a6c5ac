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
	callSetsockopt // stops only for SOL_SOCKET/SO_LINGER (see archBlock)
	callSendto     // stops only with MSG_FASTOPEN: TCP Fast Open's connect
	callSendmsg    // likewise (64-bit ABIs: the msghdr is read)
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
	setsockopt uint32 // nonzero: setsockopt's number; stops for SO_LINGER only
	// sendto and sendmsg (nonzero: their numbers) stop only with
	// MSG_FASTOPEN in their flags: a TCP Fast Open send on a socket not
	// yet connected is its connect(). sendmsg only where the msghdr's
	// layout is the tracer's own (64-bit ABIs).
	sendto, sendmsg uint32
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
		if t.setsockopt != 0 && n == t.setsockopt {
			return callSetsockopt
		}
		if t.sendto != 0 && n == t.sendto {
			return callSendto
		}
		if t.sendmsg != 0 && n == t.sendmsg {
			return callSendmsg
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
	seccompA1  = 24
	seccompA2  = 32
	seccompA3  = 40
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
		block, err := archBlock(t)
		if err != nil {
			return nil, err
		}
		if len(block) > 255 {
			return nil, fmt.Errorf("seccomp filter block for arch %#x too long", t.arch)
		}
		emit(bpfJeqK, 0, uint8(len(block)), t.arch)
		prog = append(prog, block...)
	}
	emit(bpfRetK, 0, 0, unix.SECCOMP_RET_TRACE)
	return prog, nil
}

func archBlock(t archTable) ([]unix.SockFilter, error) {
	nrs := make([]uint32, 0, len(t.calls))
	for nr, k := range t.calls {
		if k != callSocketcall {
			nrs = append(nrs, nr)
		}
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })

	// Layout (BPF jumps only forward, so each sub-check has its own
	// "allow"):
	//
	//	ld nr; [jset x32; and ~x32]
	//	jeq nr_i → trace ...
	//	[jeq setsockopt → sso]  [jeq socketcall → sc]
	//	ret ALLOW
	//	sso: ld a1; jeq SOL_SOCKET; ld a2; jeq SO_LINGER → trace; ret ALLOW
	//	sc:  ld a0; jeq sub_j → trace ...; ret ALLOW
	//	trace: ret TRACE
	var a bpfAsm
	a.op(bpfLdWAbs, seccompNr, "", "")
	if t.x32Bit != 0 {
		a.op(bpfJsetK, t.x32Bit, "", "nrloaded")
		a.op(bpfAndK, ^t.x32Bit, "", "")
		a.label("nrloaded")
	}
	for _, nr := range nrs {
		a.op(bpfJeqK, nr, "trace", "")
	}
	if t.setsockopt != 0 {
		a.op(bpfJeqK, t.setsockopt, "sso", "")
	}
	if t.sendto != 0 {
		a.op(bpfJeqK, t.sendto, "sto", "")
	}
	if t.sendmsg != 0 {
		a.op(bpfJeqK, t.sendmsg, "smsg", "")
	}
	if t.socketcall != 0 {
		a.op(bpfJeqK, t.socketcall, "sc", "")
	}
	a.op(bpfRetK, unix.SECCOMP_RET_ALLOW, "", "")
	// Sends stop only with MSG_FASTOPEN (a flag in the low half of the
	// flags argument): every other send goes on at full speed.
	if t.sendto != 0 {
		a.label("sto")
		a.op(bpfLdWAbs, seccompA3, "", "")
		a.op(bpfJsetK, unix.MSG_FASTOPEN, "trace", "")
		a.op(bpfRetK, unix.SECCOMP_RET_ALLOW, "", "")
	}
	if t.sendmsg != 0 {
		a.label("smsg")
		a.op(bpfLdWAbs, seccompA2, "", "")
		a.op(bpfJsetK, unix.MSG_FASTOPEN, "trace", "")
		a.op(bpfRetK, unix.SECCOMP_RET_ALLOW, "", "")
	}
	if t.setsockopt != 0 {
		// Only SO_LINGER, the option that turns close into an abort
		// (RST): Go and others set TCP_NODELAY and keep-alive on every
		// connection, and those must not stop.
		a.label("sso")
		a.op(bpfLdWAbs, seccompA1, "", "")
		a.op(bpfJeqK, unix.SOL_SOCKET, "", "sso-allow")
		a.op(bpfLdWAbs, seccompA2, "", "")
		a.op(bpfJeqK, unix.SO_LINGER, "trace", "")
		a.label("sso-allow")
		a.op(bpfRetK, unix.SECCOMP_RET_ALLOW, "", "")
	}
	if t.socketcall != 0 {
		subs := make([]uint32, 0, len(socketcallKinds))
		for s := range socketcallKinds {
			subs = append(subs, s)
		}
		sort.Slice(subs, func(i, j int) bool { return subs[i] < subs[j] })
		a.label("sc")
		a.op(bpfLdWAbs, seccompA0, "", "")
		for _, s := range subs {
			a.op(bpfJeqK, s, "trace", "")
		}
		a.op(bpfRetK, unix.SECCOMP_RET_ALLOW, "", "")
	}
	a.label("trace")
	a.op(bpfRetK, unix.SECCOMP_RET_TRACE, "", "")
	return a.assemble()
}

// bpfAsm assembles classic BPF with named forward jump targets ("" is
// the next instruction).
type bpfAsm struct {
	insns  []bpfInsn
	labels map[string]int
}

type bpfInsn struct {
	code   uint16
	k      uint32
	jt, jf string
}

func (a *bpfAsm) op(code uint16, k uint32, jt, jf string) {
	a.insns = append(a.insns, bpfInsn{code, k, jt, jf})
}

func (a *bpfAsm) label(name string) {
	if a.labels == nil {
		a.labels = make(map[string]int)
	}
	a.labels[name] = len(a.insns)
}

func (a *bpfAsm) assemble() ([]unix.SockFilter, error) {
	out := make([]unix.SockFilter, len(a.insns))
	for i, in := range a.insns {
		jt, err := a.offset(i, in.jt)
		if err != nil {
			return nil, err
		}
		jf, err := a.offset(i, in.jf)
		if err != nil {
			return nil, err
		}
		out[i] = unix.SockFilter{Code: in.code, K: in.k, Jt: jt, Jf: jf}
	}
	return out, nil
}

// offset is the jump from instruction i to label, which must be ahead
// and within 255 instructions.
func (a *bpfAsm) offset(i int, label string) (uint8, error) {
	if label == "" {
		return 0, nil
	}
	target, ok := a.labels[label]
	if !ok || target <= i || target-i-1 > 255 {
		return 0, fmt.Errorf("seccomp filter: bad jump from %d to %q", i, label)
	}
	return uint8(target - i - 1), nil
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
