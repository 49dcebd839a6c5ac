//go:build linux

package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// These tests capture real traffic on the loopback interface, which needs
// CAP_NET_RAW; without it they skip. Run them as root:
//
//	sudo go test ./capture -run Live
//
// Checked by hand against tcpdump once (2026-11-25, Linux 6.18): with
// `tcpdump -i lo -nn -tt -S tcp` running beside TestLiveLoopbackTCP, tcpdump
// printed, for the test's port, the same 10 segments this source read (SYN,
// SYN-ACK, ACK, PSH 5 bytes, ACK, PSH 5 bytes, ACK, FIN, FIN, ACK) with the
// same sequence numbers, in the same order, with the same timestamps to the
// microsecond (tcpdump .539500, here .539499996), each exactly once. tcpdump
// said "10 packets captured, 20 packets received by filter": it receives
// both copies and drops the outgoing one in user space, where this source
// has the kernel drop it (its counters said Received 10, Dropped 0).

// requireCapture skips the test unless this process may open a packet
// socket, which is the real test for CAP_NET_RAW.
func requireCapture(t testing.TB) {
	t.Helper()
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("live capture needs CAP_NET_RAW (opening a packet socket: %v); run as root: sudo go test ./capture -run Live", err)
	}
	unix.Close(fd)
}

// loopbackListener listens on a port of 127.0.0.1 the kernel picks, until
// the test ends, and returns the listener and its port.
func loopbackListener(t testing.TB) (net.Listener, uint16) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, uint16(ln.Addr().(*net.TCPAddr).Port)
}

// openLo opens a live capture on loopback and closes it when the test ends.
func openLo(t testing.TB, opts LiveOptions) *LiveSource {
	t.Helper()
	src, err := OpenLive("lo", opts)
	if err != nil {
		t.Fatalf("OpenLive(lo): %v", err)
	}
	t.Cleanup(func() {
		if err := src.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return src
}

// portFilter assembles, by hand, the classic BPF program libpcap compiles
// for "ip proto P and port N" on Ethernet (IPv4 only).
func portFilter(t testing.TB, proto uint8, port uint16) []bpf.RawInstruction {
	t.Helper()
	prog, err := bpf.Assemble([]bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: 12, Size: 2}, // EtherType
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x0800, SkipTrue: 9},
		/* 2 */ bpf.LoadAbsolute{Off: 23, Size: 1}, // IP protocol
		/* 3 */ bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(proto), SkipTrue: 7},
		/* 4 */ bpf.LoadAbsolute{Off: 20, Size: 2}, // flags and fragment offset
		/* 5 */ bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff, SkipTrue: 5},
		/* 6 */ bpf.LoadMemShift{Off: 14}, // X = IP header length
		/* 7 */ bpf.LoadIndirect{Off: 14, Size: 2}, // source port
		/* 8 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipTrue: 3},
		/* 9 */ bpf.LoadIndirect{Off: 16, Size: 2}, // destination port
		/* 10 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipTrue: 1},
		/* 11 */ bpf.RetConstant{Val: 0},
		/* 12 */ bpf.RetConstant{Val: DefaultSnapLen},
	})
	if err != nil {
		t.Fatalf("assembling the port filter: %v", err)
	}
	return prog
}

// segment is the part of an Ethernet/IPv4/TCP frame these tests look at.
type segment struct {
	src, dst uint16
	flags    uint8
	seq, ack uint32
	payload  string
}

func (s segment) has(f uint8) bool { return s.flags&f == f }

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// parseTCP decodes an Ethernet/IPv4/TCP frame; ok is false for anything
// else.
func parseTCP(data []byte) (s segment, ok bool) {
	if len(data) < 14+20 || binary.BigEndian.Uint16(data[12:]) != 0x0800 {
		return s, false
	}
	ip := data[14:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[9] != 6 || ihl < 20 || total > len(ip) || total < ihl+20 {
		return s, false
	}
	tcp := ip[ihl:total]
	doff := int(tcp[12]>>4) * 4
	if doff < 20 || doff > len(tcp) {
		return s, false
	}
	return segment{
		src:     binary.BigEndian.Uint16(tcp[0:]),
		dst:     binary.BigEndian.Uint16(tcp[2:]),
		seq:     binary.BigEndian.Uint32(tcp[4:]),
		ack:     binary.BigEndian.Uint32(tcp[8:]),
		flags:   tcp[13],
		payload: string(tcp[doff:]),
	}, true
}

// udpDstPort returns the destination port of an Ethernet/IPv4/UDP frame.
func udpDstPort(data []byte) (uint16, bool) {
	if len(data) < 14+20+8 || binary.BigEndian.Uint16(data[12:]) != 0x0800 || data[14+9] != 17 {
		return 0, false
	}
	ihl := int(data[14]&0x0f) * 4
	if len(data) < 14+ihl+8 {
		return 0, false
	}
	return binary.BigEndian.Uint16(data[14+ihl+2:]), true
}

// tcpExchange makes one real TCP connection on 127.0.0.1: the client sends
// "hello", the server answers "world", the client closes, then the server.
// It returns the server's port.
func tcpExchange(t *testing.T) uint16 {
	t.Helper()
	ln, port := loopbackListener(t)

	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			done <- fmt.Errorf("server read: %w", err)
			return
		}
		if _, err := c.Write([]byte("world")); err != nil {
			done <- fmt.Errorf("server write: %w", err)
			return
		}
		if n, err := c.Read(buf); err != io.EOF {
			done <- fmt.Errorf("server: want EOF after the client's close, got %d bytes, %v", n, err)
			return
		}
		done <- nil
	}()

	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return port
}

