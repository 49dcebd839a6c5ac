package decode

import (
	"hash/maphash"
	"net/netip"
	"strconv"
)

// TunnelKind names the encapsulation that gives a tunnel its identity.
type TunnelKind uint8

// The tunnels the slow path follows. Link layers it steps through (PPP,
// PPPoE, LLC/SNAP, NFLOG, IPoIB, Juniper, FDDI, ARCNET, VLAN tags) are
// not tunnels: they carry one host's traffic, not an overlay's.
const (
	NoTunnel TunnelKind = iota
	TunnelVXLAN
	TunnelVXLANGPE
	TunnelGeneve
	TunnelGRE
	TunnelERSPAN
	TunnelGTPU
	TunnelMPLS
	TunnelIPinIP // IPv4 or IPv6 in IPv4 or IPv6 (IP-in-IP, 4in6, 6in4, 6to4)
	TunnelTeredo
	TunnelAYIYA
	TunnelEtherIP
	TunnelWCCP
)

var tunnelNames = [...]string{
	NoTunnel:       "",
	TunnelVXLAN:    "VXLAN",
	TunnelVXLANGPE: "VXLAN-GPE",
	TunnelGeneve:   "Geneve",
	TunnelGRE:      "GRE",
	TunnelERSPAN:   "ERSPAN",
	TunnelGTPU:     "GTP-U",
	TunnelMPLS:     "MPLS",
	TunnelIPinIP:   "IP-in-IP",
	TunnelTeredo:   "Teredo",
	TunnelAYIYA:    "AYIYA",
	TunnelEtherIP:  "EtherIP",
	TunnelWCCP:     "WCCP",
}

func (k TunnelKind) String() string {
	if int(k) < len(tunnelNames) {
		return tunnelNames[k]
	}
	return "tunnel " + strconv.Itoa(int(k))
}

// idName is what a tunnel's identifier is called.
func (k TunnelKind) idName() string {
	switch k {
	case TunnelVXLAN, TunnelVXLANGPE, TunnelGeneve:
		return "VNI"
	case TunnelGRE:
		return "key"
	case TunnelERSPAN:
		return "session"
	case TunnelGTPU:
		return "TEID"
	}
	return "id"
}

// maxLabels is how many MPLS labels a Tunnel keeps, outermost first.
// Deeper labels are still stepped over; they do not tell flows apart.
const maxLabels = 4

// Tunnel is the innermost tunnel a segment travelled in. Two segments
// with the same addresses and ports belong to the same connection only
// if their Tunnels are equal, or one of them came through no tunnel
// (a mirror or a bypass of the same flow).
type Tunnel struct {
	Kind  TunnelKind
	HasID bool
	// ID is the VXLAN/Geneve VNI, the GRE key, the ERSPAN session or the
	// GTP-U TEID.
	ID uint32
	// Labels is the MPLS label stack, outermost first; NLabels of them
	// are set.
	Labels  [maxLabels]uint32
	NLabels uint8
	// Outer holds the outer IP header's addresses, lower first: the
	// tunnel's endpoints. Both are invalid when the tunnel has no outer
	// IP header (MPLS on a link).
	Outer [2]netip.Addr
}

// Name says which tunnel it is without its endpoints: "VXLAN VNI 42",
// "GRE key 7", "MPLS labels 16/17", "IP-in-IP".
func (t *Tunnel) Name() string {
	b := []byte(t.Kind.String())
	if t.HasID {
		b = append(b, ' ')
		b = append(b, t.Kind.idName()...)
		b = append(b, ' ')
		b = strconv.AppendUint(b, uint64(t.ID), 10)
	}
	if t.NLabels > 0 {
		if t.Kind == TunnelMPLS {
			b = append(b, " label"...)
		} else {
			b = append(b, ", MPLS label"...)
		}
		if t.NLabels > 1 {
			b = append(b, 's')
		}
		for i := range t.NLabels {
			if i == 0 {
				b = append(b, ' ')
			} else {
				b = append(b, '/')
			}
			b = strconv.AppendUint(b, uint64(t.Labels[i]), 10)
		}
	}
	return string(b)
}

// String is the Name and the endpoints: "VXLAN VNI 42 between 10.0.0.1
// and 10.0.0.2".
func (t *Tunnel) String() string {
	if !t.Outer[0].IsValid() {
		return t.Name()
	}
	return t.Name() + " between " + t.Outer[0].String() + " and " + t.Outer[1].String()
}

// setOuter records the tunnel's endpoints in a fixed order, so that both
// directions of a tunnel have the same identity.
func (t *Tunnel) setOuter(a, b netip.Addr) {
	if a.Compare(b) > 0 {
		a, b = b, a
	}
	t.Outer = [2]netip.Addr{a, b}
}

var tunnelSeed = maphash.MakeSeed()

// key is the tunnel's part of a connection key; never 0 for a tunnel, 0
// for no tunnel. Distinct tunnels could share a key with odds of 2⁻⁶⁴;
// that would merge their flows of equal 4-tuples, nothing worse.
func (t *Tunnel) key() uint64 {
	if t == nil || t.Kind == NoTunnel {
		return 0
	}
	return maphash.Comparable(tunnelSeed, *t) | 1
}
