package decode

import (
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Juniper is the header Juniper routers put before captured packets
// (LINKTYPE_JUNIPER_*): the magic "MGC", a flags byte, optional
// extension TLVs, and then, for the link types read here, either an
// Ethernet frame or — when the "no L2" flag is set — four bytes and an
// IP packet.
type Juniper struct {
	layers.BaseLayer
	Flags byte
	ether bool // an Ethernet frame follows (JUNIPER_ETHER and friends)
	next  next
}

// Juniper's flags.
const (
	juniperExtensions = 0x80
	juniperNoL2       = 0x02
)

// Juniper link types whose payload the slow path reads.
const (
	linkTypeJuniperEther   = 178
	linkTypeJuniperPPPoE   = 167
	linkTypeJuniperES      = 132
	linkTypeJuniperMon     = 164
	linkTypeJuniperSvcs    = 136
	linkTypeJuniperGGSN    = 133
	linkTypeJuniperVP      = 183
	linkTypeJuniperST      = 200
	linkTypeJuniperPICPeer = 174
)

func (j *Juniper) DecodeFromBytes(b []byte, df gopacket.DecodeFeedback) error {
	if len(b) < 4 || b[0] != 'M' || b[1] != 'G' || b[2] != 'C' {
		return errLayerShort
	}
	j.Flags = b[3]
	n := 4
	if j.Flags&juniperExtensions != 0 {
		if len(b) < 6 {
			return errLayerShort
		}
		n = 6 + int(b[4])<<8 | int(b[5])
	}
	switch {
	case j.Flags&juniperNoL2 != 0:
		n += 4
		j.next = to(layers.LayerTypeIPv4) // turns to IPv6 on a 6 nibble
	case j.ether:
		j.next = to(layers.LayerTypeEthernet)
	default:
		j.next = to(layers.LayerTypeIPv4)
	}
	if len(b) < n {
		return errLayerShort
	}
	j.BaseLayer = layers.BaseLayer{Contents: b[:n], Payload: b[n:]}
	return nil
}

func (j *Juniper) CanDecode() gopacket.LayerClass    { return LayerTypeJuniper }
func (j *Juniper) LayerType() gopacket.LayerType     { return LayerTypeJuniper }
func (j *Juniper) NextLayerType() gopacket.LayerType { return j.next.layer }

// juniperLink reports whether lt is a Juniper link type the slow path
// reads, and readies its Juniper layer.
func (sp *slowPath) juniperLink(lt layers.LinkType) (next, bool) {
	switch lt {
	case linkTypeJuniperEther, linkTypeJuniperPPPoE:
		sp.juniper.ether = true
	case linkTypeJuniperES, linkTypeJuniperMon, linkTypeJuniperSvcs, linkTypeJuniperGGSN, linkTypeJuniperVP, linkTypeJuniperST, linkTypeJuniperPICPeer:
		sp.juniper.ether = false
	default:
		return next{}, false
	}
	return to(LayerTypeJuniper), true
}
