package decode

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

// The decoder is written by hand instead of with gopacket's
// DecodingLayerParser for two reasons. A TCP header cut short by the snap
// length still carries flags, seq and ack in its first 14 bytes, but
// gopacket's TCP layer rejects the whole header then; and socktrace needs
// only eight headers, which a straight-line parser reads several times
// faster and without any allocation.

// ErrNotTCP is returned by Decode for a well-formed packet that carries no
// TCP segment (ARP, UDP, ICMP, a non-first IP fragment, ...).
var ErrNotTCP = errors.New("not a TCP segment")

// ErrFragment is returned by Decode for a piece of a fragmented IP
// datagram that carries TCP: alone it holds no whole segment (only the
// first piece has the TCP header, and the segment's length is the sum of
// the pieces). Tracker.ObservePacket reassembles the pieces.
var ErrFragment = errors.New("IP fragment of a TCP segment")

// ErrUnsupportedLink is returned by Decode for a packet whose link type it
// does not read (PPP, 802.11, ...). Such packets count as not TCP.
var ErrUnsupportedLink = errors.New("unsupported link type")

// MalformedError says why a packet could not be decoded. Its values are
// fixed, so returning one allocates nothing.
type MalformedError struct{ reason string }

func (e *MalformedError) Error() string { return "malformed packet: " + e.reason }

var (
	errShortLink      = &MalformedError{"link-layer header cut short"}
	errShortIPv4      = &MalformedError{"IPv4 header cut short"}
	errBadIPv4        = &MalformedError{"IPv4 header length or total length is invalid"}
	errShortIPv6      = &MalformedError{"IPv6 header cut short"}
	errShortExtension = &MalformedError{"IPv6 extension header cut short"}
	errShortTCP       = &MalformedError{"TCP header cut short before its flags"}
	errBadTCPOffset   = &MalformedError{"TCP data offset is smaller than the header"}
	errTooManyHeaders = &MalformedError{"too many nested headers"}
)

// Link-layer protocol numbers the decoder follows.
const (
	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86DD
	etherTypeVLAN   = 0x8100
	etherTypeQinQ   = 0x88A8
	etherTypeQinQ91 = 0x9100

	protoTCP = 6
)

// Decode reads the TCP segment in p into s. It returns ErrNotTCP for
// packets that hold no TCP, a *MalformedError for packets it cannot read,
// and nil otherwise. It never allocates; s.Payload aliases p.Data.
func Decode(p *capture.Packet, s *Segment) error {
	s.Time = p.Timestamp
	s.Tunnel = nil
	data := p.Data
	etherType, off, err := linkPayload(p.LinkType, data)
	if err != nil {
		return err
	}
	data = data[off:]
	// A frame cut by the snap length: the bytes missing from the end.
	missing := p.Length - len(p.Data)
	if missing < 0 {
		missing = 0
	}
	switch etherType {
	case etherTypeIPv4:
		return decodeIPv4(data, missing, s)
	case etherTypeIPv6:
		return decodeIPv6(data, missing, s)
	}
	return ErrNotTCP
}

// linkPayload returns the EtherType of what follows the link-layer header
// and where it starts.
func linkPayload(lt layers.LinkType, b []byte) (etherType uint16, off int, err error) {
	switch lt {
	case layers.LinkTypeEthernet:
		if len(b) < 14 {
			return 0, 0, errShortLink
		}
		etherType, off = binary.BigEndian.Uint16(b[12:]), 14
		// Step over VLAN tags (802.1Q, 802.1ad and the older 0x9100).
		for i := 0; etherType == etherTypeVLAN || etherType == etherTypeQinQ || etherType == etherTypeQinQ91; i++ {
			if i == 4 {
				return 0, 0, errTooManyHeaders
			}
			if len(b) < off+4 {
				return 0, 0, errShortLink
			}
			etherType, off = binary.BigEndian.Uint16(b[off+2:]), off+4
		}
		return etherType, off, nil
	case layers.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return 0, 0, errShortLink
		}
		return binary.BigEndian.Uint16(b[14:]), 16, nil
	case layers.LinkTypeLinuxSLL2:
		if len(b) < 20 {
			return 0, 0, errShortLink
		}
		return binary.BigEndian.Uint16(b[0:]), 20, nil
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(b) < 4 {
			return 0, 0, errShortLink
		}
		// NULL stores the address family in the writer's byte order, LOOP
		// in network order; the values are small, so either order reads.
		fam := binary.LittleEndian.Uint32(b)
		if fam > 0xFFFF {
			fam = binary.BigEndian.Uint32(b)
		}
		switch fam {
		case 2: // AF_INET everywhere
			return etherTypeIPv4, 4, nil
		case 10, 24, 28, 30: // AF_INET6: Linux, BSDs, FreeBSD, macOS
			return etherTypeIPv6, 4, nil
		}
		return 0, 4, nil
	case layers.LinkTypeRaw, 12, 14, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		// LINKTYPE_RAW (101), and DLT_RAW's values on some BSDs (12, 14),
		// which pcap files from old tools still carry.
		if len(b) < 1 {
			return 0, 0, errShortLink
		}
		switch b[0] >> 4 {
		case 4:
			return etherTypeIPv4, 0, nil
		case 6:
			return etherTypeIPv6, 0, nil
		}
		return 0, 0, nil
	}
	return 0, 0, ErrUnsupportedLink
}

