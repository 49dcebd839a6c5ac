package decode

import (
	"encoding/binary"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

// The slow path. Decode, the fast path, reads the few headers nearly
// every capture holds. What it does not handle — another link type, an
// EtherType, IP protocol or UDP port that carries a tunnel — goes through
// gopacket's decoding layers, and the project's own (layers.go) where
// gopacket has none, down to the innermost IP packet; that packet's TCP
// segment is then read by the fast path's IP and TCP code, so both paths
// agree on every field, and a TCP header cut by the snap length still
// yields flags, seq and ack (gopacket's TCP layer rejects it).
//
// The layers are chained by hand rather than by a DecodingLayerParser:
// between two layers the walk records the tunnel's identity (the VNI, a
// GRE key, MPLS labels, the outer addresses) and chooses the next layer
// from ports and flags a parser cannot see (ERSPAN I and II share an
// EtherType, VXLAN has two ports). Each layer's value is kept in the
// slowPath and reused, so a packet costs no allocation unless a gopacket
// layer makes one (IPv4 options, GRE routing). Geneve is the project's
// own layer (layers.go): gopacket's allocates each Geneve option.

// maxDepth bounds the headers the slow path steps through: a packet
// nesting deeper is counted as malformed.
const maxDepth = 16

// EtherTypes the slow path follows beyond the fast path's.
const (
	etherTypeMPLS      = 0x8847
	etherTypeMPLSMulti = 0x8848
	etherTypePPPoE     = 0x8864
	etherTypeTEB       = 0x6558 // transparent Ethernet bridging (GRE, NVGRE)
	etherTypeERSPAN    = 0x88BE
	etherTypeERSPAN3   = 0x22EB
	etherTypePPP       = 0x880B
	etherTypeWCCP      = 0x883E
	etherTypePBB       = 0x88E7 // 802.1ah I-TAG
	etherTypeVNTag     = 0x8926
	etherTypeNSH       = 0x894F
)

// UDP ports of tunnels.
const (
	portVXLAN      = 4789
	portVXLANLinux = 8472
	portVXLANGPE   = 4790
	portGeneve     = 6081
	portGTPU       = 2152
	portMPLSUDP    = 6635
	portTeredo     = 3544
	portAYIYA      = 5072
	portGREUDP     = 4754
	portSFlow      = 6343
)

// IP protocol numbers of what the slow path follows.
const (
	protoIPv4    = 4
	protoIPv6    = 41
	protoGRE     = 47
	protoUDP     = 17
	protoEtherIP = 97
	protoMPLSIP  = 137
)

// Link types the slow path reads beyond the fast path's.
const (
	linkTypeARCNET     = 7
	linkTypeFDDI       = 10
	linkTypePPP        = 9
	linkTypePPPHDLC    = 50
	linkTypePPPEther   = 51
	linkTypeCHDLC      = 104
	linkTypeARCNETLnx  = 129
	linkTypePPPPD      = 166
	linkTypePPPDir     = 204
	linkTypeCHDLCDir   = 205
	linkTypeNFLOG      = 239
	linkTypeIPoIB      = 242
	linkTypeMPLS       = 219
	linkTypeEthernetPH = 274 // Ethernet with a preamble: not read
)

type slowPath struct {
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	llc     layers.LLC
	snap    layers.SNAP
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	pflog   layers.PFLog
	ip4     layers.IPv4
	ip6     layers.IPv6
	ext     layers.IPv6ExtensionSkipper
	udp     layers.UDP
	gre     layers.GRE
	vxlan   layers.VXLAN
	geneve  GeneveHeader
	gtp     layers.GTPv1U
	erspan2 layers.ERSPANII
	etherip layers.EtherIP

	ppp      PPPFrame
	pppoe    PPPoESession
	mpls     MPLSStack
	fddi     FDDIFrame
	nflog    NFLOG
	ipoib    IPoIB
	arcnet   ARCNET
	chdlc    CiscoHDLC
	erspan3  ERSPANIII
	gpe      VXLANGPE
	nsh      NSH
	teredo   Teredo
	ayiya    AYIYA
	shim     Shim
	juniper  Juniper
	radiotap RadiotapHeader
	ppi      PPIHeader
	dot11    Dot11Frame
	sflow    sflowCounter

	tunnel Tunnel
	// The addresses of the last IP header stepped over: the endpoints of
	// whatever tunnel comes next.
	outerSrc, outerDst netip.Addr
	why                Undecoded
}

// next is where the walk goes after a header: a layer, or an EtherType
// or IP protocol still to be looked up (so that an unknown one is named
// in the reason).
type next struct {
	layer gopacket.LayerType
	ether uint16 // when layer is layerByEtherType
	proto uint8  // when layer is layerByIPProtocol
}

// Pseudo layer types for "look up this EtherType / IP protocol".
var (
	layerByEtherType  = gopacket.LayerType(3190)
	layerByIPProtocol = gopacket.LayerType(3191)
	layerStop         = gopacket.LayerType(3192) // why is set
	layerSFlow        = gopacket.LayerType(3193) // count the samples, then stop
)

func byEther(t uint16) next        { return next{layer: layerByEtherType, ether: t} }
func byProto(p uint8) next         { return next{layer: layerByIPProtocol, proto: p} }
func to(l gopacket.LayerType) next { return next{layer: l} }

// decode is the slow path's Decode: nil with s filled, or an error with
// sp.why saying what stopped it.
func (sp *slowPath) decode(p *capture.Packet, s *Segment) error {
	sp.tunnel = Tunnel{}
	sp.outerSrc, sp.outerDst = netip.Addr{}, netip.Addr{}
	sp.why = Undecoded{}
	sp.sflow.tcp = 0
	missing := max(p.Length-len(p.Data), 0)
	nx := sp.linkLayer(p.LinkType)
	data := p.Data
	for depth := 0; ; depth++ {
		if depth == maxDepth {
			return sp.malformed(errTooManyHeaders)
		}
		var (
			dl  gopacket.DecodingLayer
			err error
		)
		switch nx.layer {
		case layerStop:
			return ErrNotTCP
		case layerByEtherType:
			nx = sp.etherNext(nx.ether, data)
			continue
		case layerByIPProtocol:
			nx = sp.protoNext(nx.proto)
			continue
		case layers.LayerTypeIPv4:
			if len(data) > 0 && data[0]>>4 == 6 { // an IP-in-something guess
				nx = to(layers.LayerTypeIPv6)
				continue
			}
			var done bool
			nx, data, done, err = sp.ipv4(data, missing, s)
			if done {
				return sp.result(err, s)
			}
			continue
		case layers.LayerTypeIPv6:
			if len(data) > 0 && data[0]>>4 == 4 {
				nx = to(layers.LayerTypeIPv4)
				continue
			}
			var done bool
			nx, data, done, err = sp.ipv6(data, missing, s)
			if done {
				return sp.result(err, s)
			}
			continue
		case layers.LayerTypeEthernet:
			dl = &sp.eth
		case layers.LayerTypeDot1Q:
			dl = &sp.dot1q
		case layers.LayerTypeLLC:
			dl = &sp.llc
		case LayerTypeRadiotapHeader:
			dl = &sp.radiotap
		case LayerTypePPIHeader:
			dl = &sp.ppi
		case LayerTypeDot11Frame:
			dl = &sp.dot11
		case layerSFlow:
			sp.sflow.count(data)
			sp.why = Undecoded{Kind: UndecodedSampled, Detail: "sFlow"}
			return ErrNotTCP
		case layers.LayerTypeSNAP:
			dl = &sp.snap
		case layers.LayerTypeLinuxSLL:
			dl = &sp.sll
		case layers.LayerTypeLinuxSLL2:
			dl = &sp.sll2
		case layers.LayerTypeLoopback:
			dl = &sp.loop
		case layers.LayerTypePFLog:
			dl = &sp.pflog
		case layers.LayerTypeUDP:
			dl = &sp.udp
		case layers.LayerTypeGRE:
			dl = &sp.gre
		case layers.LayerTypeVXLAN:
			dl = &sp.vxlan
		case layers.LayerTypeGeneve:
			dl = &sp.geneve
		case layers.LayerTypeGTPv1U:
			dl = &sp.gtp
		case layers.LayerTypeERSPANII:
			dl = &sp.erspan2
		case layers.LayerTypeEtherIP:
			dl = &sp.etherip
		case layers.LayerTypePPP:
			dl = &sp.ppp
		case layers.LayerTypePPPoE:
			dl = &sp.pppoe
		case layers.LayerTypeMPLS:
			dl = &sp.mpls
		case layers.LayerTypeFDDI:
			dl = &sp.fddi
		case LayerTypeNFLOG:
			dl = &sp.nflog
		case LayerTypeIPoIB:
			dl = &sp.ipoib
		case LayerTypeARCNET:
			dl = &sp.arcnet
		case LayerTypeCiscoHDLC:
			dl = &sp.chdlc
		case LayerTypeERSPANIII:
			dl = &sp.erspan3
		case LayerTypeVXLANGPE:
			dl = &sp.gpe
		case LayerTypeNSH:
			dl = &sp.nsh
		case LayerTypeTeredo:
			dl = &sp.teredo
		case LayerTypeAYIYA:
			dl = &sp.ayiya
		case LayerTypeShim:
			dl = &sp.shim
		case LayerTypeJuniper:
			dl = &sp.juniper
		default:
			// A layer gopacket names but the walk does not follow.
			sp.why = Undecoded{Kind: UndecodedLinkProtocol, Detail: nx.layer.String()}
			return ErrNotTCP
		}
		if err = dl.DecodeFromBytes(data, gopacket.NilDecodeFeedback); err != nil {
			return sp.malformed(&MalformedError{"slow path: " + dl.CanDecode().(gopacket.LayerType).String() + " header cut short or invalid"})
		}
		data = dl.LayerPayload()
		nx = sp.after(dl)
	}
}

// result turns the fast decoder's answer for the innermost IP packet into
// the slow path's.
func (sp *slowPath) result(err error, s *Segment) error {
	switch e := err.(type) {
	case nil:
		if sp.tunnel.Kind != NoTunnel {
			s.Tunnel = &sp.tunnel
		}
		return nil
	case *MalformedError:
		return sp.malformed(e)
	}
	return err
}

func (sp *slowPath) malformed(e *MalformedError) error {
	sp.why = Undecoded{Kind: UndecodedMalformed, Detail: e.reason}
	return e
}

func (sp *slowPath) stop(why Undecoded) next {
	sp.why = why
	return to(layerStop)
}

// linkLayer is the first header of a link type.
func (sp *slowPath) linkLayer(lt layers.LinkType) next {
	switch lt {
	case layers.LinkTypeEthernet:
		return to(layers.LayerTypeEthernet)
	case layers.LinkTypeLinuxSLL:
		return to(layers.LayerTypeLinuxSLL)
	case layers.LinkTypeLinuxSLL2:
		return to(layers.LayerTypeLinuxSLL2)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		return to(layers.LayerTypeLoopback)
	case layers.LinkTypeRaw, 12, 14, layers.LinkTypeIPv4:
		return to(layers.LayerTypeIPv4) // IPv4 turns to IPv6 on a 6 nibble
	case layers.LinkTypeIPv6:
		return to(layers.LayerTypeIPv6)
	case layers.LinkTypePFLog:
		return to(layers.LayerTypePFLog)
	case linkTypePPP, linkTypePPPHDLC, linkTypePPPPD:
		return to(layers.LayerTypePPP)
	case linkTypePPPDir:
		sp.shim = Shim{Size: 1, Next: layers.LayerTypePPP}
		return to(LayerTypeShim)
	case linkTypePPPEther:
		return to(layers.LayerTypePPPoE)
	case linkTypeCHDLC:
		return to(LayerTypeCiscoHDLC)
	case linkTypeCHDLCDir:
		sp.shim = Shim{Size: 1, Next: LayerTypeCiscoHDLC}
		return to(LayerTypeShim)
	case linkTypeFDDI:
		return to(layers.LayerTypeFDDI)
	case linkType80211:
		return to(LayerTypeDot11Frame)
	case linkTypeRadiotap:
		return to(LayerTypeRadiotapHeader)
	case linkTypePPI:
		return to(LayerTypePPIHeader)
	case linkTypeNFLOG:
		return to(LayerTypeNFLOG)
	case linkTypeIPoIB:
		return to(LayerTypeIPoIB)
	case linkTypeMPLS:
		return to(layers.LayerTypeMPLS)
	case linkTypeARCNET:
		sp.arcnet.Linux = false
		return to(LayerTypeARCNET)
	case linkTypeARCNETLnx:
		sp.arcnet.Linux = true
		return to(LayerTypeARCNET)
	}
	if j, ok := sp.juniperLink(lt); ok {
		return j
	}
	return sp.stop(Undecoded{Kind: UndecodedLinkType, Code: uint32(lt)})
}

// after chooses the layer that follows dl, and records tunnels.
func (sp *slowPath) after(dl gopacket.DecodingLayer) next {
	switch l := dl.(type) {
	case *layers.Ethernet:
		if l.EthernetType == layers.EthernetTypeLLC {
			return to(layers.LayerTypeLLC)
		}
		return byEther(uint16(l.EthernetType))
	case *layers.Dot1Q:
		if l.Type < 0x600 {
			return to(layers.LayerTypeLLC)
		}
		return byEther(uint16(l.Type))
	case *layers.LLC:
		switch {
		case l.DSAP == 0xAA && l.SSAP == 0xAA:
			return to(layers.LayerTypeSNAP)
		case l.DSAP == 0x06 && l.SSAP == 0x06:
			return to(layers.LayerTypeIPv4)
		}
		return sp.stop(Undecoded{Kind: UndecodedLinkProtocol, Code: uint32(l.DSAP), Detail: "LLC SAP"})
	case *layers.SNAP:
		return byEther(uint16(l.Type))
	case *layers.LinuxSLL:
		if l.EthernetType == 4 { // ETH_P_802_2
			return to(layers.LayerTypeLLC)
		}
		return byEther(uint16(l.EthernetType))
	case *layers.LinuxSLL2:
		if l.ProtocolType == 4 {
			return to(layers.LayerTypeLLC)
		}
		return byEther(uint16(l.ProtocolType))
	case *layers.Loopback:
		return sp.family(uint32(l.Family))
	case *layers.PFLog:
		return sp.family(uint32(l.Family))
	case *layers.UDP:
		return sp.udpNext(uint16(l.SrcPort), uint16(l.DstPort))
	case *layers.GRE:
		return sp.greNext(l)
	case *layers.VXLAN:
		sp.enter(TunnelVXLAN, true, l.VNI)
		return to(layers.LayerTypeEthernet)
	case *GeneveHeader:
		sp.enter(TunnelGeneve, true, l.VNI)
		return byEther(uint16(l.Protocol))
	case *layers.GTPv1U:
		sp.enter(TunnelGTPU, true, l.TEID)
		if l.MessageType != 255 || len(l.Payload) == 0 {
			return sp.stop(Undecoded{Kind: UndecodedLinkProtocol, Code: uint32(l.MessageType), Detail: "GTP-U message"})
		}
		return to(layers.LayerTypeIPv4) // turns to IPv6 on a 6 nibble
	case *layers.ERSPANII:
		sp.enter(TunnelERSPAN, true, uint32(l.SessionID))
		return to(layers.LayerTypeEthernet)
	case *layers.EtherIP:
		sp.enter(TunnelEtherIP, false, 0)
		return to(layers.LayerTypeEthernet)
	case *PPPFrame:
		if t, ok := pppEtherType(l.Protocol); ok {
			if t == etherTypeTEB { // RFC 3518: two bytes of flags and pad
				sp.shim = Shim{Size: 2, Next: layers.LayerTypeEthernet}
				return to(LayerTypeShim)
			}
			return byEther(t)
		}
		return sp.stop(Undecoded{Kind: UndecodedLinkProtocol, Code: uint32(l.Protocol), Detail: "PPP protocol"})
	case *MPLSStack:
		if sp.tunnel.Kind == NoTunnel {
			sp.enter(TunnelMPLS, false, 0)
		}
		for i := 0; i < l.Depth && i < maxLabels && int(sp.tunnel.NLabels) < maxLabels; i++ {
			sp.tunnel.Labels[sp.tunnel.NLabels] = l.Labels[i]
			sp.tunnel.NLabels++
		}
		n := l.NextLayerType()
		if n == LayerTypeShim {
			sp.shim = Shim{Size: 4, Next: layers.LayerTypeEthernet} // pseudowire control word
		}
		return to(n)
	case *ERSPANIII:
		sp.enter(TunnelERSPAN, true, uint32(l.SessionID))
	case *VXLANGPE:
		sp.enter(TunnelVXLANGPE, true, l.VNI)
	case *Teredo:
		sp.enter(TunnelTeredo, false, 0)
	case *AYIYA:
		sp.enter(TunnelAYIYA, false, 0)
		return byProto(l.NextHeader)
	case *IPoIB:
		return byEther(l.EtherType)
	case *Dot11Frame:
		return sp.dot11Next(l)
	case *CiscoHDLC:
		return byEther(l.EtherType)
	case *Juniper:
		return l.next
	case *Shim:
		if l.Next == layerByEtherType { // VN-Tag: the real EtherType ends it
			return byEther(binary.BigEndian.Uint16(l.Contents[4:]))
		}
	}
	n := dl.NextLayerType()
	if n == gopacket.LayerTypePayload || n == gopacket.LayerTypeZero {
		return sp.stop(Undecoded{Kind: UndecodedLinkProtocol, Detail: dl.CanDecode().(gopacket.LayerType).String()})
	}
	return to(n)
}

// enter records a tunnel: its kind, its identifier and the addresses of
// the IP header around it.
func (sp *slowPath) enter(k TunnelKind, hasID bool, id uint32) {
	t := &sp.tunnel
	t.Kind, t.HasID, t.ID = k, hasID, id
	if sp.outerSrc.IsValid() {
		t.setOuter(sp.outerSrc, sp.outerDst)
	}
}

// family maps the address families of NULL, LOOP and PFLOG headers.
func (sp *slowPath) family(f uint32) next {
	if f > 0xFFFF { // NULL: the writer's byte order
		f = f>>24 | f>>8&0xFF00
	}
	switch f {
	case 2:
		return to(layers.LayerTypeIPv4)
	case 10, 24, 28, 30:
		return to(layers.LayerTypeIPv6)
	}
	return sp.stop(Undecoded{Kind: UndecodedLinkProtocol, Code: f, Detail: "address family"})
}

// etherNext is the layer an EtherType announces.
func (sp *slowPath) etherNext(t uint16, data []byte) next {
	switch t {
	case etherTypeIPv4:
		return to(layers.LayerTypeIPv4)
	case etherTypeIPv6:
		return to(layers.LayerTypeIPv6)
	case etherTypeVLAN, etherTypeQinQ, etherTypeQinQ91:
		return to(layers.LayerTypeDot1Q)
	case etherTypeMPLS, etherTypeMPLSMulti:
		return to(layers.LayerTypeMPLS)
	case etherTypePPPoE:
		return to(layers.LayerTypePPPoE)
	case etherTypePPP:
		return to(layers.LayerTypePPP)
	case etherTypeTEB:
		return to(layers.LayerTypeEthernet)
	case etherTypeERSPAN3:
		return to(LayerTypeERSPANIII)
	case etherTypeNSH:
		return to(LayerTypeNSH)
	case etherTypePBB:
		// The I-TAG's four bytes, then the customer's frame.
		sp.shim = Shim{Size: 4, Next: layers.LayerTypeEthernet}
		return to(LayerTypeShim)
	case etherTypeVNTag:
		// Four bytes of tag, then the real EtherType.
		if len(data) < 6 {
			return sp.stop(Undecoded{Kind: UndecodedMalformed, Detail: errShortLink.reason})
		}
		sp.shim = Shim{Size: 6, Next: layerByEtherType}
		return to(LayerTypeShim)
	}
	return sp.stop(Undecoded{Kind: UndecodedEtherType, Code: uint32(t), Detail: etherTypeName(t)})
}

// protoNext is the layer an IP protocol number announces, after an IP
// header the walk steps over.
func (sp *slowPath) protoNext(p uint8) next {
	switch p {
	case protoIPv4, protoIPv6:
		sp.enter(TunnelIPinIP, false, 0)
		if p == protoIPv4 {
			return to(layers.LayerTypeIPv4)
		}
		return to(layers.LayerTypeIPv6)
	case protoGRE:
		return to(layers.LayerTypeGRE)
	case protoUDP:
		return to(layers.LayerTypeUDP)
	case protoEtherIP:
		return to(layers.LayerTypeEtherIP)
	case protoMPLSIP:
		return to(layers.LayerTypeMPLS)
	}
	return sp.stop(Undecoded{Kind: UndecodedIPProtocol, Code: uint32(p), Detail: ipProtocolName(p)})
}

func (sp *slowPath) udpNext(src, dst uint16) next {
	for _, port := range [2]uint16{dst, src} {
		switch port {
		case portVXLAN, portVXLANLinux:
			return to(layers.LayerTypeVXLAN)
		case portVXLANGPE:
			return to(LayerTypeVXLANGPE)
		case portGeneve:
			return to(layers.LayerTypeGeneve)
		case portGTPU:
			return to(layers.LayerTypeGTPv1U)
		case portMPLSUDP:
			return to(layers.LayerTypeMPLS)
		case portTeredo:
			return to(LayerTypeTeredo)
		case portAYIYA:
			return to(LayerTypeAYIYA)
		case portGREUDP:
			return to(layers.LayerTypeGRE)
		case portSFlow:
			return to(layerSFlow)
		}
	}
	return sp.stop(Undecoded{Kind: UndecodedIPProtocol, Code: protoUDP, Detail: "UDP"})
}

func (sp *slowPath) greNext(g *layers.GRE) next {
	key := g.Key
	if g.Version == 1 { // PPTP's enhanced GRE: the low half is the call ID
		key &= 0xFFFF
	}
	sp.enter(TunnelGRE, g.KeyPresent, key)
	switch t := uint16(g.Protocol); t {
	case etherTypeERSPAN:
		if !g.SeqPresent { // ERSPAN type I: the mirrored frame at once
			sp.enter(TunnelERSPAN, false, 0)
			return to(layers.LayerTypeEthernet)
		}
		return to(layers.LayerTypeERSPANII)
	case etherTypeWCCP:
		sp.enter(TunnelWCCP, false, 0)
		// WCCP v2 puts a 4-byte redirect header before the IP packet; v1
		// does not.
		if len(g.Payload) > 0 && g.Payload[0]>>4 != 4 {
			sp.shim = Shim{Size: 4, Next: layers.LayerTypeIPv4}
			return to(LayerTypeShim)
		}
		return to(layers.LayerTypeIPv4)
	default:
		return byEther(t)
	}
}

// ipv4 reads an IPv4 header. A TCP packet is handed to the fast path's
// decoder (done); anything else is stepped over to its payload.
func (sp *slowPath) ipv4(b []byte, missing int, s *Segment) (nx next, payload []byte, done bool, err error) {
	// TCP, fragments included (the tracker reassembles them), is the
	// fast path's.
	if len(b) >= 20 && b[0]>>4 == 4 && b[9] == protoTCP {
		return nx, nil, true, decodeIPv4(b, missing, s)
	}
	if err := sp.ip4.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		return nx, nil, true, errBadIPv4
	}
	if sp.ip4.FragOffset != 0 {
		sp.why = Undecoded{Kind: UndecodedFragment, Code: uint32(b[9]), Detail: ipProtocolName(b[9])}
		return nx, nil, true, ErrNotTCP
	}
	if b[9] == protoTCP { // the fast path refused it
		return nx, nil, true, decodeIPv4(b, missing, s)
	}
	sp.outerSrc = netip.AddrFrom4([4]byte(b[12:16]))
	sp.outerDst = netip.AddrFrom4([4]byte(b[16:20]))
	return sp.protoNext(b[9]), sp.ip4.Payload, false, nil
}

