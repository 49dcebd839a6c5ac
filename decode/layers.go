package decode

import (
	"encoding/binary"
	"errors"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Layers gopacket lacks, or has only as full-decode functions (PPP,
// PPPoE, MPLS, FDDI), written as gopacket.DecodingLayers: DecodeFromBytes
// fills the value without allocating, LayerPayload is what follows, and
// NextLayerType names it the way gopacket's own layers do. The slow path
// (slowpath.go) chains them with gopacket's layers.

// Layer types of the layers below, registered with gopacket so that they
// print by name. 3100 and up is far from gopacket's own numbers.
var (
	LayerTypeNFLOG     = gopacket.RegisterLayerType(3101, gopacket.LayerTypeMetadata{Name: "NFLOG"})
	LayerTypeIPoIB     = gopacket.RegisterLayerType(3102, gopacket.LayerTypeMetadata{Name: "IPoIB"})
	LayerTypeARCNET    = gopacket.RegisterLayerType(3103, gopacket.LayerTypeMetadata{Name: "ARCNET"})
	LayerTypeJuniper   = gopacket.RegisterLayerType(3104, gopacket.LayerTypeMetadata{Name: "Juniper"})
	LayerTypeERSPANIII = gopacket.RegisterLayerType(3105, gopacket.LayerTypeMetadata{Name: "ERSPAN Type III"})
	LayerTypeVXLANGPE  = gopacket.RegisterLayerType(3106, gopacket.LayerTypeMetadata{Name: "VXLAN-GPE"})
	LayerTypeNSH       = gopacket.RegisterLayerType(3107, gopacket.LayerTypeMetadata{Name: "NSH"})
	LayerTypeTeredo    = gopacket.RegisterLayerType(3108, gopacket.LayerTypeMetadata{Name: "Teredo"})
	LayerTypeAYIYA     = gopacket.RegisterLayerType(3109, gopacket.LayerTypeMetadata{Name: "AYIYA"})
	LayerTypeCiscoHDLC = gopacket.RegisterLayerType(3110, gopacket.LayerTypeMetadata{Name: "Cisco HDLC"})
	LayerTypeShim      = gopacket.RegisterLayerType(3111, gopacket.LayerTypeMetadata{Name: "shim header"})
)

var errLayerShort = errors.New("header cut short")

// etherLayer names the layer an EtherType announces.
func etherLayer(t uint16) gopacket.LayerType { return layers.EthernetType(t).LayerType() }

// PPPFrame is a PPP header (RFC 1661), with or without the HDLC-like
// address and control bytes (RFC 1662) and with a one- or two-byte
// protocol field. gopacket's PPP layer is not a DecodingLayer.
type PPPFrame struct {
	layers.BaseLayer
	Protocol uint16
}

func (p *PPPFrame) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	n := 0
	if len(b) >= 2 && b[0] == 0xFF && b[1] == 0x03 {
		n = 2
	}
	if len(b) < n+1 {
		return errLayerShort
	}
	if b[n]&1 == 1 { // a compressed, one-byte protocol field
		p.Protocol = uint16(b[n])
		n++
	} else {
		if len(b) < n+2 {
			return errLayerShort
		}
		p.Protocol = binary.BigEndian.Uint16(b[n:])
		n += 2
	}
	p.BaseLayer = layers.BaseLayer{Contents: b[:n], Payload: b[n:]}
	return nil
}

func (p *PPPFrame) CanDecode() gopacket.LayerClass { return layers.LayerTypePPP }
func (p *PPPFrame) LayerType() gopacket.LayerType  { return layers.LayerTypePPP }
func (p *PPPFrame) NextLayerType() gopacket.LayerType {
	if t, ok := pppEtherType(p.Protocol); ok {
		return etherLayer(t)
	}
	return gopacket.LayerTypePayload
}

// pppEtherType maps the PPP protocols that carry packets socktrace can
// follow to EtherTypes.
func pppEtherType(proto uint16) (uint16, bool) {
	switch proto {
	case 0x0021:
		return etherTypeIPv4, true
	case 0x0057:
		return etherTypeIPv6, true
	case 0x0281:
		return etherTypeMPLS, true
	case 0x0031: // bridged Ethernet (RFC 3518), with a two-byte pad
		return etherTypeTEB, true
	}
	return 0, false
}

// PPPoESession is the PPPoE header of the session stage (RFC 2516); PPP
// without address and control bytes follows it.
type PPPoESession struct {
	layers.BaseLayer
	SessionID uint16
	Length    uint16
}

func (p *PPPoESession) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 6 {
		return errLayerShort
	}
	p.SessionID = binary.BigEndian.Uint16(b[2:])
	p.Length = binary.BigEndian.Uint16(b[4:])
	end := 6 + int(p.Length)
	if end > len(b) {
		end = len(b)
	}
	p.BaseLayer = layers.BaseLayer{Contents: b[:6], Payload: b[6:end]}
	return nil
}

