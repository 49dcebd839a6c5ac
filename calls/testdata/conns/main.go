// Command conns is the overhead benchmark program: it makes N loopback
// connections one after another (connect, accept, close both ends), with
// Go's net package.
//
// Usage: conns N [data]
//
// With data, each connection also carries 1 KiB each way: the client
// writes it, the server echoes it back, the client reads it.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	data := len(os.Args) > 2 && os.Args[2] == "data"
	msg := make([]byte, 1024)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if data {
				buf := make([]byte, len(msg))
				if _, err := io.ReadFull(c, buf); err == nil {
					c.Write(buf)
				}
			}
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if data {
			if _, err := c.Write(msg); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if _, err := io.ReadFull(c, msg); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		c.Close()
	}
	ln.Close()
}
