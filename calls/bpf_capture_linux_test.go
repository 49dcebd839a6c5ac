//go:build linux && (amd64 || arm64)

package calls

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/internal/slowlink"
)

// The recorder's packet capture is checked against an AF_PACKET capture of
// lo made at the same time (captureLoopback: the project's TPACKET_V3
// ring, which tcpdump -i lo -Q in matches): for every connection of the
// traced program, the same segments in each direction, with the same
// flags and payload lengths; nothing of a connection the program did not
// make, although the test process makes its own loopback connections all
// along, unless it shares a port with the program (the kernel side keeps
// the segments of the program's ports); and, one clock for calls and
// packets, each SYN inside its connect.

// recordWithPackets records argv with the packet capture on, beside an
// AF_PACKET capture of lo, while the test process makes loopback
// connections of its own.
//
// foreign is the address of the test's own listener: every connection of
// the test's goes to it, and its port is the test's alone. (Not the test's
// client ports: Linux hands the same ephemeral port to connections to
// different servers, so the program may reuse one.)
func recordWithPackets(t *testing.T, argv []string) (r *recorded, kernelPkts, wirePkts []tcpPacket, foreign netip.AddrPort) {
	t.Helper()
	requireBPF(t)
	stopCapture := captureLoopback(t)

	// The test's own connections, before, during and after the program's.
	stop := make(chan struct{})
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	foreign = ln.Addr().(*net.TCPAddr).AddrPort()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	made := make(chan int, 1)
	dialed := make(chan struct{}, 1)
	go func() {
		n := 0
		defer func() { made <- n }()
		// Paced, not a storm: a few hundred connections a second.
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			c, err := net.Dial("tcp4", ln.Addr().String())
			if err != nil {
				return
			}
			c.Write([]byte("x"))
			c.Close()
			n++
			select {
			case dialed <- struct{}{}:
			default:
			}
		}
	}()
	<-dialed // the test's connections are under way before the program starts

	var mu sync.Mutex
	res := &recorded{traced: &traced{}}
	rd, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	rec, err := Record(context.Background(), argv, TraceOptions{
		Events: func(e Event) {
			mu.Lock()
			res.events = append(res.events, e)
			mu.Unlock()
		},
		Packets: func(p *capture.Packet) {
			if p.LinkType != layers.LinkTypeLinuxSLL2 {
				t.Errorf("packet link type %v, want LINUX_SLL2", p.LinkType)
			}
			tp, ok := parseSLL2TCP(p.Data, p.Length)
			if !ok {
				t.Errorf("packet %x (length %d) is not TCP in LINUX_SLL2", p.Data, p.Length)
				return
			}
			tp.t = p.Timestamp
			mu.Lock()
			kernelPkts = append(kernelPkts, tp)
			mu.Unlock()
		},
		Stdout: w,
	})
	w.Close()
	if err != nil {
		rd.Close()
	}
	skipOrFail(t, err)
	out := make(chan []string)
	go func() {
		b, _ := io.ReadAll(rd)
		rd.Close()
		out <- strings.Split(strings.TrimSpace(string(b)), "\n")
	}()
	res.code, res.err = rec.Wait()
	res.lines = <-out
	res.rec = rec
	close(stop)
	n := <-made
	ln.Close()
	wirePkts = stopCapture()
	st := rec.Stats()
	t.Logf("exit %d, err %v; stats %+v; %d packets recorded, %d captured; the test made %d connections of its own",
		res.code, res.err, st, len(kernelPkts), len(wirePkts), n)
	if res.err != nil || res.code != 0 && res.code != 3 {
		t.Fatalf("Wait = %d, %v", res.code, res.err)
	}
	if st.Packets != uint64(len(kernelPkts)) || st.PacketsDropped != 0 {
		t.Errorf("stats say %d packets (%d dropped), %d delivered", st.Packets, st.PacketsDropped, len(kernelPkts))
	}
	return res, kernelPkts, wirePkts, foreign
}

