// Package demo runs the built-in client/server scenarios: real sockets on
// loopback, made with raw syscalls in blocking mode on locked OS threads so
// that every call is exactly one syscall, and each call reported as a
// calls.Event with its real enter and exit times.
//
// A scenario is a short, scripted conversation between a server and a
// client in one process (handshake, refused, abort, half-close, ...). The
// server follows the call sequence socket → bind → listen → accept →
// read/write → close and the client socket → connect → write/read → close,
// each side in its own goroutine pinned to its own OS thread. Short pauses
// between the phases (handshake, data, close) keep the packets of each
// phase apart in time, so that a capture taken alongside reads clearly.
//
// Each syscall is one calls.Event, its Enter and Exit taken with the wall
// clock right around the syscall. How the fields are filled:
//
//   - socket: FD and Result are the new fd; Detail the address family.
//   - setsockopt: Detail names the option ("SO_REUSEADDR", "SO_LINGER 0").
//   - bind: Local is the address the socket got, so for port 0 the port the
//     kernel chose (Detail then says so).
//   - listen: Detail gives the backlog.
//   - accept: FD is the listening socket, Result the accepted one, and
//     Local and Remote the accepted connection's 4-tuple.
//   - connect: Remote is the address given; Local is the address the kernel
//     gave the socket, also for a refused connect (the port its SYN came
//     from).
//   - read, write: Result is the byte count; Detail quotes the data (Go
//     syntax, so it is safe to print), or says EOF.
//   - shutdown: Detail is "SHUT_WR", "SHUT_RD" or "SHUT_RDWR".
//   - close: the socket's addresses as last known.
//
// Every event also carries the PID, the TID of the thread that made the
// call, Comm (the process name as the kernel knows it: "socktrace" when
// the socktrace command runs the demo) and the scenario's name.
//
// Failed calls have Result -1 and Errno set; some are the point of a
// scenario (ECONNREFUSED, ECONNRESET). When a run is cancelled, the
// shutdown(SHUT_RDWR) calls that wake the blocked calls are reported too,
// with a Detail that says why. getsockname and getpeername, used to learn
// addresses, are not reported: they put nothing on the wire.
//
// The package owns the sockets and nothing else: it never captures packets
// and never prints. Capture and alignment of the reported calls with the
// packets they caused are done by packages capture and decode.
package demo
