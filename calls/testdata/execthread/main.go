// Command execthread is a test program for the tracer: a connection is
// made, then a thread other than the main one execs "sh -c 'exit 5'",
// so the kernel moves the exec'ing thread to the leader's tid while the
// other threads die.
package main

import (
	"net"
	"os"
	"runtime"
	"syscall"
)

func main() {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		panic(err)
	}
	c.Close()
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		if syscall.Gettid() == os.Getpid() {
			// Landed on the main thread: make sure another one runs.
			go func() {
				runtime.LockOSThread()
				done <- syscall.Exec("/bin/sh", []string{"sh", "-c", "exit 5"}, os.Environ())
			}()
			select {}
		}
		done <- syscall.Exec("/bin/sh", []string{"sh", "-c", "exit 5"}, os.Environ())
	}()
	panic(<-done)
}