func (p *PPPoESession) CanDecode() gopacket.LayerClass    { return layers.LayerTypePPPoE }
func (p *PPPoESession) LayerType() gopacket.LayerType     { return layers.LayerTypePPPoE }
func (p *PPPoESession) NextLayerType() gopacket.LayerType { return layers.LayerTypePPP }

// MPLSStack is a whole MPLS label stack (RFC 3032), read to its bottom.
// The first maxLabels labels are kept; the payload's kind is guessed the
// way every decoder guesses it, from its first nibble.
type MPLSStack struct {
	layers.BaseLayer
	Labels [maxLabels]uint32
	Depth  int // labels in the stack, kept or not
}

// maxStack bounds the label stack: 32 labels is far beyond any network's.
const maxStack = 32

var errMPLSDeep = errors.New("MPLS label stack deeper than 32")

func (m *MPLSStack) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	m.Depth = 0
	for off := 0; ; off += 4 {
		if len(b) < off+4 {
			return errLayerShort
		}
		if m.Depth == maxStack {
			return errMPLSDeep
		}
		entry := binary.BigEndian.Uint32(b[off:])
		if m.Depth < maxLabels {
			m.Labels[m.Depth] = entry >> 12
		}
		m.Depth++
		if entry&0x100 != 0 { // bottom of stack
			m.BaseLayer = layers.BaseLayer{Contents: b[:off+4], Payload: b[off+4:]}
			return nil
		}
	}
}

func (m *MPLSStack) CanDecode() gopacket.LayerClass { return layers.LayerTypeMPLS }
func (m *MPLSStack) LayerType() gopacket.LayerType  { return layers.LayerTypeMPLS }

// NextLayerType guesses from the first nibble: 4 is IPv4, 6 is IPv6, 0
// is a pseudowire control word before an Ethernet frame (RFC 4385).
func (m *MPLSStack) NextLayerType() gopacket.LayerType {
	if len(m.Payload) == 0 {
		return gopacket.LayerTypeZero
	}
	switch m.Payload[0] >> 4 {
	case 4:
		return layers.LayerTypeIPv4
	case 6:
		return layers.LayerTypeIPv6
	case 0:
		return LayerTypeShim
	}
	return layers.LayerTypeEthernet
}

// FDDIFrame is an FDDI MAC header: frame control and two addresses; LLC
// follows. gopacket's FDDI layer is not a DecodingLayer.
type FDDIFrame struct {
	layers.BaseLayer
	FrameControl byte
}

func (f *FDDIFrame) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 13 {
		return errLayerShort
	}
	f.FrameControl = b[0]
	f.BaseLayer = layers.BaseLayer{Contents: b[:13], Payload: b[13:]}
	return nil
}

func (f *FDDIFrame) CanDecode() gopacket.LayerClass    { return layers.LayerTypeFDDI }
func (f *FDDIFrame) LayerType() gopacket.LayerType     { return layers.LayerTypeFDDI }
func (f *FDDIFrame) NextLayerType() gopacket.LayerType { return layers.LayerTypeLLC }

// NFLOG is the header of LINKTYPE_NFLOG (Linux netfilter's log): an
// address family, then type-length-value attributes in the writer's byte
// order (little-endian on every machine tcpdump's captures came from),
// each padded to four bytes. Attribute 9 holds the packet.
type NFLOG struct {
	layers.BaseLayer
	Family byte
}

const nflogPayload = 9

var errNFLOGNoPayload = errors.New("NFLOG record without a packet")

