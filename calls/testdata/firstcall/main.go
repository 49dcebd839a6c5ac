// Command firstcall makes a TCP socket in its first user code (a package
// init function, before main and before the Go runtime has started any
// goroutine of its own beyond the first) and closes it, then exits: the
// calls tests check that the recorder, which adopts the command at fork,
// sees this first call.
package main

import (
	"fmt"
	"os"
	"syscall"
)

var fd = first()

func first() int {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "firstcall:", err)
		os.Exit(1)
	}
	syscall.Close(fd)
	return fd
}

func main() {
	fmt.Println(fd)
}
