package decode

import (
	"encoding/binary"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// 802.11 captures: a monitor-mode capture holds each frame as the radio
// saw it, behind a radiotap or PPI header (or none). A data frame carries
// its packet after an LLC/SNAP header, like FDDI; a protected frame's
// body is encrypted (WEP, TKIP, CCMP/GCMP) and cannot be read without the
// keys, so the walk stops there and says so. gopacket's RadioTap and
// Dot11 layers decode every radiotap field and information element, with
// allocations; these step over what the walk does not need.

// Link types of 802.11 captures.
const (
	linkType80211      = 105
	linkTypeRadiotap   = 127
	linkTypePPI        = 192
	ppiDLT80211        = 105 // the PPI header's "DLT of what follows"
	dot11TypeData      = 2
	dot11FlagToDS      = 0x01
	dot11FlagFromDS    = 0x02
	dot11FlagProtected = 0x40
	dot11FlagOrder     = 0x80
)

// Layer types of the headers below.
var (
	LayerTypeRadiotapHeader = gopacket.RegisterLayerType(3112, gopacket.LayerTypeMetadata{Name: "radiotap"})
	LayerTypePPIHeader      = gopacket.RegisterLayerType(3113, gopacket.LayerTypeMetadata{Name: "PPI"})
	LayerTypeDot11Frame     = gopacket.RegisterLayerType(3114, gopacket.LayerTypeMetadata{Name: "802.11"})
)

// RadiotapHeader is a radiotap header (radiotap.org): version 0, then its
// own length, little-endian, which the walk steps over. Its fields (rate,
// channel, signal) say nothing about TCP.
type RadiotapHeader struct {
	layers.BaseLayer
	Length int
}

func (r *RadiotapHeader) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 8 || b[0] != 0 {
		return errLayerShort
	}
	r.Length = int(binary.LittleEndian.Uint16(b[2:]))
	if r.Length < 8 || len(b) < r.Length {
		return errLayerShort
	}
	r.BaseLayer = layers.BaseLayer{Contents: b[:r.Length], Payload: b[r.Length:]}
	return nil
}

func (r *RadiotapHeader) CanDecode() gopacket.LayerClass    { return LayerTypeRadiotapHeader }
func (r *RadiotapHeader) LayerType() gopacket.LayerType     { return LayerTypeRadiotapHeader }
func (r *RadiotapHeader) NextLayerType() gopacket.LayerType { return LayerTypeDot11Frame }

// PPIHeader is a Per-Packet Information header (CACE's PPI): version 0,
// flags, its length and the link type of what follows, little-endian.
type PPIHeader struct {
	layers.BaseLayer
	DLT uint32
}

func (p *PPIHeader) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 8 || b[0] != 0 {
		return errLayerShort
	}
	n := int(binary.LittleEndian.Uint16(b[2:]))
	if n < 8 || len(b) < n {
		return errLayerShort
	}
	p.DLT = binary.LittleEndian.Uint32(b[4:])
	p.BaseLayer = layers.BaseLayer{Contents: b[:n], Payload: b[n:]}
	return nil
}

func (p *PPIHeader) CanDecode() gopacket.LayerClass { return LayerTypePPIHeader }
func (p *PPIHeader) LayerType() gopacket.LayerType  { return LayerTypePPIHeader }
func (p *PPIHeader) NextLayerType() gopacket.LayerType {
	if p.DLT == ppiDLT80211 {
		return LayerTypeDot11Frame
	}
	return gopacket.LayerTypePayload
}

// Dot11Frame is an 802.11 MAC header (IEEE 802.11-2020 §9.2): frame
// control, duration, three addresses, sequence control, a fourth address
// between two distribution systems, QoS control in QoS data frames and HT
// control when the Order bit is set on one. Its payload is the frame body.
type Dot11Frame struct {
	layers.BaseLayer
	Type, Subtype uint8
	Flags         uint8
}

// Protected reports whether the body is encrypted.
func (d *Dot11Frame) Protected() bool { return d.Flags&dot11FlagProtected != 0 }

// HasBody reports whether a data frame carries a packet: Null and QoS
// Null (subtype bit 2) carry none.
func (d *Dot11Frame) HasBody() bool { return d.Type == dot11TypeData && d.Subtype&0x4 == 0 }

func (d *Dot11Frame) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 2 {
		return errLayerShort
	}
	d.Type = b[0] >> 2 & 3
	d.Subtype = b[0] >> 4
	d.Flags = b[1]
	n := 24
	if d.Type != dot11TypeData {
		// Management and control frames: the walk stops at them, with no
		// need for their header's length.
		n = min(len(b), 24)
	} else {
		if d.Flags&(dot11FlagToDS|dot11FlagFromDS) == dot11FlagToDS|dot11FlagFromDS {
			n += 6 // a fourth address
		}
		if d.Subtype&0x8 != 0 { // QoS data
			n += 2
			if d.Flags&dot11FlagOrder != 0 {
				n += 4 // HT control
			}
		}
		if len(b) < n {
			return errLayerShort
		}
	}
	d.BaseLayer = layers.BaseLayer{Contents: b[:n], Payload: b[n:]}
	return nil
}

func (d *Dot11Frame) CanDecode() gopacket.LayerClass    { return LayerTypeDot11Frame }
func (d *Dot11Frame) LayerType() gopacket.LayerType     { return LayerTypeDot11Frame }
func (d *Dot11Frame) NextLayerType() gopacket.LayerType { return layers.LayerTypeLLC }

// dot11Next is where the walk goes after an 802.11 header.
func (sp *slowPath) dot11Next(d *Dot11Frame) next {
	switch {
	case d.Type == 0:
		return sp.stop(Undecoded{Kind: UndecodedLinkProtocol, Detail: "802.11 management frame"})
	case d.Type == 1:
		return sp.stop(Undecoded{Kind: UndecodedLinkProtocol, Detail: "802.11 control frame"})
	case d.Type != dot11TypeData:
		return sp.stop(Undecoded{Kind: UndecodedLinkProtocol, Detail: "802.11 frame of reserved type"})
	case !d.HasBody():
		return sp.stop(Undecoded{Kind: UndecodedLinkProtocol, Detail: "802.11 null data frame"})
	case d.Protected():
		return sp.stop(Undecoded{Kind: UndecodedLinkProtocol, Detail: "802.11 protected frame (encrypted)"})
	}
	return to(layers.LayerTypeLLC)
}