func TestLiveLoopbackTCP(t *testing.T) {
	requireCapture(t)
	src := openLo(t, LiveOptions{})
	if src.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("LinkType() = %v, want Ethernet", src.LinkType())
	}
	// The kernel is told not to offer the outgoing copies at all (the
	// filter's prefix drops them only where it cannot be told): the
	// count of each segment below, once, holds either way.
	v, err := unix.GetsockoptInt(src.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING)
	switch {
	case errors.Is(err, unix.ENOPROTOOPT):
		t.Logf("no PACKET_IGNORE_OUTGOING before Linux 4.20: the filter drops the outgoing copies")
	case err != nil || v != 1:
		t.Errorf("PACKET_IGNORE_OUTGOING = %d, %v; want 1 on a loopback capture", v, err)
	}
	start := time.Now()
	port := tcpExchange(t)

	// Read until the exchange is complete: both FINs, and the ACK of the
	// second one. Loopback carries others' traffic too; skip it.
	var segs []segment
	var stamps []time.Time
	complete := func() bool {
		var serverFIN *segment
		clientFIN := false
		for i, s := range segs {
			switch {
			case s.has(tcpFIN) && s.src == port:
				serverFIN = &segs[i]
			case s.has(tcpFIN):
				clientFIN = true
			}
		}
		if !clientFIN || serverFIN == nil {
			return false
		}
		for _, s := range segs {
			if s.dst == port && s.has(tcpACK) && s.ack == serverFIN.seq+1 {
				return true
			}
		}
		return false
	}
	take := func(p *Packet) {
		if p.LinkType != layers.LinkTypeEthernet {
			t.Errorf("packet LinkType = %v, want Ethernet", p.LinkType)
		}
		s, ok := parseTCP(p.Data)
		if !ok || (s.src != port && s.dst != port) {
			return
		}
		segs = append(segs, s)
		stamps = append(stamps, p.Timestamp)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var p Packet
	for !complete() {
		if err := src.ReadPacketContext(ctx, &p); err != nil {
			t.Fatalf("reading before the exchange was complete (%d segments so far): %v", len(segs), err)
		}
		take(&p)
	}
	// Stop and drain, so that a late duplicate would still be seen.
	if err := src.Stop(); err != nil {
		t.Fatal(err)
	}
	for {
		err := src.ReadPacket(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		take(&p)
	}
	end := time.Now()

	count := func(match func(segment) bool) int {
		n := 0
		for _, s := range segs {
			if match(s) {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		what  string
		match func(segment) bool
	}{
		{"SYN", func(s segment) bool { return s.flags&(tcpSYN|tcpACK) == tcpSYN && s.dst == port }},
		{"SYN-ACK", func(s segment) bool { return s.has(tcpSYN|tcpACK) && s.src == port }},
		{"client FIN", func(s segment) bool { return s.has(tcpFIN) && s.dst == port }},
		{"server FIN", func(s segment) bool { return s.has(tcpFIN) && s.src == port }},
		{`"hello"`, func(s segment) bool { return s.payload == "hello" && s.dst == port }},
		{`"world"`, func(s segment) bool { return s.payload == "world" && s.src == port }},
	} {
		if n := count(c.match); n != 1 {
			t.Errorf("saw %d %s segments for port %d, want exactly 1", n, c.what, port)
		}
	}
	if n := count(func(s segment) bool { return s.has(tcpRST) }); n != 0 {
		t.Errorf("saw %d RST segments, want none", n)
	}
	// No segment twice: the outgoing copy is dropped in the kernel.
	seen := map[segment]bool{}
	for _, s := range segs {
		if seen[s] {
			t.Errorf("segment seen twice: %+v", s)
		}
		seen[s] = true
	}
	for i, ts := range stamps {
		if ts.Before(start) || ts.After(end) {
			t.Errorf("segment %d: timestamp %v outside the test's window [%v, %v]", i, ts, start, end)
		}
		if i > 0 && ts.Before(stamps[i-1]) {
			t.Errorf("segment %d: timestamp %v before the previous one %v", i, ts, stamps[i-1])
		}
	}
	st, err := src.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Received < uint64(len(segs)) || st.Dropped != 0 {
		t.Errorf("Stats() = %+v, want at least %d received and none dropped", st, len(segs))
	}
	t.Logf("port %d: %d segments, stats %+v", port, len(segs), st)
	for i, s := range segs {
		t.Logf("%s %5d > %5d flags %#02x seq %d ack %d len %d", stamps[i].Format("15:04:05.000000000"), s.src, s.dst, s.flags, s.seq, s.ack, len(s.payload))
	}
}

func TestLiveUserFilter(t *testing.T) {
	requireCapture(t)
	// Learn the port first: the filter is set at open.
	ln, port := loopbackListener(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	other, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() {
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	src := openLo(t, LiveOptions{Filter: portFilter(t, 6, port)})
	// A connection that must not be seen, then one that must.
	for _, addr := range []string{other.Addr().String(), ln.Addr().String()} {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var p Packet
	syns := 0
	for syns == 0 {
		if err := src.ReadPacketContext(ctx, &p); err != nil {
			t.Fatalf("waiting for the SYN to port %d: %v", port, err)
		}
		s, ok := parseTCP(p.Data)
		if !ok || (s.src != port && s.dst != port) {
			t.Fatalf("the filter for port %d let through % x", port, p.Data)
		}
		if s.flags&(tcpSYN|tcpACK) == tcpSYN {
			syns++
		}
	}
	src.Stop()
	for {
		err := src.ReadPacket(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s, ok := parseTCP(p.Data)
		if !ok || (s.src != port && s.dst != port) {
			t.Fatalf("the filter for port %d let through % x", port, p.Data)
		}
		if s.flags&(tcpSYN|tcpACK) == tcpSYN {
			syns++
		}
	}
	if syns != 1 {
		t.Errorf("saw %d SYNs to port %d through prefix and filter, want 1", syns, port)
	}
}

// udpSender returns a function that sends one datagram to a fresh port on
// 127.0.0.1, and that port.
func udpSender(t testing.TB) (send func(b []byte), port uint16) {
	t.Helper()
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rx.Close() })
	// Keep the receive queue drained so the kernel never refuses a datagram.
	go func() {
		buf := make([]byte, 1<<16)
		for {
			if _, err := rx.Read(buf); err != nil {
				return
			}
		}
	}()
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Close() })
	return func(b []byte) {
		if _, err := tx.Write(b); err != nil {
			t.Error(err)
		}
	}, uint16(rx.LocalAddr().(*net.UDPAddr).Port)
}

func TestLiveLatency(t *testing.T) {
	requireCapture(t)
	send, port := udpSender(t)
	// The filter keeps the ring empty but for our datagram, so it can only
	// reach us through the block retire timer, never by filling a block.
	src := openLo(t, LiveOptions{Filter: portFilter(t, 17, port)})
	best := time.Hour
	var all []time.Duration
	for i := 0; i < 3; i++ {
		time.Sleep(50 * time.Millisecond) // let the ring go idle
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		t0 := time.Now()
		send([]byte("ping"))
		var p Packet
		err := src.ReadPacketContext(ctx, &p)
		d := time.Since(t0)
		cancel()
		if err != nil {
			t.Fatalf("a single datagram on idle loopback did not arrive: %v", err)
		}
		if got, ok := udpDstPort(p.Data); !ok || got != port {
			t.Fatalf("read a frame that is not our datagram: % x", p.Data)
		}
		if p.Timestamp.Before(t0) || p.Timestamp.After(t0.Add(d)) {
			t.Errorf("timestamp %v outside [%v, %v]", p.Timestamp, t0, t0.Add(d))
		}
		all = append(all, d)
		best = min(best, d)
	}
	t.Logf("latency of one datagram on idle loopback: %v (block timeout %v)", all, DefaultBlockTimeout)
	// A correctness check of the block retire timer, not a speed test:
	// without it the datagram would wait for a block to fill, forever.
	// The bound is loose so that a loaded machine cannot fail it.
	if best > time.Second {
		t.Errorf("a single datagram took at best %v to arrive, want well under 1s", best)
	}
}

func TestLiveLargeFrame(t *testing.T) {
	requireCapture(t)
	send, port := udpSender(t)
	src := openLo(t, LiveOptions{Filter: portFilter(t, 17, port)})
	payload := make([]byte, 65000) // loopback's MTU is 65536
	send(payload)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var p Packet
	if err := src.ReadPacketContext(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if want := 14 + 20 + 8 + len(payload); len(p.Data) != want || p.Length != want {
		t.Errorf("captured %d of %d bytes, want all %d", len(p.Data), p.Length, want)
	}
}

func TestLiveStopDrains(t *testing.T) {
	requireCapture(t)
	send, port := udpSender(t)
	src := openLo(t, LiveOptions{Filter: portFilter(t, 17, port)})
	const n = 100
	for i := 0; i < n; i++ {
		send([]byte("before stop"))
	}
	// Stop before reading anything: the datagrams sit in a block the kernel
	// has not handed over yet.
	if err := src.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		send([]byte("after stop"))
	}
	got := 0
	var p Packet
	for {
		err := src.ReadPacket(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(string(p.Data), "before stop") {
			t.Errorf("read a frame sent after Stop: % x", p.Data)
		}
		got++
	}
	if got != n {
		t.Errorf("drained %d datagrams after Stop, want %d", got, n)
	}
	if err := src.ReadPacket(&p); err != io.EOF {
		t.Errorf("ReadPacket after the drain = %v, want io.EOF", err)
	}
}

// openQuiet opens loopback with a filter that accepts nothing, so a read
// blocks.
func openQuiet(t testing.TB) *LiveSource {
	return openLo(t, LiveOptions{Filter: []bpf.RawInstruction{{Op: 0x06, K: 0}}})
}

func TestLiveCloseUnblocks(t *testing.T) {
	requireCapture(t)
	src := openQuiet(t)
	errc := make(chan error, 1)
	go func() {
		var p Packet
		errc <- src.ReadPacket(&p)
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("ReadPacket returned before Close: %v", err)
	default:
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if err != io.EOF {
			t.Errorf("blocked ReadPacket returned %v after Close, want io.EOF", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock ReadPacket")
	}
	var p Packet
	if err := src.ReadPacket(&p); err != io.EOF {
		t.Errorf("ReadPacket after Close = %v, want io.EOF", err)
	}
	if _, err := src.Stats(); err != nil {
		t.Errorf("Stats after Close: %v", err)
	}
}

func TestLiveContextCancel(t *testing.T) {
	requireCapture(t)
	src := openQuiet(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		var p Packet
		errc <- src.ReadPacketContext(ctx, &p)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ReadPacketContext returned %v after cancel, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancelling the context did not unblock ReadPacketContext")
	}
	// The source is still usable.
	if err := src.Stop(); err != nil {
		t.Fatal(err)
	}
	var p Packet
	if err := src.ReadPacket(&p); err != io.EOF {
		t.Errorf("ReadPacket after Stop on an empty ring = %v, want io.EOF", err)
	}
}

func TestLiveUnknownInterface(t *testing.T) {
	_, err := OpenLive("socktrace-no0", LiveOptions{})
	if !errors.Is(err, ErrNoInterface) {
		t.Fatalf("OpenLive(socktrace-no0) = %v, want ErrNoInterface", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, `no interface "socktrace-no0"; interfaces here: `) || !strings.Contains(msg, "lo") {
		t.Errorf("error %q should name the interface and list the ones here, lo among them", msg)
	}
}

func TestLivePermission(t *testing.T) {
	requireCapture(t)
	// Capabilities belong to a thread: drop CAP_NET_RAW from this one
	// thread and open there. The thread stays locked, so the runtime
	// discards it when the goroutine ends instead of reusing it.
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capget: %w", err)
			return
		}
		data[0].Effective &^= 1 << unix.CAP_NET_RAW
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- fmt.Errorf("capset: %w", err)
			return
		}
		src, err := OpenLive("lo", LiveOptions{})
		if err == nil {
			src.Close()
			err = errors.New("OpenLive succeeded without CAP_NET_RAW")
		}
		errc <- err
	}()
	err := <-errc
	if !errors.Is(err, ErrPermission) || !errors.Is(err, os.ErrPermission) {
		t.Fatalf("OpenLive without CAP_NET_RAW = %v, want ErrPermission", err)
	}
	exe, _ := os.Executable()
	exe, _ = filepath.EvalSymlinks(exe)
	for _, want := range []string{"capture on lo: permission denied", "needs CAP_NET_RAW", "setcap cap_net_raw+ep " + exe} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "NET_ADMIN") || strings.Contains(err.Error(), "net_admin") {
		t.Errorf("error %q asks for CAP_NET_ADMIN, which capture does not need", err)
	}
}

func TestLiveFilterProgram(t *testing.T) {
	user := portFilter(t, 6, 8080)
	prog, err := liveFilter([]int{0}, DefaultSnapLen, user)
	if err != nil {
		t.Fatal(err)
	}
	prefix, _ := bpf.Assemble(loopbackPrefix)
	if len(prog) != len(prefix)+len(user) {
		t.Fatalf("combined program has %d instructions, want %d", len(prog), len(prefix)+len(user))
	}
	// The prefix: load the packet type, drop outgoing, else clear A and
	// go on; its jumps land inside it.
	want := []string{"ld #type", "jneq #4,1", "ret #0", "ld #0"}
	for i, ins := range prefix {
		if s := fmt.Sprint(ins.Disassemble()); s != want[i] {
			t.Errorf("prefix[%d] = %s, want %s", i, s, want[i])
		}
		if j := i + 1 + int(ins.Jt); ins.Jt != 0 && j > len(prefix) {
			t.Errorf("prefix[%d] jumps past the prefix", i)
		}
	}
	for i, ins := range user {
		got := prog[len(prefix)+i]
		if got.Code != ins.Op || got.Jt != ins.Jt || got.Jf != ins.Jf || got.K != ins.K {
			t.Errorf("user instruction %d changed: %+v, want %+v", i, got, ins)
		}
	}
	// Not on other interfaces; and with no user filter, the snap length.
	prog, _ = liveFilter(nil, 1234, nil)
	if len(prog) != 1 || prog[0].Code != 0x06 || prog[0].K != 1234 {
		t.Errorf("filter without prefix or user program = %+v, want ret #1234", prog)
	}
	if _, err := liveFilter([]int{0}, DefaultSnapLen, make([]bpf.RawInstruction, maxFilterLen)); err == nil {
		t.Error("a filter too long with the prefix was accepted")
	}
}

// BenchmarkLiveReadPacket reads a stream of small datagrams and reports
// allocations per packet, which must be 0.
func BenchmarkLiveReadPacket(b *testing.B) {
	requireCapture(b)
	send, port := udpSender(b)
	src := openLo(b, LiveOptions{Filter: portFilter(b, 17, port)})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		msg := []byte("0123456789abcdef")
		for {
			select {
			case <-stop:
				return
			default:
			}
			for i := 0; i < 64; i++ {
				send(msg)
			}
		}
	}()
	var p Packet
	if err := src.ReadPacket(&p); err != nil { // warm up
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := src.ReadPacket(&p); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
}

// TestLiveStorm measures, without asserting anything, how the ring copes
// with a storm of short loopback connections made by another goroutine
// while the reader only counts. It is off by default (it burns CPU for
// seconds); run it with
//
//	SOCKTRACE_LIVE_STORM=1 sudo go test ./capture -run LiveStorm -v
//
// SOCKTRACE_STORM_CONNS sets the number of connections (default 20000).
func TestLiveStorm(t *testing.T) {
	if os.Getenv("SOCKTRACE_LIVE_STORM") == "" {
		t.Skip("a measurement, not a test: set SOCKTRACE_LIVE_STORM=1 to run it")
	}
	requireCapture(t)
	conns := 20000
	if v := os.Getenv("SOCKTRACE_STORM_CONNS"); v != "" {
		if _, err := fmt.Sscan(v, &conns); err != nil {
			t.Fatal(err)
		}
	}
	for _, ring := range []struct{ block, n int }{
		{4 << 20, 8},
		{1 << 20, 32},
		{1 << 20, 64},
		{512 << 10, 64},
		{512 << 10, 128},
	} {
		for _, c := range []struct {
			rate  int
			stall time.Duration
		}{{10000, 0}, {0, 0}, {10000, 100 * time.Millisecond}, {10000, 300 * time.Millisecond}, {10000, time.Second}} {
			name := fmt.Sprintf("%dKiBx%d/rate=%d/stall=%v", ring.block>>10, ring.n, c.rate, c.stall)
			t.Run(name, func(t *testing.T) {
				storm(t, LiveOptions{BlockSize: ring.block, NumBlocks: ring.n}, conns, c.rate, c.stall)
			})
		}
	}
}

// storm makes conns short TCP connections on loopback at rate per second
// (0: as fast as it can) while reading and counting every frame on lo.
// Once, half a second in, the reader stops reading for stall, as a reader
// that is descheduled or busy would.
func storm(t *testing.T, opts LiveOptions, conns, rate int, stall time.Duration) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	src := openLo(t, opts)

	const workers = 4
	var wg sync.WaitGroup
	var failed sync.Map
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := w; k < conns; k += workers {
				if rate > 0 {
					if d := time.Until(start.Add(time.Duration(k) * time.Second / time.Duration(rate))); d > 0 {
						time.Sleep(d)
					}
				}
				c, err := net.Dial("tcp4", ln.Addr().String())
				if err != nil {
					failed.Store(err.Error(), true)
					continue
				}
				c.Close()
			}
		}(w)
	}
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
		src.Stop()
	}()
	var p Packet
	frames := 0
	stallAt := start.Add(500 * time.Millisecond)
	for {
		if stall > 0 && time.Now().After(stallAt) {
			time.Sleep(stall)
			stall = 0
		}
		err := src.ReadPacket(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames++
	}
	<-finished
	elapsed := time.Since(start)
	st, err := src.Stats()
	if err != nil {
		t.Fatal(err)
	}
	failed.Range(func(k, _ any) bool { t.Logf("dial error: %v", k); return true })
	t.Logf("%d connections in %v (%.0f/s), %d frames read (%.0f/s), kernel: received %d, dropped %d, ring full %d times",
		conns, elapsed.Round(time.Millisecond), float64(conns)/elapsed.Seconds(), frames, float64(frames)/elapsed.Seconds(),
		st.Received, st.Dropped, st.QueueFreezes)
}