func (n *NFLOG) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 4 {
		return errLayerShort
	}
	n.Family = b[0]
	off := 4
	// Each attribute takes at least 4 bytes, so the loop ends.
	for off+4 <= len(b) {
		length := int(binary.LittleEndian.Uint16(b[off:]))
		typ := binary.LittleEndian.Uint16(b[off+2:])
		if length < 4 {
			return errLayerShort
		}
		end := off + length
		if typ&0x7FFF == nflogPayload {
			if end > len(b) {
				end = len(b)
			}
			n.BaseLayer = layers.BaseLayer{Contents: b[:off+4], Payload: b[off+4 : end]}
			return nil
		}
		off += (length + 3) &^ 3
	}
	return errNFLOGNoPayload
}

func (n *NFLOG) CanDecode() gopacket.LayerClass { return LayerTypeNFLOG }
func (n *NFLOG) LayerType() gopacket.LayerType  { return LayerTypeNFLOG }
func (n *NFLOG) NextLayerType() gopacket.LayerType {
	switch n.Family {
	case 2:
		return layers.LayerTypeIPv4
	case 10:
		return layers.LayerTypeIPv6
	}
	return gopacket.LayerTypePayload
}

// IPoIB is the header of LINKTYPE_IPOIB (RFC 4391 as Linux captures
// it): a 40-byte pair of InfiniBand addresses, then the 4-byte
// encapsulation header whose first half is an EtherType.
type IPoIB struct {
	layers.BaseLayer
	EtherType uint16
}

func (p *IPoIB) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 44 {
		return errLayerShort
	}
	p.EtherType = binary.BigEndian.Uint16(b[40:])
	p.BaseLayer = layers.BaseLayer{Contents: b[:44], Payload: b[44:]}
	return nil
}

func (p *IPoIB) CanDecode() gopacket.LayerClass    { return LayerTypeIPoIB }
func (p *IPoIB) LayerType() gopacket.LayerType     { return LayerTypeIPoIB }
func (p *IPoIB) NextLayerType() gopacket.LayerType { return etherLayer(p.EtherType) }

// ARCNET is an ARCNET header (RFC 1051 and RFC 1201) as LINKTYPE_ARCNET_BSD
// (7) stores it: source, destination and a protocol ID; RFC 1201's
// protocols add a split flag and a sequence number, and an exception
// packet four bytes more. LINKTYPE_ARCNET_LINUX (129) has a two-byte
// offset field after the addresses.
type ARCNET struct {
	layers.BaseLayer
	Protocol byte
	Linux    bool // set before decoding a LINKTYPE_ARCNET_LINUX frame
}

// ARCNET protocol IDs.
const (
	arcIPv4Old = 240 // RFC 1051
	arcARPOld  = 241
	arcIPv4    = 212 // RFC 1201
	arcIPv6    = 196
)

func (a *ARCNET) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	off := 2
	if a.Linux {
		off = 4
	}
	if len(b) < off+1 {
		return errLayerShort
	}
	a.Protocol = b[off]
	off++
	switch a.Protocol {
	case arcIPv4Old, arcARPOld:
	default:
		// RFC 1201: split flag and a two-byte sequence number; a split
		// flag of 0xFF marks an exception packet, whose real header
		// follows four padding bytes.
		if len(b) < off+3 {
			return errLayerShort
		}
		if b[off] == 0xFF {
			off += 4
			if len(b) < off+4 {
				return errLayerShort
			}
			a.Protocol = b[off-1]
		}
		off += 3
	}
	a.BaseLayer = layers.BaseLayer{Contents: b[:off], Payload: b[off:]}
	return nil
}

func (a *ARCNET) CanDecode() gopacket.LayerClass { return LayerTypeARCNET }
func (a *ARCNET) LayerType() gopacket.LayerType  { return LayerTypeARCNET }
func (a *ARCNET) NextLayerType() gopacket.LayerType {
	switch a.Protocol {
	case arcIPv4Old, arcIPv4:
		return layers.LayerTypeIPv4
	case arcIPv6:
		return layers.LayerTypeIPv6
	}
	return gopacket.LayerTypePayload
}

// CiscoHDLC is a Cisco HDLC header (LINKTYPE_C_HDLC): address, control
// and an EtherType.
type CiscoHDLC struct {
	layers.BaseLayer
	EtherType uint16
}

func (c *CiscoHDLC) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 4 {
		return errLayerShort
	}
	c.EtherType = binary.BigEndian.Uint16(b[2:])
	c.BaseLayer = layers.BaseLayer{Contents: b[:4], Payload: b[4:]}
	return nil
}