func decodeIPv4(b []byte, missing int, s *Segment) error {
	if len(b) < 20 {
		return errShortIPv4
	}
	if b[0]>>4 != 4 {
		return errBadIPv4
	}
	ihl := int(b[0]&0x0F) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 {
		return errBadIPv4
	}
	if len(b) < ihl {
		return errShortIPv4
	}
	if b[9] != protoTCP {
		return ErrNotTCP
	}
	s.ECN = b[1] & 3
	fragField := binary.BigEndian.Uint16(b[6:])
	if total == 0 {
		// TCP segmentation offload: the kernel hands the capture a
		// packet before filling in the length. Trust the frame.
		total = len(b) + missing
	}
	if total < ihl || total > len(b)+missing {
		// Shorter than its header, or longer than the frame that holds
		// it (not cut by the snap length: the length lies). The kernel
		// drops such a packet (ip_rcv_core), so it is malformed here too.
		return errBadIPv4
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	// The IP packet ends at its total length; bytes past it are
	// Ethernet padding.
	end := total
	if end > len(b) {
		end = len(b)
	}
	if fragField&0x3FFF != 0 {
		// More fragments follow, or this is not the first: a piece.
		s.frag = fragment{src: src, dst: dst, id: uint32(binary.BigEndian.Uint16(b[4:])),
			offset: int(fragField&0x1FFF) * 8, more: fragField&0x2000 != 0, data: b[ihl:end], length: total - ihl}
		return ErrFragment
	}
	s.Fragments = 0
	return decodeTCP(b[ihl:end], total-ihl, src, dst, s)
}

// IPv6 extension headers the decoder steps over.
const (
	ipv6HopByHop    = 0
	ipv6Routing     = 43
	ipv6Fragment    = 44
	ipv6AuthHeader  = 51
	ipv6DestOptions = 60
)

func decodeIPv6(b []byte, missing int, s *Segment) error {
	if len(b) < 40 {
		return errShortIPv6
	}
	payloadLen := int(binary.BigEndian.Uint16(b[4:]))
	if payloadLen == 0 {
		// A jumbogram or an offloaded packet: the frame says how long.
		payloadLen = len(b) - 40 + missing
	}
	s.ECN = b[1] >> 4 & 3 // the traffic class spans b[0] and b[1]
	next := b[6]
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	end := 40 + payloadLen
	if end > len(b) {
		end = len(b)
	}
	rest := b[40:end]
	remaining := payloadLen // bytes of the IP payload, captured or not
	for i := 0; ; i++ {
		if i == 8 {
			return errTooManyHeaders
		}
		var hdrLen int
		switch next {
		case protoTCP:
			s.Fragments = 0
			return decodeTCP(rest, remaining, src, dst, s)
		case ipv6HopByHop, ipv6Routing, ipv6DestOptions:
			if len(rest) < 2 {
				return errShortExtension
			}
			hdrLen = (int(rest[1]) + 1) * 8
		case ipv6AuthHeader:
			if len(rest) < 2 {
				return errShortExtension
			}
			hdrLen = (int(rest[1]) + 2) * 4
		case ipv6Fragment:
			if len(rest) < 8 {
				return errShortExtension
			}
			field := binary.BigEndian.Uint16(rest[2:])
			if field&0xFFF9 != 0 { // an offset or the M flag: a piece
				if rest[0] != protoTCP {
					return ErrNotTCP
				}
				s.frag = fragment{src: src, dst: dst, id: binary.BigEndian.Uint32(rest[4:]), v6: true,
					offset: int(field & 0xFFF8), more: field&1 != 0, data: rest[8:], length: remaining - 8}
				return ErrFragment
			}
			hdrLen = 8 // an atomic fragment (RFC 8021): the whole datagram
		default:
			return ErrNotTCP
		}
		if len(rest) < hdrLen {
			return errShortExtension
		}
		next = rest[0]
		rest = rest[hdrLen:]
		remaining -= hdrLen
	}
}

// decodeTCP reads a TCP header from b, which holds the captured part of an
// IP payload of ipLen bytes.
func decodeTCP(b []byte, ipLen int, src, dst netip.Addr, s *Segment) error {
	// Flags, seq and ack sit in the first 14 bytes; a header cut after
	// them still tells what the segment did.
	if len(b) < 14 {
		return errShortTCP
	}
	s.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:]))
	s.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:]))
	s.Seq = binary.BigEndian.Uint32(b[4:])
	s.Ack = binary.BigEndian.Uint32(b[8:])
	dataOff := int(b[12]>>4) * 4
	s.Flags = Flags(b[13]) // the NS bit in b[12] is obsolete (RFC 8311)
	s.Options = Options{WindowScale: -1}
	s.Payload = nil
	s.Window = 0
	if dataOff < 20 {
		return errBadTCPOffset
	}
	s.Len = ipLen - dataOff
	if s.Len < 0 {
		s.Len = 0
	}
	s.Truncated = len(b) < dataOff || len(b)-dataOff < s.Len
	if len(b) >= 16 {
		s.Window = binary.BigEndian.Uint16(b[14:])
	}
	if len(b) > 20 {
		optEnd := dataOff
		if optEnd > len(b) {
			optEnd = len(b)
		}
		if optEnd > 20 {
			parseOptions(b[20:optEnd], &s.Options)
		}
	}
	if len(b) > dataOff {
		s.Payload = b[dataOff:]
		if len(s.Payload) > s.Len {
			s.Payload = s.Payload[:s.Len]
		}
	}
	return nil
}

