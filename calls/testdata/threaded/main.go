// Command threaded is a test program for the tracer: a server whose
// accepting goroutines each run on their own locked OS thread and block in
// accept4 on one listening socket, and a client making N connections.
//
// Usage: threaded N. It prints "server ADDR", then "client ADDR" for each
// connection's local address, and "accepted TID ADDR" for each accept.
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	ls, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		panic(err)
	}
	syscall.Bind(ls, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	syscall.Listen(ls, 64)
	sa, _ := syscall.Getsockname(ls)
	port := sa.(*syscall.SockaddrInet4).Port
	fmt.Printf("server 127.0.0.1:%d\n", port)

	var mu sync.Mutex
	var wg sync.WaitGroup
	const workers = 4
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			for {
				fd, rsa, err := syscall.Accept4(ls, 0)
				if err == syscall.EINTR {
					continue
				}
				if err != nil {
					return // the listener was shut down
				}
				if rsa == nil {
					syscall.Close(fd)
					return // the wake-up connection
				}
				mu.Lock()
				fmt.Printf("accepted %d %d\n", syscall.Gettid(), rsa.(*syscall.SockaddrInet4).Port)
				mu.Unlock()
				syscall.Write(fd, []byte("hi"))
				syscall.Close(fd)
			}
		}()
	}
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp4", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			panic(err)
		}
		mu.Lock()
		fmt.Printf("client %s\n", c.LocalAddr())
		mu.Unlock()
		buf := make([]byte, 2)
		c.Read(buf)
		c.Close()
	}
	// Wake the accepting threads: shutdown makes blocked accepts fail.
	syscall.Shutdown(ls, syscall.SHUT_RDWR)
	wg.Wait()
	syscall.Close(ls)
}
