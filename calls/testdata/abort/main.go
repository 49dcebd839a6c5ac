// Command abort is a test program for the tracer: a client that sets
// SO_LINGER to 0 and closes, which aborts the connection with a RST
// instead of a FIN. Blocking raw syscalls; server and client in one
// process. It prints "server ADDR" and "client ADDR".
package main

import (
	"fmt"
	"os"
	"runtime"
	"syscall"
)

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "abort: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	runtime.LockOSThread()
	ls, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	must(err, "socket")
	must(syscall.Bind(ls, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}), "bind")
	must(syscall.Listen(ls, 8), "listen")
	sa, _ := syscall.Getsockname(ls)
	port := sa.(*syscall.SockaddrInet4).Port
	fmt.Printf("server 127.0.0.1:%d\n", port)

	c, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	must(err, "client socket")
	// Options that must not stop: only SO_LINGER does.
	must(syscall.SetsockoptInt(c, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1), "TCP_NODELAY")
	must(syscall.SetsockoptInt(c, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1), "SO_KEEPALIVE")
	must(syscall.Connect(c, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}), "connect")
	csa, _ := syscall.Getsockname(c)
	fmt.Printf("client 127.0.0.1:%d\n", csa.(*syscall.SockaddrInet4).Port)
	fd, _, err := syscall.Accept4(ls, 0)
	must(err, "accept4")
	must(syscall.SetsockoptLinger(c, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0}), "SO_LINGER")
	must(syscall.Close(c), "client close")
	buf := make([]byte, 16)
	_, err = syscall.Read(fd, buf)
	if err != syscall.ECONNRESET {
		fmt.Fprintf(os.Stderr, "abort: read after RST: %v, want ECONNRESET\n", err)
		os.Exit(1)
	}
	syscall.Close(fd)
	syscall.Close(ls)
}