// BenchmarkLiveReadRing measures ReadPacket alone: the ring is filled with
// small datagrams while the timer is stopped, then read. Filling is slow and
// untimed, so fix the count:
//
//	sudo go test ./capture -run XXX -bench LiveReadRing -benchtime=200000x
func BenchmarkLiveReadRing(b *testing.B) {
	requireCapture(b)
	send, port := udpSender(b)
	src := openLo(b, LiveOptions{Filter: portFilter(b, 17, port)})
	msg := []byte("0123456789abcdef")
	var p Packet
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		round := min(20000, b.N-done)
		b.StopTimer()
		for i := 0; i < round; i++ {
			send(msg)
		}
		time.Sleep(3 * DefaultBlockTimeout) // let the last block be handed over
		b.StartTimer()
		for i := 0; i < round; i++ {
			if err := src.ReadPacket(&p); err != nil {
				b.Fatal(err)
			}
		}
		done += round
	}
	b.StopTimer()
	if st, _ := src.Stats(); st.Dropped != 0 {
		b.Logf("kernel dropped %d datagrams", st.Dropped)
	}
}

// netns is a private network namespace that one locked OS thread has
// entered; run executes a function on that thread. Sockets and devices
// created there belong to the namespace, so tests can make interfaces
// without touching the machine's.
type netns struct{ do chan func() }

