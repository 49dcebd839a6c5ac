// Command percall times system calls in a loop and prints the CPU time
// each took, in nanoseconds (the thread's own CPU clock: user and kernel
// time, the recorder's BPF programs included, and not the time other
// programs had the CPU, so that a loaded machine does not blur it): getppid (a call no tracer records: what tracing
// costs every system call on the machine) and a 1-byte write and read on
// a loopback TCP connection (two recorded data calls). The calls tests'
// BenchmarkRecordPerCall runs it plain and recorded.
//
//	percall N
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cpuNow is the calling thread's CPU time.
func cpuNow() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		fmt.Fprintln(os.Stderr, "percall:", err)
		os.Exit(1)
	}
	return time.Duration(ts.Nano())
}

func main() {
	n := 100000
	if len(os.Args) > 1 {
		var err error
		if n, err = strconv.Atoi(os.Args[1]); err != nil || n <= 0 {
			fmt.Fprintln(os.Stderr, "usage: percall N")
			os.Exit(2)
		}
	}
	runtime.LockOSThread() // one thread, one CPU clock
	start := cpuNow()
	for range n {
		syscall.Getppid()
	}
	getppid := cpuNow() - start

	client, server, err := pair()
	if err != nil {
		fmt.Fprintln(os.Stderr, "percall:", err)
		os.Exit(1)
	}
	b := []byte{1}
	start = cpuNow()
	for range n {
		if _, err := syscall.Write(client, b); err != nil {
			fmt.Fprintln(os.Stderr, "percall: write:", err)
			os.Exit(1)
		}
		if _, err := syscall.Read(server, b); err != nil {
			fmt.Fprintln(os.Stderr, "percall: read:", err)
			os.Exit(1)
		}
	}
	writeRead := cpuNow() - start
	fmt.Printf("getppid %d\nwriteread %d\n", getppid.Nanoseconds()/int64(n), writeRead.Nanoseconds()/int64(n))
}

// pair is a connected loopback TCP connection's two ends, as blocking
// descriptors.
func pair() (client, server int, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, 0, err
	}
	s, err := ln.Accept()
	if err != nil {
		return 0, 0, err
	}
	cf, err := c.(*net.TCPConn).File()
	if err != nil {
		return 0, 0, err
	}
	sf, err := s.(*net.TCPConn).File()
	if err != nil {
		return 0, 0, err
	}
	// File's descriptors are blocking; the net ones are closed, the
	// files kept open to the end.
	c.Close()
	s.Close()
	return int(cf.Fd()), int(sf.Fd()), nil
}
