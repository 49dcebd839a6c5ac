package calls

import "golang.org/x/sys/unix"

// System call tables for the seccomp filter and the decoder, amd64.
//
// An amd64 kernel runs three ABIs: x86-64, x32 (x86-64 numbers with bit 30
// set, same audit arch) and i386 through int 0x80 (AUDIT_ARCH_I386, its own
// numbers, and the socketcall multiplexer). The filter covers all three so
// that no program in the traced tree can make a socket call unseen.
const x32SyscallBit = 0x40000000

var traceArches = []archTable{
	{
		arch:   unix.AUDIT_ARCH_X86_64,
		x32Bit: x32SyscallBit,
		calls: map[uint32]callKind{
			41:  callSocket,
			49:  callBind,
			50:  callListen,
			42:  callConnect,
			43:  callAccept,
			288: callAccept4,
			48:  callShutdown,
			3:   callClose,
		},
		setsockopt: 54,
		sendto:     44,
		sendmsg:    46,
	},
	{
		arch: unix.AUDIT_ARCH_I386,
		calls: map[uint32]callKind{
			359: callSocket,
			361: callBind,
			363: callListen,
			362: callConnect,
			364: callAccept4,
			373: callShutdown,
			6:   callClose,
			102: callSocketcall,
		},
		socketcall: 102,
		setsockopt: 366,
		sendto:     369,
	},
}
