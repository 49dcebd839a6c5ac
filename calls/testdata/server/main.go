// Command server is a test program for attaching: a Go net server that
// runs until killed, answering "hi" on each connection and closing it.
// It prints "server ADDR" once it listens.
package main

import (
	"fmt"
	"net"
	"os"
)

func main() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("server %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			c.Write([]byte("hi"))
			c.Close()
		}()
	}
}
