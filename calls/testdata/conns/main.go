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
// from the tracer's own start-up and end. CPU_FILE, likewise, gets the
// CPU time (user and system) the process used in that span, the kernel's
// work on its behalf included: what tracing costs the program itself,
// whoever else runs on the machine.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	data := len(os.Args) > 2 && os.Args[2] == "data"
	msg := make([]byte, 1024)
	start, startCPU := time.Now(), cpuTime()
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
	elapsed, cpu := time.Since(start), cpuTime()-startCPU
	for env, d := range map[string]time.Duration{"ELAPSED_FILE": elapsed, "CPU_FILE": cpu} {
		if path := os.Getenv(env); path != "" {
			if err := os.WriteFile(path, []byte(strconv.FormatInt(int64(d), 10)+"\n"), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
	}
}

// cpuTime is the user and system time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
