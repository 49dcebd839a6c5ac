package decode

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

// Datagrams: UDP, and the ICMP and ICMPv6 errors that answer UDP or TCP.
// The hand-written fast path (parse.go) reads TCP only; what it returns
// ErrNotTCP for is read here through gopacket's layers, which is slower
// but fine for the few datagrams a socktrace run sees.

// Protocol is a datagram's protocol, by its IP protocol number.
type Protocol uint8

// The datagram protocols socktrace explains, and TCP as a protocol that
// an ICMP error can quote.
const (
	ProtoTCP    Protocol = 6
	ProtoUDP    Protocol = 17
	ProtoICMP   Protocol = 1
	ProtoICMPv6 Protocol = 58
)

// String is the protocol's name as JSON and the text report write it.
func (p Protocol) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMP:
		return "icmp"
	case ProtoICMPv6:
		return "icmp6"
	}
	return fmt.Sprintf("ip-proto-%d", uint8(p))
}

// Datagram is one UDP datagram or ICMP message.
type Datagram struct {
	Time     time.Time
	Protocol Protocol
	// Src and Dst are the addresses; their ports are zero for ICMP.
	Src, Dst netip.AddrPort
	// Len is a UDP datagram's payload length, from its header (the
	// captured part may be shorter).
	Len int
	// Payload is what was captured of a UDP payload; it aliases the
	// packet's data.
	Payload []byte
	// ICMPType and ICMPCode are an ICMP or ICMPv6 message's.
	ICMPType, ICMPCode uint8
	// Quoted says whether an ICMP error quoted the packet it answers;
	// then QuotedProtocol, QuotedSrc and QuotedDst are that packet's.
	Quoted               bool
	QuotedProtocol       Protocol
	QuotedSrc, QuotedDst netip.AddrPort
}

// ErrNotDatagram is returned by DatagramDecoder.Decode for a packet that
// is neither UDP nor ICMP (nor ICMPv6), or that it cannot read.
var ErrNotDatagram = errors.New("not a UDP datagram or ICMP message")

