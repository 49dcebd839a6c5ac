// Command noconns is the "no socket calls" benchmark program: N rounds of
// ordinary system calls (getpid, read and write on a pipe), none of which
// the tracer's seccomp filter stops on.
//
// Usage: noconns N
package main

import (
	"os"
	"strconv"
	"syscall"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		panic(err)
	}
	buf := []byte{0}
	for i := 0; i < n; i++ {
		syscall.Getpid()
		syscall.Write(p[1], buf)
		syscall.Read(p[0], buf)
	}
}
