// Command noconns is the "no socket calls" benchmark program: N rounds of
// ordinary system calls (getpid, read and write on a pipe), none of which
// the tracer's seccomp filter stops on.
//
// With "close" as second argument, each round also opens and closes
// /dev/null: close is the one non-socket call the filter must stop on
// (seccomp cannot see what a descriptor is), so this measures its cost.
//
// Usage: noconns N [close]
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
	closes := len(os.Args) > 2 && os.Args[2] == "close"
	buf := []byte{0}
	for i := 0; i < n; i++ {
		if closes {
			fd, err := syscall.Open("/dev/null", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
			if err != nil {
				panic(err)
			}
			syscall.Close(fd)
		}
		syscall.Getpid()
		syscall.Write(p[1], buf)
		syscall.Read(p[0], buf)
	}
}