func newNetns(t *testing.T) *netns {
	t.Helper()
	ns := &netns{do: make(chan func())}
	ready := make(chan error)
	go func() {
		// Never unlocked: the thread is in another namespace, and the
		// runtime discards a thread whose goroutine ends locked.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for f := range ns.do {
			f()
		}
	}()
	if err := <-ready; err != nil {
		t.Skipf("cannot make a network namespace (needs CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() { close(ns.do) })
	return ns
}

func (ns *netns) run(f func()) {
	done := make(chan struct{})
	ns.do <- func() { defer close(done); f() }
	<-done
}

// setUp sets or clears IFF_UP on an interface of the calling thread's
// namespace.
func setUp(name string, up bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	flags := ifr.Uint16() &^ unix.IFF_UP
	if up {
		flags |= unix.IFF_UP
	}
	ifr.SetUint16(flags)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// newTun makes a tun device in the calling thread's namespace, layer 3
// (IFF_TUN, ARPHRD_NONE) or Ethernet (IFF_TAP), brings it up and returns its
// descriptor: what is written to it arrives on the interface.
func newTun(name string, mode uint16) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	ifr, err := unix.NewIfreq(name)
	if err == nil {
		ifr.SetUint16(mode | unix.IFF_NO_PI)
		err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	}
	if err == nil {
		err = setUp(name, true)
	}
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// ipv4Packet returns an IPv4 packet 10.9.0.1 → 10.9.0.2 of the given
// protocol carrying payload.
func ipv4Packet(proto uint8, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	b[8] = 64
	b[9] = proto
	copy(b[12:], []byte{10, 9, 0, 1, 10, 9, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(b[10:], ^uint16(sum))
	return append(b, payload...)
}

func TestLiveCookedTun(t *testing.T) {
	requireCapture(t)
	ns := newNetns(t)
	const name = "sttun0"
	var (
		tun, ifindex int
		src          *LiveSource
		flt          layers.LinkType
		err          error
	)
	ns.run(func() {
		if tun, err = newTun(name, unix.IFF_TUN); err != nil {
			return
		}
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(name); err != nil {
			return
		}
		ifindex = ifi.Index
		if flt, err = LiveFilterLinkType(name); err != nil {
			return
		}
		// In cooked mode the filter sees the IP header first: keep UDP.
		var prog []bpf.RawInstruction
		prog, err = bpf.Assemble([]bpf.Instruction{
			bpf.LoadAbsolute{Off: 9, Size: 1},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17, SkipFalse: 1},
			bpf.RetConstant{Val: DefaultSnapLen},
			bpf.RetConstant{Val: 0},
		})
		if err != nil {
			return
		}
		src, err = OpenLive(name, LiveOptions{Filter: prog})
	})
	if err != nil {
		if tun == 0 || errors.Is(err, os.ErrNotExist) {
			t.Skipf("cannot make a tun device: %v", err)
		}
		t.Fatal(err)
	}
	defer unix.Close(tun)
	defer src.Close()
	if src.LinkType() != layers.LinkTypeLinuxSLL2 || flt != layers.LinkTypeRaw {
		t.Errorf("tun: LinkType %v and filter link type %v, want LINUX_SLL2 and Raw", src.LinkType(), flt)
	}

	udp := ipv4Packet(17, []byte("\x30\x39\x00\x35\x00\x0dhello"))
	tcp := ipv4Packet(6, make([]byte, 20))
	for _, pkt := range [][]byte{tcp, udp, tcp} {
		if _, err := unix.Write(tun, pkt); err != nil {
			t.Fatal(err)
		}
	}
	// Bringing the interface down ends the capture with an error, after
	// what was captured.
	ns.run(func() { err = setUp(name, false) })
	if err != nil {
		t.Fatal(err)
	}

	var p Packet
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := src.ReadPacketContext(ctx, &p); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 0, 20+len(udp))
	want = append(want, 0x08, 0x00, 0, 0)                            // protocol IPv4, reserved
	want = binary.BigEndian.AppendUint32(want, uint32(ifindex))      // interface index
	want = binary.BigEndian.AppendUint16(want, unix.ARPHRD_NONE)     // hardware type
	want = append(want, unix.PACKET_HOST, 0, 0, 0, 0, 0, 0, 0, 0, 0) // packet type, address length, address
	want = append(want, udp...)
	if string(p.Data) != string(want) || p.Length != len(want) || p.LinkType != layers.LinkTypeLinuxSLL2 {
		t.Errorf("cooked frame:\n got % x (length %d, %v)\nwant % x", p.Data, p.Length, p.LinkType, want)
	}
	// gopacket reads the header the same way.
	pkt := gopacket.NewPacket(p.Data, layers.LinkTypeLinuxSLL2, gopacket.Default)
	if sll, ok := pkt.Layer(layers.LayerTypeLinuxSLL2).(*layers.LinuxSLL2); !ok || sll.InterfaceIndex != uint32(ifindex) ||
		sll.ProtocolType != layers.EthernetTypeIPv4 || pkt.Layer(layers.LayerTypeUDP) == nil {
		t.Errorf("gopacket decodes the cooked frame as %v", pkt)
	}
	err = src.ReadPacketContext(ctx, &p)
	if err == nil || err == io.EOF || !strings.Contains(err.Error(), "went down") {
		t.Errorf("after the interface went down: ReadPacket = %v, want an error saying so", err)
	}
}

func TestLiveInterfaceDown(t *testing.T) {
	requireCapture(t)
	ns := newNetns(t)
	var err error
	ns.run(func() { _, err = OpenLive("lo", LiveOptions{}) }) // lo starts down in a new namespace
	if err == nil || !strings.Contains(err.Error(), "ip link set lo up") {
		t.Errorf("OpenLive on a down interface = %v, want an error saying how to bring it up", err)
	}
}

func TestLiveVLANTap(t *testing.T) {
	requireCapture(t)
	ns := newNetns(t)
	const name = "sttap0"
	var (
		tap int
		src *LiveSource
		err error
	)
	ns.run(func() {
		if tap, err = newTun(name, unix.IFF_TAP); err != nil {
			return
		}
		src, err = OpenLive(name, LiveOptions{})
	})
	if err != nil {
		if tap == 0 || errors.Is(err, os.ErrNotExist) {
			t.Skipf("cannot make a tap device: %v", err)
		}
		t.Fatal(err)
	}
	defer unix.Close(tap)
	defer src.Close()

	// A frame tagged for VLAN 100, priority 3. The kernel takes the tag
	// off before the capture point; the source must put it back.
	frame := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, // broadcast, from 02:00:00:00:00:01
		0x81, 0x00, 0x60, 0x64, // 802.1Q, PCP 3, VID 100
		0x08, 0x00,
	}
	frame = append(frame, ipv4Packet(17, []byte("\x30\x39\x00\x35\x00\x0dhello"))...)
	if _, err := unix.Write(tap, frame); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var p Packet
	for {
		if err := src.ReadPacketContext(ctx, &p); err != nil {
			t.Fatalf("waiting for the tagged frame: %v", err)
		}
		// A fresh interface may send its own frames (IPv6 router
		// solicitations and the like); look for ours.
		if bytes.Equal(p.Data[6:12], frame[6:12]) {
			break
		}
	}
	if !bytes.Equal(p.Data, frame) || p.Length != len(frame) || p.LinkType != layers.LinkTypeEthernet {
		t.Errorf("tagged frame:\n got % x (length %d, %v)\nwant % x", p.Data, p.Length, p.LinkType, frame)
	}
}

func TestLiveDroppedWithoutClose(t *testing.T) {
	requireCapture(t)
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip(err)
		}
		return len(ents)
	}
	before := fds()
	for i := 0; i < 3; i++ {
		if _, err := OpenLive("lo", LiveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if fds() <= before {
		t.Fatal("OpenLive opened no descriptors?")
	}
	// The cleanups run after a collection, on their own goroutine.
	for i := 0; i < 50 && fds() > before; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if n := fds(); n > before {
		t.Errorf("%d descriptors still open after dropping three sources without Close", n-before)
	}
}

func TestLiveOptionsChecked(t *testing.T) {
	for _, c := range []struct {
		opts LiveOptions
		want string
	}{
		{LiveOptions{SnapLen: -1}, "snap length -1 is out of range"},
		{LiveOptions{BlockSize: 64 << 10}, "cannot hold a frame of the snap length 262144"},
		{LiveOptions{BlockSize: 1 << 30, NumBlocks: 1 << 10}, "too large"},
		{LiveOptions{BlockTimeout: time.Microsecond}, "block timeout 1µs is out of range"},
		{LiveOptions{NumBlocks: -2}, "negative"},
	} {
		_, err := OpenLive("lo", c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "capture on lo: ") {
			t.Errorf("OpenLive(lo, %+v) = %v, want an error saying %q", c.opts, err, c.want)
		}
	}
	// A small snap length allows a small block, rounded up to a page.
	_, block, n, tov, err := liveSizes("lo", LiveOptions{SnapLen: 100, BlockSize: 5000})
	if page := os.Getpagesize(); err != nil || block%page != 0 || block < 5000 || n != DefaultNumBlocks || tov != DefaultBlockTimeout {
		t.Errorf("liveSizes(SnapLen 100, BlockSize 5000) = block %d, %d blocks, timeout %v, %v", block, n, tov, err)
	}
}

func TestLiveSnapLen(t *testing.T) {
	requireCapture(t)
	send, port := udpSender(t)
	user := portFilter(t, 17, port)
	user[len(user)-1].K = 100 // the filter's "keep" returns the snap length, as libpcap's does
	src := openLo(t, LiveOptions{SnapLen: 100, Filter: user})
	send(make([]byte, 1000))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var p Packet
	if err := src.ReadPacketContext(ctx, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Data) != 100 || p.Length != 14+20+8+1000 {
		t.Errorf("with snap length 100: captured %d of %d bytes, want 100 of %d", len(p.Data), p.Length, 14+20+8+1000)
	}
}

// TestLiveBacklog: the ring's backlog is 0 while the kernel holds every
// block, grows when it hands blocks over that the reader has not read,
// falls back to 0 once they are read, and is 0 after Close. The capture
// keeps one port's frames only, so that others' traffic cannot fill it
// meanwhile.
func TestLiveBacklog(t *testing.T) {
	requireCapture(t)
	ln, port := loopbackListener(t)
	src := openLo(t, LiveOptions{NumBlocks: 8, BlockTimeout: 5 * time.Millisecond, Filter: portFilter(t, unix.IPPROTO_TCP, port)})
	if b := src.Backlog(); b != 0 {
		t.Fatalf("backlog %v before any frame, want 0", b)
	}
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// The retire timer hands the block with the handshake over.
	deadline := time.Now().Add(10 * time.Second)
	for src.Backlog() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no block handed over 10 s after the connection")
		}
		time.Sleep(time.Millisecond) // polling the ring, bounded
	}
	if b := src.Backlog(); b <= 0 || b > 1 {
		t.Fatalf("backlog %v, want in (0, 1]", b)
	}
	// Read until the reader waits for the kernel: every block given back
	// (a last frame, such as the server's RST, may come a little later).
	for src.Backlog() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("backlog %v after reading for 10 s, want every block given back", src.Backlog())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		var p Packet
		for src.ReadPacketContext(ctx, &p) == nil {
		}
		cancel()
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if b := src.Backlog(); b != 0 {
		t.Errorf("backlog %v after Close, want 0", b)
	}
}
