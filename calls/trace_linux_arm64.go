package calls

import "golang.org/x/sys/unix"

// System call tables for the seccomp filter and the decoder, arm64.
//
// An arm64 kernel may also run 32-bit ARM (EABI) programs; their calls
// carry AUDIT_ARCH_ARM and their own numbers. EABI has no socketcall.
const x32SyscallBit = 0

var traceArches = []archTable{
	{
		arch: unix.AUDIT_ARCH_AARCH64,
		calls: map[uint32]callKind{
			198: callSocket,
			200: callBind,
			201: callListen,
			203: callConnect,
			202: callAccept,
			242: callAccept4,
			210: callShutdown,
			57:  callClose,
		},
		setsockopt: 208,
		sendto:     206,
		sendmsg:    211,
	},
	{
		arch: unix.AUDIT_ARCH_ARM,
		calls: map[uint32]callKind{
			281: callSocket,
			282: callBind,
			284: callListen,
			283: callConnect,
			285: callAccept,
			366: callAccept4,
			293: callShutdown,
			6:   callClose,
		},
		setsockopt: 294,
		sendto:     290,
	},
}
