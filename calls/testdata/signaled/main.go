// Command signaled is a test program for the tracers: its server thread
// blocks in accept4(2) and is interrupted by signals, three times, before
// a client connects. A signal handled with SA_RESTART makes the kernel end
// the call with ERESTARTSYS, run the handler, return through
// rt_sigreturn and enter accept4 again: a tracer must report one accept,
// with the client's address and a new descriptor, and nothing in between.
//
// It prints "server 127.0.0.1:PORT", "interrupted N" after each signal
// has been handled and the call entered again, "client 127.0.0.1:PORT" and
// "accepted FD".
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "signaled: %s: %v\n", what, err)
		os.Exit(1)
	}
}

// blockedIn reports whether thread tid is in system call nr now, and how
// many times it has given up the CPU of its own accord so far.
func blockedIn(tid, nr int) (bool, int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/syscall", tid))
	in := err == nil && strings.HasPrefix(string(b), strconv.Itoa(nr)+" ")
	st, _ := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/status", tid))
	switches := 0
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "voluntary_ctxt_switches:"); ok {
			switches, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	return in, switches
}

func main() {
	runtime.LockOSThread()
	ls, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	must(err, "socket")
	must(syscall.Bind(ls, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}), "bind")
	must(syscall.Listen(ls, 8), "listen")
	sa, err := syscall.Getsockname(ls)
	must(err, "getsockname")
	port := sa.(*syscall.SockaddrInet4).Port
	fmt.Printf("server 127.0.0.1:%d\n", port)
	tid, pid := syscall.Gettid(), os.Getpid()

	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		// Wait until the server thread sleeps in accept4, interrupt it,
		// and wait until it sleeps there again: it has handled the
		// signal and entered the call anew.
		for i := 1; i <= 3; i++ {
			var before int
			for {
				in, sw := blockedIn(tid, syscall.SYS_ACCEPT4)
				if in {
					before = sw
					break
				}
				runtime.Gosched()
			}
			// SIGURG: the Go runtime's own handler (SA_RESTART), which
			// takes it as a preemption request and returns.
			must(syscall.Tgkill(pid, tid, syscall.SIGURG), "tgkill")
			for {
				if in, sw := blockedIn(tid, syscall.SYS_ACCEPT4); in && sw > before {
					break
				}
				runtime.Gosched()
			}
			fmt.Printf("interrupted %d\n", i)
		}
		c, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		must(err, "client socket")
		must(syscall.Connect(c, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}, Port: port}), "connect")
		sa, err := syscall.Getsockname(c)
		must(err, "client getsockname")
		fmt.Printf("client 127.0.0.1:%d\n", sa.(*syscall.SockaddrInet4).Port)
		must(syscall.Close(c), "client close")
	}()

	fd, _, err := syscall.Accept4(ls, 0)
	must(err, "accept4")
	fmt.Printf("accepted %d\n", fd)
	<-done
	must(syscall.Close(fd), "close")
	must(syscall.Close(ls), "close listener")
}
