// Command forking is a test program for the tracer: a server that hands
// each accepted connection to a child process (itself, started with the
// connection as fd 3), and a client in the same process.
//
// It prints "server ADDR", "client ADDR" and "child PID".
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "handle" {
		// The child: answer on fd 3, then close it.
		syscall.Write(3, []byte("hello from child"))
		syscall.Shutdown(3, syscall.SHUT_WR)
		syscall.Close(3)
		return
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Printf("server %s\n", ln.Addr())
	// main waits for the client: a process ends when main returns, and
	// the client's close would race with the exit (TestTraceForkingServer
	// saw no client close on a loaded machine).
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			panic(err)
		}
		fmt.Printf("client %s\n", c.LocalAddr())
		io.Copy(io.Discard, c)
		c.Close()
	}()
	c, err := ln.Accept()
	if err != nil {
		panic(err)
	}
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		panic(err)
	}
	c.Close()
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(self, "handle")
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	f.Close()
	fmt.Printf("child %d\n", cmd.Process.Pid)
	cmd.Wait()
	<-clientDone
	ln.Close()
}
