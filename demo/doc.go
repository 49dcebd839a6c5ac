// Package demo runs the built-in client/server scenarios: real sockets on
// loopback, made with raw syscalls in blocking mode on locked OS threads so
// that every call is exactly one syscall, and each call reported as a
// calls.Event with its real enter and exit times.
package demo
