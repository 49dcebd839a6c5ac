// Command conns is the overhead benchmark program: it makes N loopback
// connections one after another (connect, accept, close both ends), with
// Go's net package.
//
// Usage: conns N [data]
//
// With data, each connection also carries 1 KiB each way: the client
// writes it, the server echoes it back, the client reads it.
//
// When the environment names a file in ELAPSED_FILE, conns writes there
// how long its own work took, in nanoseconds, from the listen to the last
// close: the overhead benchmarks compare it traced and untraced, apart
// from the tracer's own start-up and end.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	data := len(os.Args) > 2 && os.Args[2] == "data"
	msg := make([]byte, 1024)
	start := time.Now()
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
	if path := os.Getenv("ELAPSED_FILE"); path != "" {
		elapsed := strconv.FormatInt(int64(time.Since(start)), 10)
		if err := os.WriteFile(path, []byte(elapsed+"\n"), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