// DatagramDecoder reads datagrams. It keeps gopacket's layers between
// packets so that decoding allocates nothing per packet; it is not safe
// for concurrent use. The zero value is ready.
type DatagramDecoder struct {
	ip4     layers.IPv4
	ip6     layers.IPv6
	udp     layers.UDP
	icmp4   layers.ICMPv4
	icmp6   layers.ICMPv6
	payload gopacket.Payload
	parser4 *gopacket.DecodingLayerParser
	parser6 *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

func (dd *DatagramDecoder) init() {
	if dd.parser4 != nil {
		return
	}
	dd.parser4 = gopacket.NewDecodingLayerParser(layers.LayerTypeIPv4, &dd.ip4, &dd.udp, &dd.icmp4, &dd.payload)
	dd.parser6 = gopacket.NewDecodingLayerParser(layers.LayerTypeIPv6, &dd.ip6, &dd.udp, &dd.icmp6, &dd.payload)
	// A layer the parser has no decoder for (an IPv6 extension header,
	// ICMPv6's type-specific body) ends the walk without an error.
	dd.parser4.IgnoreUnsupported = true
	dd.parser6.IgnoreUnsupported = true
	dd.decoded = make([]gopacket.LayerType, 0, 4)
}

// Decode reads the UDP datagram or ICMP message in p into d. It returns
// ErrNotDatagram for anything else, including what it cannot read (a
// header cut short); a datagram whose payload the snap length cut is
// read, with Len saying how long it was.
func (dd *DatagramDecoder) Decode(p *capture.Packet, d *Datagram) error {
	dd.init()
	etherType, off, err := linkPayload(p.LinkType, p.Data)
	if err != nil || off > len(p.Data) {
		return ErrNotDatagram
	}
	data := p.Data[off:]
	var parser *gopacket.DecodingLayerParser
	switch etherType {
	case etherTypeIPv4:
		parser = dd.parser4
	case etherTypeIPv6:
		parser = dd.parser6
	default:
		return ErrNotDatagram
	}
	*d = Datagram{Time: p.Timestamp}
	// A truncated layer is an error; what was decoded before it is in
	// dd.decoded all the same.
	_ = parser.DecodeLayers(data, &dd.decoded)
	var src, dst netip.Addr
	ok := false
	for _, lt := range dd.decoded {
		switch lt {
		case layers.LayerTypeIPv4:
			if dd.ip4.Flags&layers.IPv4MoreFragments != 0 || dd.ip4.FragOffset != 0 {
				return ErrNotDatagram // a fragment: its headers may be elsewhere
			}
			src, _ = netip.AddrFromSlice(dd.ip4.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(dd.ip4.DstIP.To4())
		case layers.LayerTypeIPv6:
			src, _ = netip.AddrFromSlice(dd.ip6.SrcIP.To16())
			dst, _ = netip.AddrFromSlice(dd.ip6.DstIP.To16())
		case layers.LayerTypeUDP:
			d.Protocol = ProtoUDP
			d.Src = netip.AddrPortFrom(src, uint16(dd.udp.SrcPort))
			d.Dst = netip.AddrPortFrom(dst, uint16(dd.udp.DstPort))
			d.Len = max(int(dd.udp.Length)-8, 0)
			d.Payload = dd.udp.Payload
			if len(d.Payload) > d.Len {
				d.Payload = d.Payload[:d.Len] // Ethernet padding
			}
			ok = true
		case layers.LayerTypeICMPv4:
			d.Protocol = ProtoICMP
			d.Src, d.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
			d.ICMPType, d.ICMPCode = dd.icmp4.TypeCode.Type(), dd.icmp4.TypeCode.Code()
			if isICMPv4Error(d.ICMPType) {
				d.quote(dd.icmp4.Payload)
			}
			ok = true
		case layers.LayerTypeICMPv6:
			d.Protocol = ProtoICMPv6
			d.Src, d.Dst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
			d.ICMPType, d.ICMPCode = dd.icmp6.TypeCode.Type(), dd.icmp6.TypeCode.Code()
			// gopacket leaves the 4 bytes after the checksum (unused,
			// or the MTU) in the payload; the quoted packet follows.
			if d.ICMPType < 128 && len(dd.icmp6.Payload) >= 4 {
				d.quote(dd.icmp6.Payload[4:])
			}
			ok = true
		}
	}
	if !ok || !src.IsValid() || !dst.IsValid() {
		return ErrNotDatagram
	}
	return nil
}

// isICMPv4Error reports whether an ICMP type is an error that quotes the
// packet it answers: destination unreachable, source quench, redirect,
// time exceeded, parameter problem.
func isICMPv4Error(t uint8) bool {
	switch t {
	case layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4TypeSourceQuench, layers.ICMPv4TypeRedirect,
		layers.ICMPv4TypeTimeExceeded, layers.ICMPv4TypeParameterProblem:
		return true
	}
	return false
}

// quote reads the start of the packet an ICMP error quotes: its IP
// header and the first 8 bytes after it, which hold a UDP or TCP
// header's ports. It is read by hand, because gopacket's layers reject a
// header cut to 8 bytes, which is all RFC 792 promises.
func (d *Datagram) quote(b []byte) {
	if len(b) < 1 {
		return
	}
	var src, dst netip.Addr
	var proto uint8
	var rest []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return
		}
		proto = b[9]
		src = netip.AddrFrom4([4]byte(b[12:16]))
		dst = netip.AddrFrom4([4]byte(b[16:20]))
		rest = b[ihl:]
	case 6:
		if len(b) < 40 {
			return
		}
		proto = b[6]
		src = netip.AddrFrom16([16]byte(b[8:24]))
		dst = netip.AddrFrom16([16]byte(b[24:40]))
		rest = b[40:]
	default:
		return
	}
	d.Quoted = true
	d.QuotedProtocol = Protocol(proto)
	d.QuotedSrc, d.QuotedDst = netip.AddrPortFrom(src, 0), netip.AddrPortFrom(dst, 0)
	if (proto == uint8(ProtoUDP) || proto == uint8(ProtoTCP)) && len(rest) >= 4 {
		d.QuotedSrc = netip.AddrPortFrom(src, binary.BigEndian.Uint16(rest))
		d.QuotedDst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(rest[2:]))
	}
}

// ICMPName names an ICMP or ICMPv6 message, as tcpdump does: "port
// unreachable", "admin prohibited", "echo request".
func (d *Datagram) ICMPName() string {
	if d.Protocol == ProtoICMPv6 {
		switch d.ICMPType {
		case 1:
			switch d.ICMPCode {
			case 0:
				return "no route"
			case 1:
				return "admin prohibited"
			case 3:
				return "address unreachable"
			case 4:
				return "port unreachable"
			}
			return "destination unreachable"
		case 2:
			return "packet too big"
		case 3:
			return "time exceeded"
		case 4:
			return "parameter problem"
		case 128:
			return "echo request"
		case 129:
			return "echo reply"
		}
		return fmt.Sprintf("ICMPv6 type %d", d.ICMPType)
	}
	switch d.ICMPType {
	case 3:
		switch d.ICMPCode {
		case 0:
			return "net unreachable"
		case 1:
			return "host unreachable"
		case 3:
			return "port unreachable"
		case 4:
			return "fragmentation needed"
		case 9, 10, 13:
			return "admin prohibited"
		}
		return "destination unreachable"
	case 8:
		return "echo request"
	case 0:
		return "echo reply"
	case 11:
		return "time exceeded"
	}
	return fmt.Sprintf("ICMP type %d", d.ICMPType)
}

// PortUnreachable reports whether d says that no socket listens on the
// quoted packet's destination port.
func (d *Datagram) PortUnreachable() bool {
	return d.Quoted && ((d.Protocol == ProtoICMP && d.ICMPType == 3 && d.ICMPCode == 3) ||
		(d.Protocol == ProtoICMPv6 && d.ICMPType == 1 && d.ICMPCode == 4))
}

// DatagramHandler is implemented by Handlers that want the UDP datagrams
// and ICMP messages a Tracker reads (the text and JSON reports explain
// them).
type DatagramHandler interface {
	Datagram(d *Datagram)
}
