// Package calls describes socket calls — socket, bind, listen, connect,
// accept, shutdown, close, and the reads and writes between them — as one
// Event type, whatever saw them: the built-in demo, a traced program
// (ptrace + seccomp), or, where nothing was seen, an inference from the
// packets. Package decode aligns Events with the segments they caused.
package calls
