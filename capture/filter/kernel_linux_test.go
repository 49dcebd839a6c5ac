package filter

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// attach installs prog on fd with SO_ATTACH_FILTER, where the kernel's
// classic BPF checker (sk_chk_filter) validates it.
func attach(fd int, prog []bpf.RawInstruction) error {
	filter := make([]unix.SockFilter, len(prog))
	for i, ins := range prog {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog)
}

// TestKernelAccepts attaches every program the tests compile to a UDP
// socket (no privilege needed) and, as root, to an AF_PACKET socket, the
// socket live capture uses.
func TestKernelAccepts(t *testing.T) {
	udp, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(udp)
	fds := []int{udp}
	if os.Geteuid() == 0 {
		// Protocol 0: the socket receives nothing, it only checks filters.
		pkt, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(pkt)
		fds = append(fds, pkt)
	} else {
		t.Log("not root: checking with a UDP socket only (AF_PACKET needs CAP_NET_RAW)")
	}

	// The checker must really be there: a jump past the end is refused.
	bad := []bpf.RawInstruction{{Op: opJEQ, Jt: 5, K: 1}, {Op: opRetK}}
	if err := attach(udp, bad); err == nil {
		t.Fatal("the kernel accepted a program jumping past its end; the test proves nothing")
	}
	// And it checks before it charges memory: a large bad program is
	// EINVAL, not ENOMEM, so ENOMEM below means the program passed.
	bigBad := make([]bpf.RawInstruction, 3000)
	for i := range bigBad {
		bigBad[i] = bpf.RawInstruction{Op: opLdW, K: 14}
	}
	bigBad[0] = bpf.RawInstruction{Op: opJEQ, Jt: 255, K: 1}
	bigBad[len(bigBad)-2] = bpf.RawInstruction{Op: 0xff} // no such opcode
	bigBad[len(bigBad)-1] = bpf.RawInstruction{Op: opRetK}
	if err := attach(udp, bigBad); !errors.Is(err, unix.EINVAL) {
		t.Fatalf("a large invalid program gave %v, want EINVAL", err)
	}

	var progs [][]bpf.RawInstruction
	for _, lt := range linkTypes {
		for _, c := range readLibpcap(t, filepath.Join("testdata", "libpcap", lt.name+".txt")) {
			prog, err := Compile(c.expr, lt.lt, 262144)
			if err != nil {
				t.Fatalf("Compile(%q, %s): %v", c.expr, lt.name, err)
			}
			progs = append(progs, prog)
		}
	}
	for _, n := range []int{300, 500} {
		for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeNull} {
			prog, err := Compile(longExpr(n), lt, 262144)
			if err != nil {
				t.Fatal(err)
			}
			progs = append(progs, prog)
		}
	}
	prog, err := Compile("("+longExpr(300)+") and tcp port 80", layers.LinkTypeEthernet, 262144)
	if err != nil {
		t.Fatal(err)
	}
	progs = append(progs, prog)
	charged := 0
	for _, fd := range fds {
		for _, prog := range progs {
			err := attach(fd, prog)
			if errors.Is(err, unix.ENOMEM) {
				// The kernel checks the program (EINVAL if bad) before
				// charging its memory to the socket, which fails when
				// it exceeds net.core.optmem_max. That is a limit of
				// this machine's settings, not of the program.
				charged++
				continue
			}
			if err != nil {
				t.Fatalf("kernel refused a %d-instruction program: %v\n%s", len(prog), err, dump(prog[:min(len(prog), 40)]))
			}
		}
	}
	t.Logf("%d programs accepted on %d sockets; %d of them checked but over net.core.optmem_max", len(progs), len(fds), charged)
}

// TestKernelFilters runs a compiled filter in the kernel on loopback: of
// UDP datagrams sent to two ports, an AF_PACKET socket with "udp dst port
// P" attached must see only those to P. Needs root.
func TestKernelFilters(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs CAP_NET_RAW to open an AF_PACKET socket; run as root")
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no loopback interface:", err)
	}
	// Two ports nobody listens on; the datagrams are dropped after capture.
	l1, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	l2, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer l1.Close()
	defer l2.Close()
	want := l1.LocalAddr().(*net.UDPAddr).Port
	other := l2.LocalAddr().(*net.UDPAddr).Port

	prog, err := Compile("udp dst port "+itoa(want)+" or (udp dst port "+itoa(other)+" and ip6)", layers.LinkTypeEthernet, 262144)
	if err != nil {
		t.Fatal(err)
	}
	proto := htons(unix.ETH_P_ALL)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// Filter first, then bind, so nothing unfiltered is queued.
	if err := attach(fd, prog); err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: lo.Index}); err != nil {
		t.Fatal(err)
	}
	tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		l2.WriteToUDP([]byte("other"), l2.LocalAddr().(*net.UDPAddr))
		l1.WriteToUDP([]byte("want"), l1.LocalAddr().(*net.UDPAddr))
	}
	got := 0
	buf := make([]byte, 2048)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			break // timeout: nothing more passed the filter
		}
		if n < 14+20+8 || binary.BigEndian.Uint16(buf[12:]) != etherIPv4 {
			t.Fatalf("kernel passed a frame the filter rejects: % x", buf[:min(n, 64)])
		}
		ihl := int(buf[14]&0xf) * 4
		if dport := int(binary.BigEndian.Uint16(buf[14+ihl+2:])); dport != want {
			t.Fatalf("kernel passed a datagram to port %d; filter wants %d", dport, want)
		}
		got++
	}
	// Loopback shows each datagram twice, outgoing and incoming.
	if got < 3 {
		t.Fatalf("saw %d datagrams to port %d, want at least 3", got, want)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
