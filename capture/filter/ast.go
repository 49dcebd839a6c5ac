package filter

import (
	"fmt"
	"math/bits"
	"net/netip"
)

// Expr is a parsed filter expression. Its String method prints it back in
// pcap-filter syntax with every qualifier spelled out and every binary
// operator parenthesised, so that libpcap and Parse read it the same way.
// A nil Expr (the empty expression) accepts every packet.
type Expr interface {
	String() string
	expr()
}

// And is true when both X and Y are; X is evaluated first.
type And struct{ X, Y Expr }

// Or is true when X or Y is; X is evaluated first.
type Or struct{ X, Y Expr }

// Not inverts X.
type Not struct{ X Expr }

// Proto is a protocol primitive: "ip", "ip6", "tcp" or "udp". As in libpcap,
// "tcp" and "udp" match over IPv4 and IPv6.
type Proto struct{ Name string }

// Dir says which address or port of a packet a primitive looks at.
type Dir int

const (
	DirAny       Dir = iota // no qualifier: source or destination
	DirSrc                  // src
	DirDst                  // dst
	DirSrcOrDst             // src or dst (the same as no qualifier)
	DirSrcAndDst            // src and dst
)

func (d Dir) String() string {
	switch d {
	case DirSrc:
		return "src"
	case DirDst:
		return "dst"
	case DirSrcOrDst:
		return "src or dst"
	case DirSrcAndDst:
		return "src and dst"
	}
	return ""
}

// Host matches packets whose address (per Dir) masked with Mask equals
// Addr. Addr and Mask are both IPv4 or both IPv6; "host" primitives have
// an all-ones mask, "net" primitives a shorter one (IPv4 masks written with
// "mask" need not be contiguous). Proto is "", "ip" or "ip6"; an IPv4 Host
// with no Proto also matches ARP and RARP, as in libpcap.
type Host struct {
	Proto string
	Dir   Dir
	Addr  netip.Addr
	Mask  netip.Addr
}

// Port matches TCP, UDP and SCTP ports in [Lo, Hi] over IPv4 and IPv6, or
// only those of Proto ("tcp" or "udp") when it is set. "port N" has Lo == Hi.
type Port struct {
	Proto  string
	Dir    Dir
	Lo, Hi uint16
}

func (And) expr()   {}
func (Or) expr()    {}
func (Not) expr()   {}
func (Proto) expr() {}
func (Host) expr()  {}
func (Port) expr()  {}

func (e And) String() string   { return "(" + e.X.String() + " and " + e.Y.String() + ")" }
func (e Or) String() string    { return "(" + e.X.String() + " or " + e.Y.String() + ")" }
func (e Not) String() string   { return "not " + e.X.String() }
func (e Proto) String() string { return e.Name }

// qualifiers prints the protocol and direction qualifiers of a primitive.
func qualifiers(proto string, d Dir) string {
	s := ""
	if proto != "" {
		s = proto + " "
	}
	if d != DirAny {
		s += d.String() + " "
	}
	return s
}

func (e Host) String() string {
	q := qualifiers(e.Proto, e.Dir)
	m := e.Mask.AsSlice()
	ones := 0
	for _, b := range m {
		ones += bits.OnesCount8(b)
	}
	// The mask is contiguous when it equals the prefix mask of its length.
	contiguous := true
	for i, b := range m {
		want := byte(0xff)
		switch {
		case ones <= i*8:
			want = 0
		case ones < i*8+8:
			want = ^byte(0xff >> (ones - i*8))
		}
		contiguous = contiguous && b == want
	}
	switch {
	case ones == len(m)*8:
		return fmt.Sprintf("%shost %s", q, e.Addr)
	case contiguous:
		return fmt.Sprintf("%snet %s/%d", q, e.Addr, ones)
	default:
		return fmt.Sprintf("%snet %s mask %s", q, e.Addr, e.Mask)
	}
}

func (e Port) String() string {
	q := qualifiers(e.Proto, e.Dir)
	if e.Lo == e.Hi {
		return fmt.Sprintf("%sport %d", q, e.Lo)
	}
	return fmt.Sprintf("%sportrange %d-%d", q, e.Lo, e.Hi)
}
