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
// The package owns the sockets and nothing else: it never captures packets
// and never prints. Capture and alignment of the reported calls with the
// packets they caused are done by packages capture and decode.
package demo