// parseSLL2TCP decodes a LINUX_SLL2 frame with IPv4 or IPv6 and TCP. The
// payload length comes from the IP header: the recorder keeps only the
// first PacketSnapLen bytes; length is the frame's length on the wire.
func parseSLL2TCP(b []byte, length int) (p tcpPacket, ok bool) {
	if len(b) < 20 {
		return p, false
	}
	var src, dst netip.Addr
	var tcp []byte
	var tcpLen int
	ip := b[20:]
	switch binary.BigEndian.Uint16(b[0:2]) {
	case 0x0800:
		if len(ip) < 20 || ip[9] != 6 {
			return p, false
		}
		ihl := int(ip[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		if len(ip) < ihl+20 || total != length-20 {
			return p, false
		}
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		tcp, tcpLen = ip[ihl:], total-ihl
	case 0x86dd:
		if len(ip) < 60 || ip[6] != 6 {
			return p, false
		}
		payload := int(binary.BigEndian.Uint16(ip[4:6]))
		if payload+40 != length-20 {
			return p, false
		}
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		tcp, tcpLen = ip[40:], payload
	default:
		return p, false
	}
	p.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(tcp[0:2]))
	p.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tcp[2:4]))
	p.flags = tcp[13]
	thl := int(tcp[12]>>4) * 4
	p.payload = tcpLen - thl
	p.headers = len(ip) - len(tcp) + thl
	if thl <= len(tcp) {
		p.data = bytes.Clone(tcp[thl:])
	}
	return p, true
}

// payloads checks, in order, the payload bytes the recorder kept of each
// segment from src to dst against those a packet socket captured whole:
// the first PacketSnapLen bytes from the IP header, headers and payload
// (TCP sends its payload from page fragments, which the kernel side reads
// apart from the headers).
func checkPayloads(t *testing.T, kernel, wire []tcpPacket, src, dst netip.AddrPort) {
	t.Helper()
	var got, want []tcpPacket
	for _, p := range kernel {
		if p.src == src && p.dst == dst && p.payload > 0 {
			got = append(got, p)
		}
	}
	for _, p := range wire {
		if p.src == src && p.dst == dst && p.payload > 0 {
			want = append(want, p)
		}
	}
	for i := range min(len(got), len(want)) {
		n := min(got[i].payload, PacketSnapLen-got[i].headers)
		if len(got[i].data) != n || !bytes.HasPrefix(want[i].data, got[i].data) {
			t.Errorf("%v > %v segment %d (%d payload bytes): recorded %d bytes %q, want the first %d of %q",
				src, dst, i, got[i].payload, len(got[i].data), got[i].data, n, want[i].data)
		}
	}
}

// segments lists a conversation's segments from src, as flags and payload
// lengths, in order.
func segments(pkts []tcpPacket, src, dst netip.AddrPort) []string {
	var out []string
	for _, p := range pkts {
		if p.src == src && p.dst == dst {
			out = append(out, fmt.Sprintf("%#02x/%d", p.flags, p.payload))
		}
	}
	return out
}

// ipv6Pair is a Python program with one IPv6 loopback connection carrying
// 300 bytes, more than PacketSnapLen.
const ipv6Pair = `
import socket
s = socket.socket(socket.AF_INET6); s.bind(("::1", 0)); s.listen()
c = socket.create_connection(s.getsockname()[:2]); a, _ = s.accept()
c.sendall(b"x" * 300); n = 0
while n < 300: n += len(a.recv(1000))
c.close(); a.close(); s.close()
`

