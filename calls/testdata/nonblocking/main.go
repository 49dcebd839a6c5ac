// Command nonblocking is a test program for the tracer: a server and
// client written with Go's net package, whose sockets are non-blocking
// (connect returns EINPROGRESS, accept returns EAGAIN until a connection
// is queued).
//
// It prints "server ADDR" and "client ADDR" (the client's local address).
// With "refused" it only connects to a closed port.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "refused" {
		// Connect to a port nobody listens on: EINPROGRESS, then RST.
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		addr := ln.Addr().String()
		ln.Close()
		fmt.Printf("server %s\n", addr)
		if _, err := net.Dial("tcp4", addr); err == nil {
			fmt.Fprintln(os.Stderr, "connected to a closed port")
			os.Exit(1)
		}
		return
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("server %s\n", ln.Addr())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		io.Copy(io.Discard, c)
		c.Write([]byte("pong"))
		c.Close()
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("client %s\n", c.LocalAddr())
	c.Write([]byte("ping"))
	c.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, c)
	c.Close()
	<-done
	ln.Close()
}
