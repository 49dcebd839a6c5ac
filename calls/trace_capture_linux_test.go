//go:build linux && (amd64 || arm64)

package calls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/capture/filter"
)

// The causality tests capture on lo with the project's own TPACKET_V3 ring
// (capture.OpenLive): a 32 MiB ring, kernel timestamps taken when the frame
// reaches the packet socket (the clock events use), the loopback's outgoing
// copies dropped in the kernel, and a Stop that drains what was queued.
//
// An earlier helper read a plain AF_PACKET socket with SO_TIMESTAMPNS and
// stopped at the first read after "quit": on a loaded machine the frames
// still queued in its 212 KiB receive buffer were thrown away (or never fit
// in it beside other tests' loopback traffic), and TestTraceNonBlocking
// failed with "no SYN ... in 0 packets".

type tcpPacket struct {
	t        time.Time
	src, dst netip.AddrPort
	flags    uint8 // FIN 0x01, SYN 0x02, RST 0x04, ACK 0x10
	payload  int
	// headers is the IP and TCP headers' length; data the payload bytes
	// the capture kept (up to its snap length).
	headers int
	data    []byte
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// captureLoopback starts capturing TCP on lo; stop ends it, drains the
// ring and returns the packets. It skips the test when AF_PACKET is not
// available (no CAP_NET_RAW).
func captureLoopback(t *testing.T) (stop func() []tcpPacket) {
	t.Helper()
	prog, err := filter.Compile("tcp", layers.LinkTypeEthernet, capture.DefaultSnapLen)
	if err != nil {
		t.Fatalf("compile filter: %v", err)
	}
	src, err := capture.OpenLive("lo", capture.LiveOptions{Filter: prog, SnapLen: 256})
	if errors.Is(err, capture.ErrPermission) {
		t.Skipf("no live capture here: %v", err)
	}
	if err != nil {
		t.Fatalf("capture on lo: %v", err)
	}
	var pkts []tcpPacket
	done := make(chan error, 1)
	go func() {
		var p capture.Packet
		for {
			if err := src.ReadPacket(&p); err != nil {
				if err == io.EOF {
					err = nil
				}
				done <- err
				return
			}
			if tp, ok := parseTCPFrame(p.Data); ok {
				tp.t = p.Timestamp
				pkts = append(pkts, tp)
			}
		}
	}()
	return func() []tcpPacket {
		if err := src.Stop(); err != nil {
			t.Errorf("stop capture: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("capture on lo: %v", err)
		}
		if st, err := src.Stats(); err == nil && st.Dropped > 0 {
			// Not a failure of the program under test, but the packets
			// the test looks for may be among them: say so.
			t.Logf("capture on lo dropped %d of %d frames", st.Dropped, st.Received)
		}
		src.Close()
		return pkts
	}
}

// parseTCPFrame decodes an Ethernet frame (lo has zero MACs) with IPv4 or
// IPv6 and TCP.
func parseTCPFrame(b []byte) (p tcpPacket, ok bool) {
	if len(b) < 14 {
		return p, false
	}
	var src, dst netip.Addr
	var tcp []byte
	var tcpLen int
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
		tcp, tcpLen = ip[ihl:min(total, len(ip))], total-ihl
	case 0x86dd:
		ip := b[14:]
		if len(ip) < 60 || ip[6] != 6 {
			return p, false
		}
		src, dst = netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		tcpLen = int(binary.BigEndian.Uint16(ip[4:6]))
		tcp = ip[40 : 40+min(tcpLen, len(ip)-40)]
	default:
		return p, false
	}
	if len(tcp) < 20 {
		return p, false
	}
	p.src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(tcp[0:2]))
	p.dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(tcp[2:4]))
	p.flags = tcp[13]
	// From the IP header's length: the capture's snap length may have cut
	// the payload.
	thl := int(tcp[12]>>4) * 4
	p.payload = tcpLen - thl
	p.headers = len(b) - 14 - len(tcp) + thl
	if thl <= len(tcp) {
		p.data = bytes.Clone(tcp[thl:])
	}
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