func TestRecordPackets(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"blocking", nil},
		{"nonblocking", nil},
		{"threaded", []string{"4"}},
		// Payloads longer than PacketSnapLen: the wire length is kept.
		{"conns", []string{"20", "data"}},
		{"ipv6", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var argv []string
			if tc.name == "ipv6" {
				py, err := exec.LookPath("python3")
				if err != nil {
					t.Skip("python3 is not installed")
				}
				argv = []string{py, "-c", ipv6Pair}
			} else {
				argv = append([]string{testProgram(t, tc.name)}, tc.args...)
			}
			r, kernelPkts, wirePkts, foreign := recordWithPackets(t, argv)

			// The program's connections, from its calls.
			conns := make(map[[2]netip.AddrPort]bool)
			for _, e := range r.events {
				if (e.Call == Connect || e.Call == Accept) && e.Local.Port() != 0 && e.Remote.Port() != 0 {
					conns[[2]netip.AddrPort{e.Local, e.Remote}] = true
				}
			}
			if len(conns) == 0 {
				t.Fatal("no connection in the calls")
			}
			for c := range conns {
				for _, dir := range [][2]netip.AddrPort{{c[0], c[1]}, {c[1], c[0]}} {
					got, want := segments(kernelPkts, dir[0], dir[1]), segments(wirePkts, dir[0], dir[1])
					if len(want) == 0 || !slices.Equal(got, want) {
						t.Errorf("%v > %v: recorded %v, captured %v", dir[0], dir[1], got, want)
					}
					checkPayloads(t, kernelPkts, wirePkts, dir[0], dir[1])
				}
			}
			seenForeign := 0
			for _, p := range wirePkts {
				if p.src == foreign || p.dst == foreign {
					seenForeign++
				}
			}
			if seenForeign == 0 {
				t.Errorf("the AF_PACKET capture saw none of the test's own connections")
			}
			// The kernel side keeps the segments of the program's ports
			// (user space then keeps those of its connections): one of
			// the test's connections is recorded only when its client
			// port is also one of the program's, which Linux allows
			// towards another server.
			programPorts := make(map[uint16]bool)
			for _, e := range r.events {
				programPorts[e.Local.Port()] = true
			}
			shared := 0
			for _, p := range kernelPkts {
				client := p.src
				if p.src == foreign {
					client = p.dst
				} else if p.dst != foreign {
					continue
				}
				if !programPorts[client.Port()] {
					t.Errorf("recorded a segment of a connection the program did not make, on a port it never used: %v > %v", p.src, p.dst)
				}
				shared++
			}
			if shared > 0 {
				t.Logf("%d segments of the test's own connections recorded: their client port was also the program's", shared)
			}
			// One clock: a blocking connect's SYN leaves inside the call.
			for _, e := range r.events {
				if e.Call != Connect || e.Errno != 0 || e.Local.Port() == 0 {
					continue
				}
				for _, p := range kernelPkts {
					if p.src == e.Local && p.dst == e.Remote && p.flags&(tcpSYN|tcpACK) == tcpSYN {
						before(t, e.Enter, "connect's entry", p.t, "its SYN")
						before(t, p.t, "the SYN", e.Exit, "connect's return")
						break
					}
				}
			}
		})
	}
}

