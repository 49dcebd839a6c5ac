// Command edges is the program behind report/testdata/run-edges.pcapng:
// run under `socktrace run -w`, it makes the socket calls whose
// explanations must follow what was seen rather than the generic text for
// a packet (issue 10, part B). One process, blocking raw syscalls, each
// call exactly one syscall, in a fixed order:
//
//  1. a listener bound to 127.0.0.1:0 (the kernel picks the port), then a
//     second socket bound to the same address: EADDRINUSE;
//  2. connection A: the client writes, calls shutdown(SHUT_WR), reads the
//     reply to the end and closes; the server reads to the end, replies
//     and closes (the client's FIN is a shutdown, not a close);
//  3. connection B on the same listener: the client sets SO_LINGER 0 and
//     closes (RST); the server's close comes after the RST;
//  4. connection C: a non-blocking connect to a port that is bound but not
//     listening: EINPROGRESS, then RST (ECONNREFUSED); then close;
//  5. the listener's close.
//
// Regenerate the capture (root, loopback):
//
//	go build -o /tmp/edges ./report/testdata/edges
//	go run . run --iface lo -w report/testdata/run-edges.pcapng -- /tmp/edges
package main

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "edges: %s: %v\n", what, err)
		os.Exit(1)
	}
}

var loopback = [4]byte{127, 0, 0, 1}

func socket() int {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	must(err, "socket")
	return fd
}

// readAll reads until end of data.
func readAll(fd int) {
	buf := make([]byte, 64)
	for {
		n, err := syscall.Read(fd, buf)
		if n <= 0 || err != nil {
			return
		}
	}
}

func main() {
	ls := socket()
	must(syscall.Bind(ls, &syscall.SockaddrInet4{Addr: loopback}), "bind")
	must(syscall.Listen(ls, 8), "listen")
	sa, err := syscall.Getsockname(ls)
	must(err, "getsockname")
	srv := &syscall.SockaddrInet4{Addr: loopback, Port: sa.(*syscall.SockaddrInet4).Port}

	// 1. The same address again, without SO_REUSEADDR: EADDRINUSE.
	dup := socket()
	if err := syscall.Bind(dup, srv); err != syscall.EADDRINUSE {
		fmt.Fprintf(os.Stderr, "edges: second bind: %v, want EADDRINUSE\n", err)
		os.Exit(1)
	}
	must(syscall.Close(dup), "close")

	// 2. Connection A: the client shuts down writing, then reads.
	c := socket()
	must(syscall.Connect(c, srv), "connect A")
	s, _, err := syscall.Accept(ls)
	must(err, "accept A")
	_, err = syscall.Write(c, []byte("ping"))
	must(err, "write")
	must(syscall.Shutdown(c, syscall.SHUT_WR), "shutdown")
	readAll(s)
	_, err = syscall.Write(s, []byte("pong"))
	must(err, "write")
	must(syscall.Close(s), "close")
	readAll(c)
	must(syscall.Close(c), "close")

	// 3. Connection B: SO_LINGER 0, then close: RST.
	c = socket()
	must(syscall.Connect(c, srv), "connect B")
	s, _, err = syscall.Accept(ls)
	must(err, "accept B")
	must(syscall.SetsockoptLinger(c, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0}), "setsockopt")
	must(syscall.Close(c), "close")
	readAll(s) // ECONNRESET
	must(syscall.Close(s), "close")

	// 4. Connection C: a non-blocking connect to a bound, not listening port.
	closed := socket()
	must(syscall.Bind(closed, &syscall.SockaddrInet4{Addr: loopback}), "bind")
	sa, err = syscall.Getsockname(closed)
	must(err, "getsockname")
	c, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	must(err, "socket")
	err = syscall.Connect(c, &syscall.SockaddrInet4{Addr: loopback, Port: sa.(*syscall.SockaddrInet4).Port})
	if err != syscall.EINPROGRESS && err != syscall.ECONNREFUSED {
		fmt.Fprintf(os.Stderr, "edges: non-blocking connect: %v\n", err)
		os.Exit(1)
	}
	// Wait for the answer as a program would, in poll.
	fds := []unix.PollFd{{Fd: int32(c), Events: unix.POLLOUT}}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if n, _ := unix.Poll(fds, 1000); n > 0 {
			break
		}
	}
	soErr, err := syscall.GetsockoptInt(c, syscall.SOL_SOCKET, syscall.SO_ERROR)
	must(err, "getsockopt")
	if syscall.Errno(soErr) != syscall.ECONNREFUSED {
		fmt.Fprintf(os.Stderr, "edges: SO_ERROR %v, want ECONNREFUSED\n", syscall.Errno(soErr))
		os.Exit(1)
	}
	must(syscall.Close(c), "close")
	must(syscall.Close(closed), "close")

	// 5. The listener.
	must(syscall.Close(ls), "close listener")
}
