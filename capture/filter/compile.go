package filter

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// ErrLinkType is the error for a link type the compiler has no header
// layout for.
var ErrLinkType = errors.New("filter: unsupported link type")

// MaxInstructions is the largest program the Linux kernel accepts
// (BPF_MAXINSNS); Compile fails rather than emit a longer one.
const MaxInstructions = 4096

// Compile compiles a pcap-filter expression to a classic BPF program for
// packets that begin with the given link-layer header. The program returns
// snaplen for a matching packet and 0 otherwise; the empty expression
// compiles to a program that accepts everything.
//
// Every jump in the program is forward and relative, and control never
// falls off its end, so a prefix may be put in front of it (a test of the
// packet type that drops loopback's outgoing copies, say) as long as the
// prefix's own jumps land inside the prefix or on the program's first
// instruction. An AF_PACKET socket of type SOCK_DGRAM shows filters the
// packet from its network header on: compile for layers.LinkTypeRaw there.
// The kernel charges a socket's filter against net.core.optmem_max; a
// program of a few thousand instructions, each load expanding to several
// eBPF instructions, may need that raised.
func Compile(expr string, linkType layers.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	x, err := Parse(expr)
	if err != nil {
		return nil, err
	}
	return CompileExpr(x, linkType, snaplen)
}

// CompileExpr is Compile for an already parsed expression.
func CompileExpr(x Expr, linkType layers.LinkType, snaplen int) ([]bpf.RawInstruction, error) {
	if snaplen <= 0 || int64(snaplen) > 1<<32-1 {
		return nil, fmt.Errorf("filter: snap length %d out of range (1 to 4294967295)", snaplen)
	}
	if err := validate(x); err != nil {
		return nil, err
	}
	l, err := linkFor(linkType)
	if err != nil {
		return nil, err
	}
	c := cTrue
	if x != nil {
		c = regroup(l.expr(x))
	}
	prog, err := generate(c, l.nl, uint32(snaplen))
	if err != nil {
		return nil, fmt.Errorf("filter: compiling for link type %s: %w", l.name, err)
	}
	return prog, nil
}

// validate checks a tree that may have been built by hand rather than by
// Parse, so that compiling it cannot go wrong half way.
func validate(x Expr) error {
	switch x := x.(type) {
	case nil:
		return nil
	case And:
		return errors.Join(validateChild(x.X), validateChild(x.Y))
	case Or:
		return errors.Join(validateChild(x.X), validateChild(x.Y))
	case Not:
		return validateChild(x.X)
	case Proto:
		switch x.Name {
		case "ip", "ip6", "tcp", "udp":
			return nil
		}
		return fmt.Errorf("filter: unsupported protocol %q in Proto", x.Name)
	case Host:
		if x.Dir < DirAny || x.Dir > DirSrcAndDst {
			return fmt.Errorf("filter: invalid direction %d in %s", int(x.Dir), x)
		}
		ok := x.Addr.Is4() && x.Mask.Is4() && (x.Proto == "" || x.Proto == "ip") ||
			x.Addr.Is6() && x.Mask.Is6() && x.Addr.Zone() == "" && (x.Proto == "" || x.Proto == "ip6")
		if !ok {
			return fmt.Errorf("filter: invalid Host %v/%v (proto %q): address and mask must be of one IP version and match the protocol", x.Addr, x.Mask, x.Proto)
		}
		a, m := x.Addr.AsSlice(), x.Mask.AsSlice()
		for i := range a {
			if a[i]&^m[i] != 0 {
				return fmt.Errorf("filter: invalid Host: address %v has bits outside mask %v", x.Addr, x.Mask)
			}
		}
		return nil
	case Port:
		if x.Dir < DirAny || x.Dir > DirSrcAndDst {
			return fmt.Errorf("filter: invalid direction %d in %s", int(x.Dir), x)
		}
		if x.Proto != "" && x.Proto != "tcp" && x.Proto != "udp" {
			return fmt.Errorf("filter: invalid protocol %q in Port (want \"\", \"tcp\" or \"udp\")", x.Proto)
		}
		return nil
	}
	return fmt.Errorf("filter: unknown expression type %T", x)
}

func validateChild(x Expr) error {
	if x == nil {
		return errors.New("filter: nil operand in And, Or or Not")
	}
	return validate(x)
}