// TestRecordPIDPacketsOfOpenSockets: recording a running process captures
// the segments of the sockets it already holds, before any call of it
// names them: here a server listening since before the recording, to
// which the test connects. The handshake is over before the server's
// accept() returns, so only the ports marked at the start (markOwnPorts)
// can have let its SYN through.
func TestRecordPIDPacketsOfOpenSockets(t *testing.T) {
	requireBPF(t)
	cmd, srv := startServer(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	syns := make(chan netip.AddrPort, 16)
	rec, err := RecordPID(ctx, cmd.Process.Pid, TraceOptions{
		Packets: func(p *capture.Packet) {
			tp, ok := parseSLL2TCP(p.Data, p.Length)
			if ok && tp.dst == srv && tp.flags&(tcpSYN|tcpACK) == tcpSYN {
				select {
				case syns <- tp.src:
				default:
				}
			}
		},
	})
	skipOrFail(t, err)
	c, err := net.Dial("tcp4", srv.String())
	if err != nil {
		t.Fatal(err)
	}
	client := c.LocalAddr().(*net.TCPAddr).AddrPort()
	io.ReadAll(c) // "hi", then the server closes
	c.Close()
	select {
	case from := <-syns:
		if from != client {
			t.Errorf("SYN from %v, want the test's %v", from, client)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("no SYN to the server's open listener %v was recorded (stats %+v)", srv, rec.Stats())
	}
	cancel()
	rec.Wait()
}

// TestOwnPorts reads a /proc/net/tcp table as Linux 6.18 writes it
// (copied from one, inodes changed): only the given inodes' local ports.
func TestOwnPorts(t *testing.T) {
	const table = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:9CE7 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0100007F:A1F0 0100007F:9CE7 01 00000000:00000000 00:00000000 00000000     0        0 1002 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:9CE7 0100007F:A1F0 01 00000000:00000000 00:00000000 00000000     0        0 1003 1 0000000000000000 20 4 30 10 -1
   3: 0100007F:B000 0100007F:0050 06 00000000:00000000 03:00001770 00000000     0        0 0 0 0000000000000000
garbage
`
	f, err := os.CreateTemp(t.TempDir(), "tcp")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(table)
	f.Seek(0, io.SeekStart)
	got, listening, err := ownPorts(f, map[uint64]bool{1001: true, 1002: true, 0: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint16{40167}; !slices.Equal(listening, want) {
		t.Errorf("ownPorts' listening = %v, want %v", listening, want)
	}
	// 0x9CE7 = 40167 (the listener), 0xA1F0 = 41456 (a client); the
	// TIME_WAIT line's inode 0 belongs to no process.
	if want := []uint16{40167, 41456}; !slices.Equal(got, want) {
		t.Errorf("ownPorts = %v, want %v", got, want)
	}
}

// FuzzHandlePacket: a packet record of any length or content (the kernel
// side writes them, but a reader must not trust a length) becomes a
// LINUX_SLL2 frame within the record's bytes, or nothing (a record shorter
// than the kernel side's whole one). Run with -race too: checkptr then
// checks the cast.
func FuzzHandlePacket(f *testing.F) {
	rec := make([]byte, packetRecordHead+PacketSnapLen)
	binary.NativeEndian.PutUint32(rec[16:20], recPacket)
	binary.NativeEndian.PutUint16(rec[38:40], 60) // cap_len
	f.Add(rec)
	f.Add(rec[:packetRecordHead+10])
	f.Add(rec[:packetRecordHead-1])
	f.Fuzz(func(t *testing.T, raw []byte) {
		// The ring's records are 8-byte aligned: so is the copy.
		buf := make([]uint64, (len(raw)+7)/8)
		aligned := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(buf))), len(buf)*8)[:len(raw)]
		copy(aligned, raw)
		r := &Recorder{pktBuf: make([]byte, 0, capture.SLL2HeaderLen+PacketSnapLen)}
		got := -1
		r.opts.Packets = func(p *capture.Packet) {
			got = len(p.Data)
			if p.LinkType != layers.LinkTypeLinuxSLL2 || len(p.Data) < capture.SLL2HeaderLen {
				t.Errorf("frame %x", p.Data)
			}
		}
		r.handlePacket(aligned)
		if len(raw) < packetRecordSize && got != -1 {
			t.Errorf("a %d-byte record gave a frame", len(raw))
		}
		if got > capture.SLL2HeaderLen+max(0, len(raw)-packetRecordHead) {
			t.Errorf("a %d-byte record gave a %d-byte frame", len(raw), got)
		}
	})
}

// FuzzOwnPorts: any /proc/net/tcp text is read without a panic.
func FuzzOwnPorts(f *testing.F) {
	f.Add("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:9CE7 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0 100 0 0 10 0\n")
	f.Add("x\n0: : : : : : : : : 1001\n")
	f.Fuzz(func(t *testing.T, text string) {
		p := filepath.Join(t.TempDir(), "tcp")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		ports, _, _ := ownPorts(fh, map[uint64]bool{1001: true})
		for _, port := range ports {
			if port == 0 {
				t.Errorf("port 0 in %v", ports)
			}
		}
	})
}

// pipedPython is python3's path and two pipes for a Python program
// recorded by the test: its stdin (the test writes to stdinW) and its
// stdout (the test reads outR). The test's ends are closed at its end.
func pipedPython(t *testing.T) (py string, stdinR, stdinW, outR, outW *os.File) {
	t.Helper()
	requireBPF(t)
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	if stdinR, stdinW, err = os.Pipe(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdinW.Close() })
	if outR, outW, err = os.Pipe(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { outR.Close() })
	return py, stdinR, stdinW, outR, outW
}

// closedPorts is a Python program with one loopback connection to itself:
// the client closes first (the active closer), then the accepted end, then
// the listener (bound to port 0: Linux releases such a port, clearing
// skc_num, before the tracepoint reports CLOSE). It prints the client's
// and the listener's ports and waits for its stdin to close.
const closedPorts = `
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(s.getsockname()); a, _ = s.accept()
cport, sport = c.getsockname()[1], s.getsockname()[1]
c.close(); a.recv(10); a.close(); s.close()
print(cport, sport, flush=True)
sys.stdin.read()
`

// TestCapturePortRelease: once a connection of the program has closed, its
// port is let go after the linger (set_state), not kept marked for the
// rest of the recording; so is a listener's, once it and its accepted
// connection have closed, and its entry in listeners goes with it. The
// ports are read from the maps while the program waits, once the kernel
// has reported every socket closed.
func TestCapturePortRelease(t *testing.T) {
	py, stdinR, stdinW, outR, outW := pipedPython(t)
	// The maps are read while the reader waits in the callback of the
	// third CLOSE (the client, the accepted end, the listener): the
	// recorder cannot end and free them meanwhile, and the race detector
	// sees the reads happen before it does.
	closed, checked := make(chan struct{}), make(chan struct{})
	var once sync.Once
	check := func() { once.Do(func() { close(checked) }) }
	n := 0 // the reader goroutine's
	rec, err := Record(context.Background(), []string{py, "-c", closedPorts}, TraceOptions{
		Stdin: stdinR, Stdout: outW,
		Packets: func(*capture.Packet) {},
		Kernel: func(k KernelEvent) {
			if k.Kind == KernelState && k.To == TCPClose {
				if n++; n == 3 {
					close(closed)
					<-checked
				}
			}
		},
	})
	stdinR.Close()
	outW.Close()
	skipOrFail(t, err)
	defer rec.Wait()
	defer stdinW.Close()
	defer check()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("the program printed %q: %v", line, err)
	}
	var cport, sport uint16
	if _, err := fmt.Sscan(line, &cport, &sport); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the kernel did not report the three sockets closed")
	}
	var client, listener recorderPortMark
	if err := rec.objs.Ports.Lookup(uint32(cport), &client); err != nil {
		t.Fatal(err)
	}
	if err := rec.objs.Ports.Lookup(uint32(sport), &listener); err != nil {
		t.Fatal(err)
	}
	if client.Owner == 0 || client.UntilNs == 0 || client.Refs != 0 {
		t.Errorf("client port %d after its connection closed: %+v, want marked until a time, held by none", cport, client)
	}
	if listener.Owner == 0 || listener.UntilNs == 0 || listener.Refs != 0 {
		t.Errorf("listener port %d after it and its connection closed: %+v, want marked until a time, held by none", sport, listener)
	}
	var owner uint32
	if err := rec.objs.Listeners.Lookup(sport, &owner); !errors.Is(err, ebpf.ErrKeyNotExist) {
		t.Errorf("listeners still holds closed listener port %d: owner %d, %v", sport, owner, err)
	}
}

// TestRecordPIDListenerPortKept: the port of a listener the process had
// before the recording stays marked when one of its accepted connections
// closes, as a listener's port registered by listen() does: the handshakes
// of its next connections are recorded before accept() returns. (The Go
// server closes first: its ends linger 61 s when let go.)
func TestRecordPIDListenerPortKept(t *testing.T) {
	requireBPF(t)
	cmd, srv := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	closed := make(chan struct{}, 8)
	rec, err := RecordPID(ctx, cmd.Process.Pid, TraceOptions{
		Packets: func(*capture.Packet) {},
		Kernel: func(k KernelEvent) {
			if k.Kind == KernelState && k.To == TCPClose && k.PID == cmd.Process.Pid {
				closed <- struct{}{}
			}
		},
	})
	skipOrFail(t, err)
	defer rec.Wait()
	defer cancel()
	c, err := net.Dial("tcp4", srv.String())
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(c) // "hi", then the server closes
	c.Close()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the kernel did not report the server's end of the connection closed")
	}
	var m recorderPortMark
	if err := rec.objs.Ports.Lookup(uint32(srv.Port()), &m); err != nil {
		t.Fatal(err)
	}
	if m.Owner == 0 || m.UntilNs != 0 {
		t.Errorf("listener port %d after an accepted connection closed: %+v, want marked for good", srv.Port(), m)
	}
}

// quitter connects to argv[1], writes, closes and exits at once.
const quitter = `
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
c = socket.create_connection((host, int(port))); c.sendall(b"bye"); c.close()
`

// TestRecordPacketsAfterExit: the segments that come for a connection once
// its program has closed it and exited (the peer's FIN, the last ACK) are
// still captured: the reader lingers (captureLinger), and the port stays
// marked. The test's server closes its end only once the program is gone.
func TestRecordPacketsAfterExit(t *testing.T) {
	requireBPF(t)
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	old := captureLinger
	captureLinger = 2 * time.Second // the server's close must fit in it on a loaded machine
	defer func() { captureLinger = old }()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pids := make(chan int, 1)
	var mu sync.Mutex
	var pkts []tcpPacket
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		io.ReadAll(c) // to the program's FIN
		pid := <-pids
		for {
			// Wait until the program is gone, then close.
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		served <- c.Close()
	}()
	var once sync.Once
	rec, err := Record(context.Background(), []string{py, "-c", quitter, ln.Addr().String()}, TraceOptions{
		Events: func(e Event) { once.Do(func() { pids <- e.PID }) },
		Packets: func(p *capture.Packet) {
			if tp, ok := parseSLL2TCP(p.Data, p.Length); ok {
				mu.Lock()
				pkts = append(pkts, tp)
				mu.Unlock()
			}
		},
	})
	skipOrFail(t, err)
	if code, err := rec.Wait(); code != 0 || err != nil {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	srv := ln.Addr().(*net.TCPAddr).AddrPort()
	var fins []string
	for _, p := range pkts {
		if p.flags&tcpFIN != 0 {
			fins = append(fins, p.src.String())
		}
	}
	if len(fins) != 2 || fins[1] != srv.String() {
		t.Errorf("FINs from %v; want the program's, then the server's (%v), sent after the program exited", fins, srv)
	}
}

// startServer starts testdata/server, which listens before anything
// records it, and returns it and its address; the test's cleanup kills it.
func startServer(t *testing.T) (*exec.Cmd, netip.AddrPort) {
	t.Helper()
	cmd := exec.Command(testProgram(t, "server"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, serverAddr(t, stdout)
}

// TestRecordPacketsLocalPortOnly: on a device other than loopback, a
// segment is the program's by its local port only (the source on its way
// out, the destination on its way in). Another program's connection to a
// remote server whose port number is the one the traced program listens
// on is not recorded. All of it happens in a network namespace of the
// test's own, with a veth pair to a second one, where the remote server
// listens.
func TestRecordPacketsLocalPortOnly(t *testing.T) {
	requireBPF(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command (iproute2) is needed to make network namespaces")
	}
	suffix := strconv.Itoa(os.Getpid() % 100000)
	nsA, nsB, dev := "st-ca-"+suffix, "st-cb-"+suffix, "vsc"+suffix
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
	ip("link", "add", dev, "netns", nsA, "type", "veth", "peer", "name", dev, "netns", nsB)
	ip("-n", nsA, "addr", "add", "10.232.0.1/24", "dev", dev)
	ip("-n", nsB, "addr", "add", "10.232.0.2/24", "dev", dev)
	ip("-n", nsA, "link", "set", dev, "up")
	ip("-n", nsA, "link", "set", "lo", "up")
	ip("-n", nsB, "link", "set", dev, "up")

	// The traced server, in A, listening on its loopback.
	var mu sync.Mutex
	var pkts []tcpPacket
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var rec *Recorder
	server := testProgram(t, "server")
	nsErr := slowlink.InNamespace(nsA, func() (err error) {
		rec, err = Record(ctx, []string{server}, TraceOptions{
			Stdout: pw,
			Packets: func(p *capture.Packet) {
				if tp, ok := parseSLL2TCP(p.Data, p.Length); ok {
					mu.Lock()
					pkts = append(pkts, tp)
					mu.Unlock()
				}
			},
		})
		return err
	})
	pw.Close()
	skipOrFail(t, nsErr)
	defer rec.Wait()
	defer cancel()
	srv := serverAddr(t, pr)

	// Another program's server in B on the same port number, and a
	// client in A (untraced) that talks to it over the veth pair.
	remote := netip.AddrPortFrom(netip.MustParseAddr("10.232.0.2"), srv.Port())
	var ln net.Listener
	if err := slowlink.InNamespace(nsB, func() (err error) { ln, err = net.Listen("tcp4", remote.String()); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("hello"))
			c.Close()
		}
	}()
	dial := func(addr string) {
		t.Helper()
		var c net.Conn
		if err := slowlink.InNamespace(nsA, func() (err error) { c, err = net.DialTimeout("tcp4", addr, 5*time.Second); return err }); err != nil {
			t.Fatal(err)
		}
		io.ReadAll(c)
		c.Close()
	}
	dial(remote.String())
	// Then a connection to the traced server: its segments come after
	// the other's in the ring, so once they are read, so would the
	// other's have been.
	dial(srv.String())
	waitFor(t, "the segments of a connection to the traced server", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pkts {
			if p.dst == srv && p.flags&tcpSYN != 0 {
				return true
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	for _, p := range pkts {
		if p.src == remote || p.dst == remote {
			t.Errorf("recorded %v > %v: another program's connection to a remote port the traced program listens on", p.src, p.dst)
		}
	}
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 30 s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serverAddr reads testdata/server's first line, "server ADDR".
func serverAddr(t *testing.T, r io.Reader) netip.AddrPort {
	t.Helper()
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	srv, err := netip.ParseAddrPort(strings.TrimSpace(strings.TrimPrefix(line, "server ")))
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return srv
}

// sharedPort: two accepted connections share their listener's port. It
// prints the port; when the test says so, the listener and the first
// connection close, and when it says so again, the second. The client ends close first, so that each accepted end closes
// passively and reaches CLOSE within its close().
const sharedPort = `
import socket, sys
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen()
c1 = socket.create_connection(ls.getsockname()); a1, _ = ls.accept()
c2 = socket.create_connection(ls.getsockname()); a2, _ = ls.accept()
print(ls.getsockname()[1], flush=True)
sys.stdin.readline()
ls.close(); c1.close(); a1.recv(10); a1.close()
sys.stdin.readline()
c2.close(); a2.recv(10); a2.close()
sys.stdin.read()
`

// TestCapturePortShared: a port two of the program's sockets hold stays
// marked while either lives. The listener and one accepted connection
// close; the other accepted connection, on the same local port, lives on
// and must not lose the segments it receives to the closed ones' linger
// (before, the first close started it, and once it ran out the survivor's
// received segments were dropped until it next sent or called). Once the
// survivor closes too, the port lingers. Read from the ports map while
// the reader waits in the callback of the CLOSE that each step ends with.
func TestCapturePortShared(t *testing.T) {
	py, stdinR, stdinW, outR, outW := pipedPython(t)
	port := make(chan uint16, 1)
	type step struct{ closed, checked chan struct{} }
	steps := []step{{make(chan struct{}), make(chan struct{})}, {make(chan struct{}), make(chan struct{})}}
	var once [2]sync.Once
	check := func(i int) { once[i].Do(func() { close(steps[i].checked) }) }
	var p uint16
	closes := 0 // the reader goroutine's: CLOSEs of sockets on the port
	rec, err := Record(context.Background(), []string{py, "-c", sharedPort}, TraceOptions{
		Stdin: stdinR, Stdout: outW,
		Packets: func(*capture.Packet) {},
		Kernel: func(k KernelEvent) {
			if k.Kind != KernelState || k.To != TCPClose {
				return
			}
			if p == 0 {
				// The program closes nothing before the test has
				// read the port and sent it here.
				p = <-port
			}
			if k.Local.Port() != p {
				return
			}
			// The listener and a1, then a2.
			switch closes++; closes {
			case 2:
				close(steps[0].closed)
				<-steps[0].checked
			case 3:
				close(steps[1].closed)
				<-steps[1].checked
			}
		},
	})
	stdinR.Close()
	outW.Close()
	skipOrFail(t, err)
	defer rec.Wait()
	defer close(port) // never leave the reader waiting for it
	defer stdinW.Close()
	defer check(1)
	defer check(0)
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("the program printed %q: %v", line, err)
	}
	var lport uint16
	if _, err := fmt.Sscan(line, &lport); err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	port <- lport
	if _, err := io.WriteString(stdinW, "\n"); err != nil {
		t.Fatal(err)
	}
	wait := func(i int, what string) recorderPortMark {
		select {
		case <-steps[i].closed:
		case <-time.After(30 * time.Second):
			t.Fatalf("the kernel did not report %s closed", what)
		}
		var m recorderPortMark
		if err := rec.objs.Ports.Lookup(uint32(lport), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := wait(0, "the listener and the first connection"); m.Owner == 0 || m.UntilNs != 0 || m.Refs != 1 {
		t.Errorf("port %d with the second accepted connection open: %+v, want marked for good, held by 1", lport, m)
	}
	check(0)
	if _, err := io.WriteString(stdinW, "\n"); err != nil {
		t.Fatal(err)
	}
	if m := wait(1, "the second connection"); m.UntilNs == 0 || m.Refs != 0 {
		t.Errorf("port %d after every socket on it closed: %+v, want marked until a time, held by none", lport, m)
	}
}
