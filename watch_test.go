package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/internal/slowlink"
)

// watchOnce runs `socktrace watch -c 1 --format json` on iface while
// connect makes one connection, and returns the report.
func watchOnce(t *testing.T, iface, filter string, inNS func(func()), connect func()) jsonReport {
	t.Helper()
	var out, errOut bytes.Buffer
	code := -1
	before := boundPacketSockets()
	exited := make(chan struct{})
	go inNS(func() {
		defer close(exited)
		code = run([]string{"socktrace", "watch", "--iface", iface, "--format", "json", "-c", "1", "--duration", "20s", filter}, &out, &errOut)
	})
	// A test that fails before watch ends must not leave it capturing
	// into the next test.
	t.Cleanup(func() { <-exited })
	// Connect once the capture is bound to its interface (it attaches
	// its filter before it binds): a fixed pause was too short on a
	// loaded machine, and watch then waited out its --duration.
	waitWatchCapturing(t, before, exited, &errOut)
	connect()
	<-exited
	if code != 0 {
		t.Fatalf("watch: exit %d: %s", code, errOut.String())
	}
	return parseReport(t, out.Bytes())
}

// boundPacketSockets returns the inodes of this process's AF_PACKET
// sockets that are bound to an interface. It asks the sockets themselves,
// not /proc/net/packet, which lists only the reading thread's network
// namespace.
func boundPacketSockets() map[uint64]bool {
	fds, _ := os.ReadDir("/proc/self/fd")
	inodes := make(map[uint64]bool)
	for _, e := range fds {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if domain, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN); err != nil || domain != unix.AF_PACKET {
			continue
		}
		sa, err := unix.Getsockname(fd)
		if ll, ok := sa.(*unix.SockaddrLinklayer); err != nil || !ok || ll.Protocol == 0 {
			continue // not bound (bound: to an interface, or to all: -i any)
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil {
			inodes[st.Ino] = true
		}
	}
	return inodes
}

