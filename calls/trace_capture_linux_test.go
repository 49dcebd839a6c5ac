//go:build linux && (amd64 || arm64)

package calls

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A minimal loopback capture for the causality tests: AF_PACKET on lo
// with kernel timestamps (CLOCK_REALTIME, the clock events use). It keeps
// one copy of each packet (loopback shows two), and only TCP.

type tcpPacket struct {
	t        time.Time
	src, dst netip.AddrPort
	flags    uint8 // FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10
	payload  int
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// captureLoopback starts capturing; stop ends it and returns the packets.
// It skips the test when AF_PACKET is not available.
func captureLoopback(t *testing.T) (stop func() []tcpPacket) {
	t.Helper()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no loopback interface: %v", err)
	}
	proto := int(htons(syscall.ETH_P_ALL))
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, proto)
	if err != nil {
		t.Skipf("AF_PACKET socket: %v", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ALL), Ifindex: lo.Index}); err != nil {
		syscall.Close(fd)
		t.Fatalf("bind AF_PACKET to lo: %v", err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1); err != nil {
		syscall.Close(fd)
		t.Fatalf("SO_TIMESTAMPNS: %v", err)
	}
	// The kernel turns receive timestamps on for everyone through
	// deferred work (netstamp_needed_key); until then AF_PACKET stamps a
	// packet when it is read, late. Give that a moment.
	time.Sleep(50 * time.Millisecond)
	tv := syscall.Timeval{Usec: 50000}
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)

	var mu sync.Mutex
	var pkts []tcpPacket
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		oob := make([]byte, 128)
		for {
			select {
			case <-quit:
				return
			default:
			}
			n, oobn, _, from, err := syscall.Recvmsg(fd, buf, oob, 0)
			if err != nil {
				continue // timeout: check quit
			}
			if ll, ok := from.(*syscall.SockaddrLinklayer); ok && ll.Pkttype == 4 /* PACKET_OUTGOING */ {
				continue
			}
			p, ok := parseTCPFrame(buf[:n])
			if !ok {
				continue
			}
			msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SO_TIMESTAMPNS && len(m.Data) >= 16 {
					sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
					nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
					p.t = time.Unix(sec, nsec)
				}
			}
			mu.Lock()
			pkts = append(pkts, p)
			mu.Unlock()
		}
	}()
	return func() []tcpPacket {
		close(quit)
		<-done
		syscall.Close(fd)
		mu.Lock()
		defer mu.Unlock()
		return pkts
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// parseTCPFrame decodes an Ethernet frame (lo has zero MACs) with IPv4 or
// IPv6 and TCP.
func parseTCPFrame(b []byte) (p tcpPacket, ok bool) {
	if len(b) < 14 {
		return p, false
	}
	var src, dst netip.Addr
	var tcp []byte
	switch binary.BigEndian.Uint16(b[12:14]) {
	case 0x0800:
		ip := b[14:]
		if len(ip) < 20 || ip[9] != 6 {
			return p, false
		}
		ihl := int(ip[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(ip[2:4]))
		if len(ip) < ihl+20 || total < ihl+20 {
			return p, false
		}
		src, dst = netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		tcp = ip[ihl:min(total, len(ip))]
	case 0x86dd:
		ip := b[14:]
		if len(ip) < 60 || ip[6] != 6 {
			return p, false
		}
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		tcp = ip[40 : 40+min(int(binary.BigEndian.Uint16(ip[4:6])), len(ip)-40)]
	default:
		return p, false
	}
	if len(tcp) < 20 {
		return p, false
	}
	p.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(tcp[0:2]))
	p.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tcp[2:4]))
	p.flags = tcp[13]
	p.payload = len(tcp) - int(tcp[12]>>4)*4
	return p, true
}

// conversation returns the packets between a and b, in order.
func conversation(pkts []tcpPacket, a, b netip.AddrPort) []tcpPacket {
	var out []tcpPacket
	for _, p := range pkts {
		if (p.src == a && p.dst == b) || (p.src == b && p.dst == a) {
			out = append(out, p)
		}
	}
	return out
}

// first returns the first packet from src with all of flags set and none
// of not.
func first(t *testing.T, pkts []tcpPacket, src netip.AddrPort, flags, not uint8, what string) tcpPacket {
	t.Helper()
	for _, p := range pkts {
		if p.src == src && p.flags&flags == flags && p.flags&not == 0 {
			return p
		}
	}
	t.Fatalf("no %s from %v in %d packets", what, src, len(pkts))
	return tcpPacket{}
}

// before asserts that a happened before b.
func before(t *testing.T, a time.Time, aName string, b time.Time, bName string) {
	t.Helper()
	if !a.Before(b) {
		t.Errorf("%s (%s) is not before %s (%s): %v", aName, a.Format("15:04:05.000000000"), bName, b.Format("15:04:05.000000000"), a.Sub(b))
	}
}