// TCP option kinds (RFC 9293, 7323, 2018).
const (
	optEnd           = 0
	optNOP           = 1
	optMSS           = 2
	optWindowScale   = 3
	optSACKPermitted = 4
	optSACK          = 5
	optTimestamps    = 8
	optFastOpen      = 34  // RFC 7413
	optExperimental  = 254 // RFC 6994; TFO before kind 34 used magic 0xF989
	fastOpenMagic    = 0xF989
)

// parseOptions reads the options it knows and stops at the first malformed
// one, keeping what came before it.
func parseOptions(b []byte, o *Options) {
	for len(b) > 0 {
		kind := b[0]
		switch kind {
		case optEnd:
			return
		case optNOP:
			b = b[1:]
			continue
		}
		if len(b) < 2 {
			return
		}
		n := int(b[1])
		if n < 2 || n > len(b) {
			return
		}
		switch {
		case kind == optMSS && n == 4:
			o.MSS = binary.BigEndian.Uint16(b[2:])
		case kind == optWindowScale && n == 3:
			o.WindowScale = int8(min(b[2], 14)) // RFC 7323: larger shifts mean 14
		case kind == optSACKPermitted && n == 2:
			o.SACKPermitted = true
		case kind == optSACK && n >= 10 && (n-2)%8 == 0:
			k := min((n-2)/8, len(o.SACK))
			for i := 0; i < k; i++ {
				o.SACK[i][0] = binary.BigEndian.Uint32(b[2+8*i:])
				o.SACK[i][1] = binary.BigEndian.Uint32(b[6+8*i:])
			}
			o.SACKBlocks = uint8(k)
		case kind == optTimestamps && n == 10:
			o.Timestamps = true
			o.TSVal = binary.BigEndian.Uint32(b[2:])
			o.TSEcr = binary.BigEndian.Uint32(b[6:])
		case kind == optFastOpen:
			o.FastOpen, o.FastOpenCookie = true, uint8(n-2)
		case kind == optExperimental && n >= 4 && binary.BigEndian.Uint16(b[2:]) == fastOpenMagic:
			o.FastOpen, o.FastOpenCookie = true, uint8(n-4)
		}
		b = b[n:]
	}
}