func (c *CiscoHDLC) CanDecode() gopacket.LayerClass    { return LayerTypeCiscoHDLC }
func (c *CiscoHDLC) LayerType() gopacket.LayerType     { return LayerTypeCiscoHDLC }
func (c *CiscoHDLC) NextLayerType() gopacket.LayerType { return etherLayer(c.EtherType) }

// ERSPANIII is the ERSPAN Type III header (draft-foschiano-erspan): 12
// bytes, then 8 of platform-specific subheader when the O bit is set.
// Frame type 0 is Ethernet, 2 an IP packet.
type ERSPANIII struct {
	layers.BaseLayer
	SessionID uint16
	FrameType uint8
}

func (e *ERSPANIII) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 12 {
		return errLayerShort
	}
	e.SessionID = binary.BigEndian.Uint16(b[2:]) & 0x3FF
	e.FrameType = b[10] >> 2 & 0x1F
	n := 12
	if b[11]&1 != 0 {
		n += 8
	}
	if len(b) < n {
		return errLayerShort
	}
	e.BaseLayer = layers.BaseLayer{Contents: b[:n], Payload: b[n:]}
	return nil
}

func (e *ERSPANIII) CanDecode() gopacket.LayerClass { return LayerTypeERSPANIII }
func (e *ERSPANIII) LayerType() gopacket.LayerType  { return LayerTypeERSPANIII }
func (e *ERSPANIII) NextLayerType() gopacket.LayerType {
	switch e.FrameType {
	case 0:
		return layers.LayerTypeEthernet
	case 2:
		if len(e.Payload) > 0 && e.Payload[0]>>4 == 6 {
			return layers.LayerTypeIPv6
		}
		return layers.LayerTypeIPv4
	}
	return gopacket.LayerTypePayload
}

// gpeNext maps VXLAN-GPE's and NSH's next-protocol numbers to layers.
func gpeNext(p byte) gopacket.LayerType {
	switch p {
	case 1:
		return layers.LayerTypeIPv4
	case 2:
		return layers.LayerTypeIPv6
	case 3:
		return layers.LayerTypeEthernet
	case 4:
		return LayerTypeNSH
	case 5:
		return layers.LayerTypeMPLS
	}
	return gopacket.LayerTypePayload
}

// VXLANGPE is the VXLAN Generic Protocol Extension header
// (draft-ietf-nvo3-vxlan-gpe): flags, a next-protocol number and a VNI.
type VXLANGPE struct {
	layers.BaseLayer
	NextProtocol byte
	VNI          uint32
}

func (v *VXLANGPE) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 8 {
		return errLayerShort
	}
	v.NextProtocol = b[3]
	v.VNI = binary.BigEndian.Uint32(b[4:]) >> 8
	v.BaseLayer = layers.BaseLayer{Contents: b[:8], Payload: b[8:]}
	return nil
}

func (v *VXLANGPE) CanDecode() gopacket.LayerClass    { return LayerTypeVXLANGPE }
func (v *VXLANGPE) LayerType() gopacket.LayerType     { return LayerTypeVXLANGPE }
func (v *VXLANGPE) NextLayerType() gopacket.LayerType { return gpeNext(v.NextProtocol) }

// NSH is a Network Service Header (RFC 8300); its length field counts
// 4-byte words of the whole header.
type NSH struct {
	layers.BaseLayer
	NextProtocol byte
}

func (n *NSH) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 8 {
		return errLayerShort
	}
	hl := int(binary.BigEndian.Uint16(b)&0x3F) * 4
	if hl < 8 || len(b) < hl {
		return errLayerShort
	}
	n.NextProtocol = b[3]
	n.BaseLayer = layers.BaseLayer{Contents: b[:hl], Payload: b[hl:]}
	return nil
}

func (n *NSH) CanDecode() gopacket.LayerClass    { return LayerTypeNSH }
func (n *NSH) LayerType() gopacket.LayerType     { return LayerTypeNSH }
func (n *NSH) NextLayerType() gopacket.LayerType { return gpeNext(n.NextProtocol) }

// Teredo is what precedes the IPv6 packet in a Teredo datagram (RFC
// 4380): optional authentication and origin-indication headers.
type Teredo struct{ layers.BaseLayer }

