// Command renamed is a hostile traced program: it renames itself with
// prctl(PR_SET_NAME) to a terminal escape sequence (set the window title),
// then makes one connection to itself on 127.0.0.1, so that its name shows
// in socktrace's report of its calls.
//
// It prints "server 127.0.0.1:PORT", the listening address.
//
// With -linger READY RELEASE (two FIFOs) it makes no connection: once
// renamed it writes a line to READY, then stays until RELEASE is opened and
// closed by a writer, so that a shell that started it in the background
// and read the line leaves it running, named so, when the shell exits.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// Name is what the program calls itself: OSC 0, set the window title.
const Name = "\x1b]0;pwned\x07"

func init() {
	// The main goroutine stays on the main thread, whose name is the
	// process's (/proc/PID/comm).
	runtime.LockOSThread()
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "renamed: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func main() {
	name := append([]byte(Name), 0)
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_NAME, uintptr(unsafe.Pointer(&name[0])), 0); e != 0 {
		must(e, "prctl")
	}
	if len(os.Args) == 4 && os.Args[1] == "-linger" {
		linger(os.Args[2], os.Args[3])
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
	c, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	must(err, "client socket")
	must(syscall.Connect(c, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}), "connect")
	fd, _, err := syscall.Accept4(ls, 0)
	must(err, "accept4")
	must(syscall.Close(c), "client close")
	must(syscall.Close(fd), "server close")
	must(syscall.Close(ls), "close listener")
}

// linger tells the parent through ready that the name is set, then waits
// for whoever holds release to let it go.
func linger(ready, release string) {
	f, err := os.OpenFile(ready, os.O_WRONLY, 0)
	must(err, "open the ready FIFO")
	_, err = f.WriteString("renamed\n")
	must(err, "write the ready FIFO")
	must(f.Close(), "close the ready FIFO")
	r, err := os.Open(release)
	must(err, "open the release FIFO")
	_, err = io.Copy(io.Discard, r)
	must(err, "read the release FIFO")
}