// Ethernet types, as libpcap passes them to its link-type tests.
const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	etherARP  = 0x0806
	etherRARP = 0x8035
)

// IP protocol numbers.
const (
	protoTCP      = 6
	protoUDP      = 17
	protoSCTP     = 132
	protoFragment = 44 // IPv6 fragment header
)

// link describes where the network layer starts for one link type and how
// to tell which network protocol a packet carries.
type link struct {
	name  string                // as tcpdump -y names it
	nl    uint32                // offset of the network-layer header
	proto func(et uint16) *cond // tests for an Ethernet type
}

// nativeFamily converts an address family stored in host byte order (as
// DLT_NULL stores it) to the value a big-endian BPF word load sees.
func nativeFamily(af uint32) uint32 {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], af)
	return binary.BigEndian.Uint32(b[:])
}

// BSD address-family values in NULL and LOOP headers. AF_INET6 differs
// between systems; like libpcap reading a file, accept all three.
const (
	afInet         = 2
	afInet6BSD     = 24
	afInet6FreeBSD = 28
	afInet6Darwin  = 30
)

func linkFor(lt layers.LinkType) (*link, error) {
	typeAt := func(off uint32) func(uint16) *cond {
		return func(et uint16) *cond { return cTest(value{size: 2, off: off}, opJEQ, uint32(et)) }
	}
	switch lt {
	case layers.LinkTypeEthernet:
		return &link{name: "EN10MB", nl: 14, proto: typeAt(12)}, nil
	case layers.LinkTypeLinuxSLL:
		return &link{name: "LINUX_SLL", nl: 16, proto: typeAt(14)}, nil
	case layers.LinkTypeLinuxSLL2:
		return &link{name: "LINUX_SLL2", nl: 20, proto: typeAt(0)}, nil
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		fam := func(af uint32) *cond {
			if lt == layers.LinkTypeNull {
				af = nativeFamily(af)
			}
			return cTest(value{size: 4, off: 0}, opJEQ, af)
		}
		name := "NULL"
		if lt == layers.LinkTypeLoop {
			name = "LOOP"
		}
		return &link{name: name, nl: 4, proto: func(et uint16) *cond {
			switch et {
			case etherIPv4:
				return fam(afInet)
			case etherIPv6:
				return cOr(fam(afInet6Darwin), cOr(fam(afInet6BSD), fam(afInet6FreeBSD)))
			}
			return cFalse
		}}, nil
	case layers.LinkTypeRaw:
		// No link header: the IP version nibble says which IP it is.
		return &link{name: "RAW", nl: 0, proto: func(et uint16) *cond {
			v := value{size: 1, off: 0, mask: 0xf0}
			switch et {
			case etherIPv4:
				return cTest(v, opJEQ, 0x40)
			case etherIPv6:
				return cTest(v, opJEQ, 0x60)
			}
			return cFalse
		}}, nil
	case layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		want, name := uint16(etherIPv4), "IPV4"
		if lt == layers.LinkTypeIPv6 {
			want, name = etherIPv6, "IPV6"
		}
		return &link{name: name, nl: 0, proto: func(et uint16) *cond {
			if et == want {
				return cTrue
			}
			return cFalse
		}}, nil
	}
	return nil, fmt.Errorf("%w %v (%d); supported: Ethernet, LINUX_SLL, LINUX_SLL2, NULL, LOOP, RAW, IPv4, IPv6", ErrLinkType, lt, int(lt))
}

// expr translates a parsed expression into tests, primitive by primitive,
// in the order libpcap evaluates them.
func (l *link) expr(x Expr) *cond {
	switch x := x.(type) {
	case And:
		return cAnd(l.expr(x.X), l.expr(x.Y))
	case Or:
		return cOr(l.expr(x.X), l.expr(x.Y))
	case Not:
		return cNot(l.expr(x.X))
	case Proto:
		switch x.Name {
		case "ip":
			return l.proto(etherIPv4)
		case "ip6":
			return l.proto(etherIPv6)
		case "tcp":
			return l.ipProto(protoTCP)
		case "udp":
			return l.ipProto(protoUDP)
		}
	case Host:
		if x.Addr.Is4() {
			return l.host4(x)
		}
		return l.host6(x)
	case Port:
		return l.port(x)
	}
	return cFalse // unreachable for trees built by Parse
}