func (t *Teredo) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	off := 0
	if len(b) >= 4 && b[0] == 0 && b[1] == 1 { // authentication
		n := 13 + int(b[2]) + int(b[3])
		if len(b) < n {
			return errLayerShort
		}
		off = n
	}
	if len(b) >= off+8 && b[off] == 0 && b[off+1] == 0 { // origin indication
		off += 8
	}
	t.BaseLayer = layers.BaseLayer{Contents: b[:off], Payload: b[off:]}
	return nil
}

func (t *Teredo) CanDecode() gopacket.LayerClass    { return LayerTypeTeredo }
func (t *Teredo) LayerType() gopacket.LayerType     { return LayerTypeTeredo }
func (t *Teredo) NextLayerType() gopacket.LayerType { return layers.LayerTypeIPv6 }

// AYIYA is the "Anything In Anything" header (SixXS): sizes of an
// identity and a signature, then the next header's IP protocol number.
type AYIYA struct {
	layers.BaseLayer
	NextHeader byte
}

func (a *AYIYA) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 8 {
		return errLayerShort
	}
	n := 8 + 1<<(b[0]>>4) + 4*int(b[1]>>4)
	if len(b) < n {
		return errLayerShort
	}
	a.NextHeader = b[3]
	a.BaseLayer = layers.BaseLayer{Contents: b[:n], Payload: b[n:]}
	return nil
}

func (a *AYIYA) CanDecode() gopacket.LayerClass { return LayerTypeAYIYA }
func (a *AYIYA) LayerType() gopacket.LayerType  { return LayerTypeAYIYA }
func (a *AYIYA) NextLayerType() gopacket.LayerType {
	return layers.IPProtocol(a.NextHeader).LayerType()
}

// Shim is a fixed-size header the slow path steps over to reach an
// EtherType or a frame: a pseudowire control word, WCCP's redirect
// header, an 802.1ah I-TAG, a VN-Tag. Size and Next are set before
// decoding.
type Shim struct {
	layers.BaseLayer
	Size int
	Next gopacket.LayerType
}

func (s *Shim) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < s.Size {
		return errLayerShort
	}
	s.BaseLayer = layers.BaseLayer{Contents: b[:s.Size], Payload: b[s.Size:]}
	return nil
}

func (s *Shim) CanDecode() gopacket.LayerClass    { return LayerTypeShim }
func (s *Shim) LayerType() gopacket.LayerType     { return LayerTypeShim }
func (s *Shim) NextLayerType() gopacket.LayerType { return s.Next }

// GeneveHeader is a Geneve header (RFC 8926): version, options length,
// O and C flags, the inner protocol's EtherType and the VNI, then the
// options, which it steps over. gopacket's Geneve layer allocates every
// option it decodes; this one allocates nothing, so a Geneve packet with
// options costs the slow path no allocation.
type GeneveHeader struct {
	layers.BaseLayer
	// OptionsLength is the options' length in bytes (the header says it
	// in 4-byte words): at most 252, so a length field never makes the
	// layer read past what the packet holds.
	OptionsLength int
	OAM           bool // a control message, not a tenant's packet
	Critical      bool // critical options are present
	Protocol      uint16
	VNI           uint32
}

// errGeneveVersion: RFC 8926 §3.4 has version 0 only; a receiver must
// drop any other, whose header it cannot know.
var errGeneveVersion = errors.New("Geneve version is not 0")

func (g *GeneveHeader) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 8 {
		return errLayerShort
	}
	if b[0]>>6 != 0 {
		return errGeneveVersion
	}
	g.OptionsLength = int(b[0]&0x3F) * 4
	n := 8 + g.OptionsLength
	if len(b) < n {
		return errLayerShort
	}
	g.OAM = b[1]&0x80 != 0
	g.Critical = b[1]&0x40 != 0
	g.Protocol = binary.BigEndian.Uint16(b[2:])
	g.VNI = binary.BigEndian.Uint32(b[4:]) >> 8
	g.BaseLayer = layers.BaseLayer{Contents: b[:n], Payload: b[n:]}
	return nil
}

func (g *GeneveHeader) CanDecode() gopacket.LayerClass { return layers.LayerTypeGeneve }
func (g *GeneveHeader) LayerType() gopacket.LayerType  { return layers.LayerTypeGeneve }
func (g *GeneveHeader) NextLayerType() gopacket.LayerType {
	return etherLayer(g.Protocol)
}
