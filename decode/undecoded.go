package decode

import (
	"fmt"
	"maps"
	"slices"
)

// UndecodedKind is what stopped the decoder on a packet that yielded no
// TCP segment.
type UndecodedKind uint8

// What can stop the decoder.
const (
	// UndecodedLinkType: a link type neither path reads.
	UndecodedLinkType UndecodedKind = iota + 1
	// UndecodedEtherType: a network protocol that is not IP (ARP, LLDP, ...).
	UndecodedEtherType
	// UndecodedIPProtocol: an IP packet carrying something other than TCP
	// or a tunnel (UDP, ICMP, ...).
	UndecodedIPProtocol
	// UndecodedFragment: an IP fragment of a datagram that was not put
	// back together. Code is its IP protocol when known: for TCP, a
	// piece of a segment whose other pieces never came (Counts.Fragments).
	UndecodedFragment
	// UndecodedMalformed: a header that could not be read.
	UndecodedMalformed
	// UndecodedLinkProtocol: a protocol named inside a link layer or a
	// tunnel that carries no IP (a PPP control protocol, an LLC SAP, a
	// GTP-U signalling message, a NULL address family). Detail names
	// the field, Code its value.
	UndecodedLinkProtocol
	// UndecodedSampled: a datagram of samples of packets seen elsewhere
	// (sFlow); the TCP segments among the samples are counted in
	// Counts.SampledTCP, not followed.
	UndecodedSampled
)

// Undecoded says why one packet yielded no TCP segment. Its values are
// comparable and built without allocation, so they can count packets in
// a map.
type Undecoded struct {
	Kind UndecodedKind
	// Code is the link type, EtherType or IP protocol number.
	Code uint32
	// Detail is a fixed text: the malformed header's problem, or the name
	// of the protocol when it is well known.
	Detail string
}

// String says it the way the summary does: "link type 147", "EtherType
// 0x0806 (ARP)", "IP protocol 17 (UDP)", "fragment", "malformed: ...".
func (u Undecoded) String() string {
	var s string
	switch u.Kind {
	case UndecodedLinkType:
		s = fmt.Sprintf("link type %d", u.Code)
	case UndecodedEtherType:
		s = fmt.Sprintf("EtherType 0x%04x", u.Code)
	case UndecodedIPProtocol:
		s = fmt.Sprintf("IP protocol %d", u.Code)
	case UndecodedFragment:
		switch {
		case u.Code == protoTCP:
			// Counted apart from the other packets: it is TCP, only
			// not whole (Counts.Fragments).
			return "fragment of TCP (not reassembled)"
		case u.Code != 0:
			s = fmt.Sprintf("fragment of IP protocol %d", u.Code)
		default:
			s = "fragment"
		}
	case UndecodedMalformed:
		return "malformed: " + u.Detail
	case UndecodedSampled:
		return u.Detail + " datagram (samples of packets seen elsewhere)"
	case UndecodedLinkProtocol:
		if u.Code == 0 {
			return u.Detail
		}
		return fmt.Sprintf("%s 0x%04x", u.Detail, u.Code)
	default:
		return "unknown"
	}
	if u.Detail != "" {
		s += " (" + u.Detail + ")"
	}
	return s
}

// KindName is the kind as a JSON value: "link_type", "ethertype",
// "ip_protocol", "fragment", "malformed".
func (k UndecodedKind) KindName() string {
	switch k {
	case UndecodedLinkType:
		return "link_type"
	case UndecodedEtherType:
		return "ethertype"
	case UndecodedIPProtocol:
		return "ip_protocol"
	case UndecodedFragment:
		return "fragment"
	case UndecodedMalformed:
		return "malformed"
	case UndecodedLinkProtocol:
		return "link_protocol"
	case UndecodedSampled:
		return "sampled"
	}
	return "unknown"
}

// UndecodedCount is one line of the summary's list.
type UndecodedCount struct {
	Undecoded
	Packets int64
}

// SortedUndecoded lists the counts, most packets first, then by reason.
func (n *Counts) SortedUndecoded() []UndecodedCount {
	out := make([]UndecodedCount, 0, len(n.Undecoded))
	for _, u := range slices.Collect(maps.Keys(n.Undecoded)) {
		out = append(out, UndecodedCount{u, n.Undecoded[u]})
	}
	slices.SortFunc(out, func(a, b UndecodedCount) int {
		if a.Packets != b.Packets {
			return int(b.Packets - a.Packets)
		}
		if a.Kind != b.Kind {
			return int(a.Kind) - int(b.Kind)
		}
		if a.Code != b.Code {
			return int(a.Code) - int(b.Code)
		}
		switch {
		case a.Detail < b.Detail:
			return -1
		case a.Detail > b.Detail:
			return 1
		}
		return 0
	})
	return out
}

// Add adds o's counts to n.
func (n *Counts) Add(o Counts) {
	n.Packets += o.Packets
	n.TCP += o.TCP
	n.Other += o.Other
	n.Datagrams += o.Datagrams
	n.Malformed += o.Malformed
	n.Fragments += o.Fragments
	n.SampledTCP += o.SampledTCP
	for u, c := range o.Undecoded {
		n.count(u, c)
	}
}

func (n *Counts) count(u Undecoded, c int64) {
	if n.Undecoded == nil {
		n.Undecoded = make(map[Undecoded]int64)
	}
	n.Undecoded[u] += c
}

// uncount takes c packets back from u's count.
func (n *Counts) uncount(u Undecoded, c int64) {
	if c <= 0 {
		return
	}
	if n.Undecoded[u] -= c; n.Undecoded[u] <= 0 {
		delete(n.Undecoded, u)
	}
}

// heldFragment is the reason of a piece of a fragmented TCP segment that
// the tracker holds until the datagram is whole; what is left of it when
// the input ends was never reassembled.
var heldFragment = Undecoded{Kind: UndecodedFragment, Code: protoTCP}

// Names of well-known protocols, so that the summary reads "EtherType
// 0x0806 (ARP)" rather than a bare number.
func etherTypeName(t uint16) string {
	switch t {
	case 0x0806:
		return "ARP"
	case 0x8035:
		return "RARP"
	case 0x88CC:
		return "LLDP"
	case 0x8863:
		return "PPPoE discovery"
	case 0x888E:
		return "EAPOL"
	case 0x88F7:
		return "PTP"
	case 0x8809:
		return "slow protocols"
	case 0x6003:
		return "DECnet"
	case 0x8137:
		return "IPX"
	case 0x809B:
		return "AppleTalk"
	case 0x88E5:
		return "MACsec"
	case 0x8906:
		return "FCoE"
	case 0x88A2:
		return "AoE"
	}
	return ""
}

func ipProtocolName(p uint8) string {
	switch p {
	case 1:
		return "ICMP"
	case 2:
		return "IGMP"
	case 17:
		return "UDP"
	case 50:
		return "ESP"
	case 51:
		return "AH"
	case 58:
		return "ICMPv6"
	case 59:
		return "no next header"
	case 88:
		return "EIGRP"
	case 89:
		return "OSPF"
	case 103:
		return "PIM"
	case 112:
		return "VRRP"
	case 132:
		return "SCTP"
	}
	return ""
}