// ipProto is libpcap's "tcp"/"udp": the IPv4 protocol field, or the IPv6
// next header, or the header after a single IPv6 fragment header.
func (l *link) ipProto(p uint32) *cond {
	v4 := cAnd(l.proto(etherIPv4), cTest(value{size: 1, off: l.nl + 9}, opJEQ, p))
	nh := value{size: 1, off: l.nl + 6}
	v6 := cAnd(l.proto(etherIPv6), cOr(cTest(nh, opJEQ, p),
		cAnd(cTest(nh, opJEQ, protoFragment), cTest(value{size: 1, off: l.nl + 40}, opJEQ, p))))
	return cOr(v4, v6)
}

// dir combines the source and destination tests of a primitive.
func dir(d Dir, src, dst func() *cond) *cond {
	switch d {
	case DirSrc:
		return src()
	case DirDst:
		return dst()
	case DirSrcAndDst:
		return cAnd(src(), dst())
	}
	return cOr(src(), dst())
}

func (l *link) host4(h Host) *cond {
	a := h.Addr.As4()
	m := h.Mask.As4()
	addr, mask := binary.BigEndian.Uint32(a[:]), binary.BigEndian.Uint32(m[:])
	op := func(et uint16, srcOff, dstOff uint32) *cond {
		word := func(off uint32) func() *cond {
			return func() *cond { return maskedEq(value{size: 4, off: l.nl + off, mask: mask}, addr) }
		}
		return cAnd(l.proto(et), dir(h.Dir, word(srcOff), word(dstOff)))
	}
	c := op(etherIPv4, 12, 16)
	if h.Proto == "" {
		// libpcap's "host" without "ip" also matches ARP and RARP
		// sender and target protocol addresses.
		c = cOr(cOr(c, op(etherARP, 14, 24)), op(etherRARP, 14, 24))
	}
	return c
}

func (l *link) host6(h Host) *cond {
	a := h.Addr.As16()
	m := h.Mask.As16()
	addr := func(off uint32) func() *cond {
		return func() *cond {
			c := cTrue
			for i := uint32(0); i < 4; i++ {
				k := binary.BigEndian.Uint32(a[i*4:])
				mask := binary.BigEndian.Uint32(m[i*4:])
				c = cAnd(c, maskedEq(value{size: 4, off: l.nl + off + i*4, mask: mask}, k))
			}
			return c
		}
	}
	return cAnd(l.proto(etherIPv6), dir(h.Dir, addr(8), addr(24)))
}

// maskedEq tests v&mask == k, where v.mask holds the mask in full: all
// ones is no mask at all, and a zero mask leaves nothing to compare.
func maskedEq(v value, k uint32) *cond {
	switch v.mask {
	case 0:
		return cTrue
	case 0xffffffff:
		v.mask = 0
	}
	return cTest(v, opJEQ, k)
}

func (l *link) port(p Port) *cond {
	protos := func(field value) *cond {
		switch p.Proto {
		case "tcp":
			return cTest(field, opJEQ, protoTCP)
		case "udp":
			return cTest(field, opJEQ, protoUDP)
		}
		return cOr(cTest(field, opJEQ, protoSCTP), cOr(cTest(field, opJEQ, protoTCP), cTest(field, opJEQ, protoUDP)))
	}
	ports := func(ind bool, off uint32) *cond {
		one := func(off uint32) func() *cond {
			return func() *cond {
				v := value{ind: ind, size: 2, off: off}
				if p.Lo == p.Hi {
					return cTest(v, opJEQ, uint32(p.Lo))
				}
				return cAnd(cTest(v, opJGE, uint32(p.Lo)), cNot(cTest(v, opJGT, uint32(p.Hi))))
			}
		}
		return dir(p.Dir, one(off), one(off+2))
	}
	v6 := cAnd(l.proto(etherIPv6), cAnd(protos(value{size: 1, off: l.nl + 6}), ports(false, l.nl+40)))
	// IPv4: the ports are in the first fragment only, after a header
	// whose length the program reads into X.
	notFrag := cNot(cTest(value{size: 2, off: l.nl + 6}, opJSET, 0x1fff))
	v4 := cAnd(l.proto(etherIPv4), cAnd(protos(value{size: 1, off: l.nl + 9}), cAnd(notFrag, ports(true, l.nl))))
	return cOr(v6, v4)
}
