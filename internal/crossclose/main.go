// Command crossclose makes segments cross in flight on loopback, so that
// testdata/make-captures.sh can record a simultaneous close (both ends'
// FINs crossing) and its relatives. It is a tool for making test
// captures, not part of socktrace's interface.
//
//	ip netns exec NS crossclose -port P -case NAME
//
// It needs a loopback that queues: a namespace whose lo has a token
// bucket (tc qdisc add dev lo root tbf ...), so that the filler
// datagrams it sends first use the bucket up and hold the segments sent
// right after them in the queue. Everything the case sends is then queued
// before any of it is delivered: each side sends without having received
// what the other sent, which on a real path happens when two ends act
// within one trip time. Without such a qdisc, loopback delivers each
// segment inside the call that sends it, and nothing crosses.
//
// Cases (the client's and the server's calls, made one after another by
// one thread, all before the first of their segments leaves the queue):
//
//	fins       client shutdown(SHUT_WR), server shutdown(SHUT_WR): the FINs cross
//	fin-data   client shutdown(SHUT_WR), server write(): the FIN crosses data
//	fin-corked client write()+shutdown(SHUT_WR) as one FIN carrying data, server shutdown(SHUT_WR)
//
// Before the case both exchange a request (22 bytes) and a reply (27);
// after it each reads to the end and closes. With -v it prints each call
// to stderr.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

var verbose = flag.Bool("v", false, "print every call to stderr")

func logf(format string, args ...any) {
	if *verbose {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000000")}, args...)...)
	}
}

func main() {
	port := flag.Int("port", 20061, "server port")
	name := flag.String("case", "fins", "what crosses: fins, fin-data or fin-corked")
	filler := flag.Int("filler", 6, "datagrams of 1400 bytes sent first, to use the loopback's token bucket up")
	flag.Parse()
	if err := run(*port, *name, *filler); err != nil {
		fmt.Fprintln(os.Stderr, "crossclose:", err)
		os.Exit(1)
	}
}

func run(port int, name string, filler int) error {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	cl, err := net.Dial("tcp4", addr)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cl.Close()
	logf("client connect %s → %s", cl.LocalAddr(), addr)
	sc, err := ln.Accept()
	if err != nil {
		return fmt.Errorf("accept: %w", err)
	}
	defer sc.Close()
	logf("server accept %s", sc.RemoteAddr())
	client, server := cl.(*net.TCPConn), sc.(*net.TCPConn)

	req, reply := []byte("hello from the client\n"), []byte("hello back from the server\n")
	if err := exchange(client, server, req); err != nil {
		return err
	}
	if err := exchange(server, client, reply); err != nil {
		return err
	}
	// Everything so far acknowledged, so that the queue holds nothing
	// of the connection but what the case sends.
	if err := waitIdle(client, server); err != nil {
		return err
	}

	sink, err := fill(filler)
	if err != nil {
		return err
	}
	// Open until the end: a datagram to a closed port would be answered
	// with an ICMP error, which queues too.
	defer sink.Close()
	switch name {
	case "fins":
		err = errors.Join(shut(client, "client"), shut(server, "server"))
	case "fin-data":
		err = shut(client, "client")
		if err == nil {
			err = write(server, "server", reply)
		}
	case "fin-corked":
		// With TCP_CORK the data waits for the FIN and leaves with it:
		// one segment with data and FIN.
		err = setCork(client, 1)
		if err == nil {
			err = write(client, "client", req)
		}
		if err == nil {
			err = shut(client, "client")
		}
		if err == nil {
			err = shut(server, "server")
		}
	default:
		return fmt.Errorf("unknown case %q", name)
	}
	if err != nil {
		return err
	}

	// Each side reads to the end, then the server shuts down its side
	// too (if the case did not), and both close.
	for _, e := range []struct {
		c    *net.TCPConn
		side string
	}{{server, "server"}, {client, "client"}} {
		n, err := io.Copy(io.Discard, e.c)
		if err != nil {
			return fmt.Errorf("%s read: %w", e.side, err)
		}
		logf("%s read %d bytes, then 0 (the peer's FIN)", e.side, n)
		if e.side == "server" && name == "fin-data" {
			if err := shut(server, "server"); err != nil {
				return err
			}
		}
	}
	return waitIdle(client, server)
}

// exchange writes b from one end and reads it whole at the other.
func exchange(from, to *net.TCPConn, b []byte) error {
	if _, err := from.Write(b); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if _, err := io.ReadFull(to, make([]byte, len(b))); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return nil
}

func shut(c *net.TCPConn, side string) error {
	if err := c.CloseWrite(); err != nil {
		return fmt.Errorf("%s shutdown(SHUT_WR): %w", side, err)
	}
	logf("%s shutdown(SHUT_WR)", side)
	return nil
}

func write(c *net.TCPConn, side string, b []byte) error {
	n, err := c.Write(b)
	if err != nil {
		return fmt.Errorf("%s write: %w", side, err)
	}
	logf("%s write %d bytes", side, n)
	return nil
}

func setCork(c *net.TCPConn, on int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return fmt.Errorf("TCP_CORK: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_CORK, on)
	}); err != nil {
		return fmt.Errorf("TCP_CORK: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("TCP_CORK: %w", serr)
	}
	return nil
}

// fill sends n datagrams of 1400 bytes through loopback to a socket of its
// own, which it returns: more than the token bucket holds, so that what
// follows waits in the queue (1400 bytes take 11 ms at 1 mbit/s).
func fill(n int) (io.Closer, error) {
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("filler socket: %w", err)
	}
	src, err := net.DialUDP("udp4", nil, sink.LocalAddr().(*net.UDPAddr))
	if err != nil {
		sink.Close()
		return nil, fmt.Errorf("filler socket: %w", err)
	}
	defer src.Close()
	b := make([]byte, 1400)
	for range n {
		if _, err := src.Write(b); err != nil {
			sink.Close()
			return nil, fmt.Errorf("filler: %w", err)
		}
	}
	logf("filler: %d datagrams of %d bytes", n, len(b))
	return sink, nil
}

// waitIdle waits until neither socket has bytes in flight (tcpi_unacked)
// or unsent: what either sent has been acknowledged.
func waitIdle(conns ...*net.TCPConn) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := false
		for _, c := range conns {
			rc, err := c.SyscallConn()
			if err != nil {
				return fmt.Errorf("tcp info: %w", err)
			}
			var info *unix.TCPInfo
			var ierr error
			if err := rc.Control(func(fd uintptr) { info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
				return fmt.Errorf("tcp info: %w", err)
			}
			if ierr != nil {
				return fmt.Errorf("tcp info: %w", ierr)
			}
			if info.Unacked > 0 || info.Notsent_bytes > 0 {
				busy = true
			}
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("segments still unacknowledged after 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
