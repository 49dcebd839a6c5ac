// Command storm is the storm benchmark's program: clients connect to a
// loopback listener as fast as they can, each connection closed by the
// server at once (so that TIME_WAIT stays on the server's side and the
// clients' ports are free again), until a duration has passed or a count
// of connections has been made. It prints the connections made and the
// seconds taken.
//
// Usage: storm DURATION|COUNT CLIENTS
//
// DURATION is a Go duration (3s); COUNT a plain number of connections.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	var until time.Time
	count := int64(-1)
	if d, err := time.ParseDuration(os.Args[1]); err == nil {
		until = time.Now().Add(d)
	} else if n, err := strconv.ParseInt(os.Args[1], 10, 64); err == nil {
		count = n
	} else {
		fmt.Fprintln(os.Stderr, "storm DURATION|COUNT CLIENTS")
		os.Exit(2)
	}
	clients, _ := strconv.Atoi(os.Args[2])
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	start := time.Now()
	var made, failed atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1)
			for {
				if count >= 0 && made.Add(1) > count {
					made.Add(-1)
					return
				}
				if count < 0 && time.Now().After(until) {
					return
				}
				c, err := net.Dial("tcp4", ln.Addr().String())
				if err != nil {
					failed.Add(1)
					if count >= 0 {
						made.Add(-1)
					}
					continue
				}
				if count < 0 {
					made.Add(1)
				}
				c.Read(buf) // the server's FIN
				c.Close()
			}
		}()
	}
	wg.Wait()
	ln.Close()
	fmt.Printf("%d %.3f %d\n", made.Load(), time.Since(start).Seconds(), failed.Load())
}
