// Command blocking is a test program for the tracer: a server and a client
// in one process, each on its own locked OS thread, making blocking socket
// calls with raw syscalls, so that every call is exactly one syscall.
//
// It prints "server 127.0.0.1:PORT" and "client 127.0.0.1:PORT", the
// server's listening address and the client's local address.
//
// With "refused" it only connects, blocking, to a port nothing listens on
// (one it bound and closed), prints "server 127.0.0.1:PORT" and exits 0
// when the connect fails with ECONNREFUSED.
package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "blocking: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	runtime.LockOSThread()
	if len(os.Args) > 1 && os.Args[1] == "refused" {
		refused()
		return
	}
	ls, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	must(err, "socket")
	must(syscall.Bind(ls, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}), "bind")
	must(syscall.Listen(ls, 8), "listen")
	sa, err := syscall.Getsockname(ls)
	must(err, "getsockname")
	port := sa.(*syscall.SockaddrInet4).Port
	fmt.Printf("server 127.0.0.1:%d\n", port)

	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		c, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		must(err, "client socket")
		must(syscall.Connect(c, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}), "connect")
		sa, err := syscall.Getsockname(c)
		must(err, "client getsockname")
		fmt.Printf("client 127.0.0.1:%d\n", sa.(*syscall.SockaddrInet4).Port)
		_, err = syscall.Write(c, []byte("ping"))
		must(err, "write")
		must(syscall.Shutdown(c, syscall.SHUT_WR), "shutdown")
		buf := make([]byte, 16)
		for {
			n, err := syscall.Read(c, buf)
			if n <= 0 || err != nil {
				break
			}
		}
		must(syscall.Close(c), "client close")
	}()

	fd, _, err := syscall.Accept4(ls, 0)
	must(err, "accept4")
	buf := make([]byte, 16)
	for {
		n, err := syscall.Read(fd, buf)
		if n <= 0 || err != nil {
			break
		}
	}
	_, err = syscall.Write(fd, []byte("pong"))
	must(err, "write")
	must(syscall.Close(fd), "close")
	<-done
	must(syscall.Close(ls), "close listener")
	// A file closed too: close of a non-socket must not be reported.
	f, err := os.Open("/proc/self/status")
	must(err, "open")
	f.Close()
	os.Exit(3)
}

// refused connects to a closed port and expects ECONNREFUSED.
func refused() {
	s, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	must(err, "socket")
	must(syscall.Bind(s, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}), "bind")
	sa, err := syscall.Getsockname(s)
	must(err, "getsockname")
	port := sa.(*syscall.SockaddrInet4).Port
	syscall.Close(s)
	fmt.Printf("server 127.0.0.1:%d\n", port)
	c, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	must(err, "client socket")
	if err := syscall.Connect(c, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}); err != syscall.ECONNREFUSED {
		fmt.Fprintf(os.Stderr, "blocking: connect to a closed port: %v, want ECONNREFUSED\n", err)
		os.Exit(1)
	}
	syscall.Close(c)
}