// ipv6 reads an IPv6 header and its extension headers, like ipv4.
func (sp *slowPath) ipv6(b []byte, missing int, s *Segment) (nx next, payload []byte, done bool, err error) {
	if err := decodeIPv6(b, missing, s); err != ErrNotTCP {
		return nx, nil, true, err
	}
	if err := sp.ip6.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		return nx, nil, true, errShortIPv6
	}
	proto := uint8(sp.ip6.NextHeader)
	if sp.ip6.HopByHop != nil {
		proto = uint8(sp.ip6.HopByHop.NextHeader)
	}
	rest := sp.ip6.Payload
	for i := 0; ; i++ {
		if i == 8 {
			return nx, nil, true, errTooManyHeaders
		}
		switch proto {
		case ipv6HopByHop, ipv6Routing, ipv6DestOptions:
			if err := sp.ext.DecodeFromBytes(rest, gopacket.NilDecodeFeedback); err != nil {
				return nx, nil, true, errShortExtension
			}
			proto, rest = uint8(sp.ext.NextHeader), sp.ext.Payload
			continue
		case ipv6Fragment:
			if len(rest) < 8 {
				return nx, nil, true, errShortExtension
			}
			if binary.BigEndian.Uint16(rest[2:])&0xFFF8 != 0 {
				sp.why = Undecoded{Kind: UndecodedFragment, Code: uint32(rest[0]), Detail: ipProtocolName(rest[0])}
				return nx, nil, true, ErrNotTCP
			}
			proto, rest = rest[0], rest[8:]
			continue
		case ipv6AuthHeader:
			if len(rest) < 2 || len(rest) < (int(rest[1])+2)*4 {
				return nx, nil, true, errShortExtension
			}
			proto, rest = rest[0], rest[(int(rest[1])+2)*4:]
			continue
		}
		break
	}
	sp.outerSrc = netip.AddrFrom16([16]byte(b[8:24]))
	sp.outerDst = netip.AddrFrom16([16]byte(b[24:40]))
	return sp.protoNext(proto), rest, false, nil
}