// waitWatchCapturing waits until this process has a bound AF_PACKET socket
// that was not among before: the capture of the watch the test started.
// Sockets are told apart by inode, not counted, so that another
// capture's socket closing meanwhile cannot hide the new one. It waits
// on that event or on the watch's end (exited, after which errOut is
// read), never on a clock: watch's own --duration bounds the wait.
func waitWatchCapturing(t *testing.T, before map[uint64]bool, exited <-chan struct{}, errOut *bytes.Buffer) {
	t.Helper()
	for {
		for ino := range boundPacketSockets() {
			if !before[ino] {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("watch ended before it captured: %s", errOut.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// exchange accepts one connection on ln, reads a request, answers and
// closes after the client.
func exchange(t *testing.T, ln net.Listener, dial func() (net.Conn, error)) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 16)
		if _, err := c.Read(buf); err != nil {
			done <- err
			return
		}
		_, err = c.Write([]byte("pong\n"))
		io.Copy(io.Discard, c) // until the client's FIN
		done <- err
	}()
	c, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ping\n"))
	c.Read(make([]byte, 16))
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWatchLoopback(t *testing.T) {
	needCapture(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	r := watchOnce(t, "lo", "tcp port "+strconv.Itoa(port), func(f func()) { f() }, func() {
		exchange(t, ln, func() (net.Conn, error) { return net.Dial("tcp", ln.Addr().String()) })
	})
	checkWatched(t, r, "127.0.0.1:"+strconv.Itoa(port))
	if bpfUsable(t) {
		var connect, accept bool
		for _, call := range r.conns[0].Calls {
			connect = connect || call.Call == "connect" && !call.Inferred && call.PID == os.Getpid()
			accept = accept || call.Call == "accept" && !call.Inferred && call.PID == os.Getpid()
		}
		if !connect || !accept {
			t.Errorf("watch did not name this process on the connect (%v) and accept (%v): %+v", connect, accept, r.conns[0].Calls)
		}
	}
}

// bpfUsable says whether the eBPF recorder can run here (watch names
// processes only then).
func bpfUsable(t *testing.T) bool {
	ctx, cancel := context.WithCancel(context.Background())
	r, err := calls.Watch(ctx, calls.TraceOptions{})
	if err != nil {
		cancel()
		t.Logf("eBPF not usable, watch cannot name processes: %v", err)
		return false
	}
	cancel()
	r.Wait()
	return true
}

func checkWatched(t *testing.T, r jsonReport, server string) {
	t.Helper()
	if len(r.conns) != 1 {
		t.Fatalf("%d connections, want 1", len(r.conns))
	}
	c := r.conns[0]
	if c.Server != server || c.Handshake != "three-way" || c.Close != "graceful" || str(c.FirstFIN) != "client" || c.BytesC2S != 5 || c.BytesS2C != 5 {
		t.Errorf("connection %+v; want %s three-way, graceful, client closing first, 5 bytes each way", c, server)
	}
	// With eBPF, watch sees the calls of the processes that made the
	// connection — here, this test — and names them.
	for _, call := range c.Calls {
		if !call.Inferred && call.PID != os.Getpid() {
			t.Errorf("call %+v: pid %d, want this test's %d", call, call.PID, os.Getpid())
		}
	}
	// The filter admits only this connection's packets.
	if p, _ := r.summary["packets"].(float64); int(p) != c.Packets {
		t.Errorf("summary counts %v packets, the connection %d", p, c.Packets)
	}
}

// TestWatchVeth watches a veth pair between two network namespaces the
// test creates: a client in one, a server in the other, socktrace on the
// client's end of the pair.
func TestWatchVeth(t *testing.T) {
	needCapture(t)
	vethCase(t, "")
}

// vethCase watches a connection over a veth pair on iface (empty: the
// client's end of the pair).
func vethCase(t *testing.T, iface string) {
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command (iproute2) is needed to make network namespaces")
	}
	suffix := strconv.Itoa(os.Getpid() % 100000)
	if iface != "" {
		suffix += "x" // apart from the other case's names
	}
	nsA, nsB := "st-a-"+suffix, "st-b-"+suffix
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	ip("netns", "add", nsA)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsA).Run() })
	ip("netns", "add", nsB)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsB).Run() })
	ip("link", "add", "vst"+suffix, "netns", nsA, "type", "veth", "peer", "name", "vst"+suffix, "netns", nsB)
	ip("-n", nsA, "addr", "add", "10.231.0.1/24", "dev", "vst"+suffix)
	ip("-n", nsB, "addr", "add", "10.231.0.2/24", "dev", "vst"+suffix)
	ip("-n", nsA, "link", "set", "vst"+suffix, "up")
	ip("-n", nsB, "link", "set", "vst"+suffix, "up")

	var ln net.Listener
	inNetns(t, nsB, func() {
		var err error
		ln, err = net.Listen("tcp", "10.231.0.2:0")
		if err != nil {
			t.Fatal(err)
		}
	})
	defer ln.Close()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if iface == "" {
		iface = "vst" + suffix
	}
	r := watchOnce(t, iface, "host 10.231.0.2 and port "+port, func(f func()) { inNetns(t, nsA, f) }, func() {
		exchange(t, ln, func() (c net.Conn, err error) {
			inNetns(t, nsA, func() { c, err = net.DialTimeout("tcp", "10.231.0.2:"+port, 5*time.Second) })
			return c, err
		})
	})
	checkWatched(t, r, "10.231.0.2:"+port)
}

// inNetns runs f on an OS thread moved into the named network namespace,
// so that sockets f opens belong to it, and moves the thread back.
func inNetns(t *testing.T, name string, f func()) {
	if err := slowlink.InNamespace(name, func() error { f(); return nil }); err != nil {
		t.Error(err)
	}
}
