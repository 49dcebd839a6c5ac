package filter

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// addrKind is pcap-filter's "address type" qualifier.
type addrKind int

const (
	addrDefault addrKind = iota // none given: host, or net for a short IPv4 number
	addrHost
	addrNet
	addrPort
	addrPortrange
)

// qual is the set of qualifiers in force for an address or number. A bare
// address after "and", "or" or "not" takes the qualifiers of the primitive
// before it (pcap-filter's "implied qualifiers"); set is false where there is
// nothing to inherit, after a protocol primitive or at the start.
type qual struct {
	set   bool
	proto string
	dir   Dir
	addr  addrKind
}

// libpcapKeywords are pcap-filter words outside the supported subset. They
// are named in errors as keywords rather than mistaken for host names.
var libpcapKeywords = map[string]bool{
	"ether": true, "arp": true, "rarp": true, "vlan": true, "mpls": true,
	"pppoed": true, "pppoes": true, "geneve": true, "icmp": true, "icmp6": true,
	"igmp": true, "igrp": true, "pim": true, "vrrp": true, "carp": true,
	"sctp": true, "ah": true, "esp": true, "proto": true, "protochain": true,
	"gateway": true, "broadcast": true, "multicast": true, "less": true,
	"greater": true, "len": true, "inbound": true, "outbound": true,
	"ifname": true, "on": true, "link": true, "ppp": true, "slip": true,
	"fddi": true, "tr": true, "wlan": true, "atalk": true, "aarp": true,
	"decnet": true, "iso": true, "stp": true, "ipx": true, "llc": true,
	"type": true, "subtype": true, "dir": true, "addr1": true, "addr2": true,
	"addr3": true, "addr4": true, "ra": true, "ta": true, "radio": true,
	"lat": true, "sca": true, "moprc": true, "mopdl": true, "esis": true,
	"clnp": true, "isis": true, "netbeui": true, "hopopt": true,
}

// Limits that keep the recursive parser and compiler well inside the
// goroutine stack whatever the input; no useful filter comes near them.
const (
	maxExprLen = 1 << 20
	maxDepth   = 1000 // nested parentheses and negations
)

// Parse parses a pcap-filter expression. The empty (or all-blank)
// expression parses to a nil Expr, which matches every packet.
func Parse(expr string) (Expr, error) {
	if len(expr) > maxExprLen {
		return nil, &Error{Msg: fmt.Sprintf("expression is %d bytes long, more than %d", len(expr), maxExprLen), Line: 1, Col: 1}
	}
	p := &parser{src: expr, toks: lex(expr)}
	for i := range p.toks {
		t := &p.toks[i]
		if t.kind != tokWord {
			continue
		}
		switch strings.ToLower(t.text) {
		case "and":
			t.kind = tokAnd
		case "or":
			t.kind = tokOr
		case "not":
			t.kind = tokNot
		}
	}
	if p.peek().kind == tokEOF {
		return nil, nil
	}
	x, _, err := p.expr(qual{})
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.unexpected(t)
	}
	return x, nil
}

type parser struct {
	src   string
	toks  []token
	pos   int
	depth int
}

// enter counts one level of nesting at token t.
func (p *parser) enter(t token) error {
	p.depth++
	if p.depth > maxDepth {
		return p.fail(t, false, "expression nested more than %d deep", maxDepth)
	}
	return nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) peekAt(n int) token {
	if p.pos+n < len(p.toks) {
		return p.toks[p.pos+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

// word returns the lower-cased text of t if it is a word.
func word(t token) string {
	if t.kind != tokWord {
		return ""
	}
	return strings.ToLower(t.text)
}

func (p *parser) fail(t token, syntax bool, format string, args ...any) error {
	return errorAt(p.src, t, syntax, format, args...)
}

// unexpected reports a token that cannot appear where it is.
func (p *parser) unexpected(t token) error {
	switch {
	case t.kind == tokEOF:
		return p.fail(t, true, "unexpected end of expression")
	case t.kind == tokBad:
		return p.fail(t, true, "unsupported operator %q", t.text)
	case t.kind == tokWord && isKeyword(word(t)):
		return p.fail(t, true, "unexpected %q", t.text)
	case t.kind == tokWord && !startsLikeName(t.text):
		return p.fail(t, true, "unexpected %q (an address or number needs a qualifier such as host, net or port before it)", t.text)
	case t.kind == tokWord:
		return p.fail(t, true, "unsupported keyword %q", t.text)
	}
	return p.fail(t, true, "unexpected %q", t.text)
}

func isKeyword(w string) bool {
	switch w {
	case "host", "net", "port", "portrange", "src", "dst", "ip", "ip6", "tcp", "udp", "mask":
		return true
	}
	return false
}

// startsLikeName reports whether a word reads as a name rather than as an
// address or number: it starts with a letter and is not an IPv6 address.
func startsLikeName(w string) bool {
	c := w[0]
	return (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') && !strings.Contains(w, ":")
}

// expr parses terms joined by and/or, left to right with equal precedence.
// It returns the qualifiers in force after the last term.
func (p *parser) expr(q qual) (Expr, qual, error) {
	x, q, err := p.unit(false, q)
	if err != nil {
		return nil, q, err
	}
	for {
		op := p.peek()
		if op.kind != tokAnd && op.kind != tokOr {
			return x, q, nil
		}
		p.next()
		y, q2, err := p.unit(true, q)
		if err != nil {
			return nil, q, err
		}
		if op.kind == tokAnd {
			x = And{x, y}
		} else {
			x = Or{x, y}
		}
		q = q2
	}
}

// unit parses a term: a primitive, a negation or a parenthesised
// expression. idOK says whether a bare address may stand here, taking the
// qualifiers q (it may after and/or, not at the start).
func (p *parser) unit(idOK bool, q qual) (Expr, qual, error) {
	t := p.peek()
	if t.kind == tokNot || t.kind == tokLParen {
		if err := p.enter(t); err != nil {
			return nil, q, err
		}
		defer func() { p.depth-- }()
	}
	switch t.kind {
	case tokNot:
		p.next()
		x, q2, err := p.unit(idOK, q)
		if err != nil {
			return nil, q, err
		}
		return Not{x}, q2, nil
	case tokLParen:
		if idOK && p.parenHoldsIDs() {
			p.next()
			x, err := p.ids(q)
			if err != nil {
				return nil, q, err
			}
			if err := p.expect(tokRParen); err != nil {
				return nil, q, err
			}
			return x, q, nil
		}
		p.next()
		x, _, err := p.expr(q)
		if err != nil {
			return nil, q, err
		}
		if err := p.expect(tokRParen); err != nil {
			return nil, q, err
		}
		// libpcap: a parenthesised expression passes on the qualifiers
		// in force before it, not those inside it.
		return x, q, nil
	case tokWord:
		switch w := word(t); w {
		case "ip", "ip6", "tcp", "udp", "src", "dst", "host", "net", "port", "portrange":
			return p.primitive()
		default:
			if idOK && !libpcapKeywords[w] && w != "mask" {
				x, err := p.id(q)
				return x, q, err
			}
		}
	}
	return nil, q, p.unexpected(t)
}

// parenHoldsIDs reports whether the parenthesis at the cursor opens a
// list of bare addresses ("host a and (b or c)") rather than an expression.
func (p *parser) parenHoldsIDs() bool {
	for i := 1; ; i++ {
		t := p.peekAt(i)
		if t.kind == tokNot {
			continue
		}
		w := word(t)
		return t.kind == tokWord && !isKeyword(w) && !libpcapKeywords[w]
	}
}

func (p *parser) expect(k tokKind) error {
	t := p.peek()
	if t.kind != k {
		return p.unexpected(t)
	}
	p.next()
	return nil
}

// ids parses bare addresses joined by and/or inside parentheses; all of
// them take the qualifiers q.
func (p *parser) ids(q qual) (Expr, error) {
	if p.peek().kind == tokLParen {
		return nil, p.unexpected(p.peek())
	}
	x, err := p.id(q)
	if err != nil {
		return nil, err
	}
	for {
		op := p.peek()
		if op.kind != tokAnd && op.kind != tokOr {
			return x, nil
		}
		p.next()
		y, err := p.id(q)
		if err != nil {
			return nil, err
		}
		if op.kind == tokAnd {
			x = And{x, y}
		} else {
			x = Or{x, y}
		}
	}
}

// primitive parses "[proto] [dir] [addr] id" or a bare protocol.
func (p *parser) primitive() (Expr, qual, error) {
	q := qual{set: true}
	switch w := word(p.peek()); w {
	case "ip", "ip6", "tcp", "udp":
		p.next()
		q.proto = w
	}
	headed := false
	switch word(p.peek()) {
	case "src", "dst":
		headed = true
		first := word(p.next())
		q.dir = DirSrc
		if first == "dst" {
			q.dir = DirDst
		}
		// "src or dst" and "src and dst" are qualifiers, not operators,
		// when the other direction follows.
		if op := p.peek(); op.kind == tokAnd || op.kind == tokOr {
			if second := word(p.peekAt(1)); (second == "src" || second == "dst") && second != first {
				p.next()
				p.next()
				q.dir = DirSrcAndDst
				if op.kind == tokOr {
					q.dir = DirSrcOrDst
				}
			}
		}
	}
	switch word(p.peek()) {
	case "host":
		q.addr = addrHost
	case "net":
		q.addr = addrNet
	case "port":
		q.addr = addrPort
	case "portrange":
		q.addr = addrPortrange
	}
	if q.addr != addrDefault {
		headed = true
		p.next()
	}
	if !headed {
		// A protocol on its own ("tcp"); nothing to inherit after it.
		return Proto{q.proto}, qual{}, nil
	}
	x, err := p.id(q)
	return x, q, err
}

// id parses what follows the qualifiers: an address, a number, a port
// range, "not id", or a parenthesised list of them.
func (p *parser) id(q qual) (Expr, error) {
	t := p.peek()
	if t.kind == tokNot || t.kind == tokLParen {
		if err := p.enter(t); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
	}
	switch t.kind {
	case tokNot:
		p.next()
		x, err := p.id(q)
		if err != nil {
			return nil, err
		}
		return Not{x}, nil
	case tokLParen:
		p.next()
		x, err := p.ids(q)
		if err != nil {
			return nil, err
		}
		return x, p.expect(tokRParen)
	case tokWord:
	default:
		return nil, p.unexpected(t)
	}
	w := word(t)
	if isKeyword(w) || libpcapKeywords[w] {
		return nil, p.unexpected(t)
	}
	p.next()
	if !q.set {
		return nil, p.fail(t, true, "unexpected %q (an address or number needs a qualifier such as host, net or port before it)", t.text)
	}
	switch {
	case strings.Contains(t.text, ":"):
		return p.ip6(t, q)
	case isDotted(t.text):
		return p.ip4(t, q)
	case isNumber(t.text):
		n, err := p.number(t)
		if err != nil {
			return nil, err
		}
		return p.numberPrimitive(t, n, q)
	case isRange(t.text):
		if q.addr != addrPortrange {
			return nil, p.fail(t, false, "%q is a port range; write it after portrange", t.text)
		}
		lo, hi, _ := strings.Cut(t.text, "-")
		a, err := p.port(t, lo)
		if err != nil {
			return nil, err
		}
		b, err := p.port(t, hi)
		if err != nil {
			return nil, err
		}
		return p.portPrimitive(t, q, a, b)
	}
	return nil, p.fail(t, true, "unsupported name %q (host, network and port names are not looked up; use numbers)", t.text)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isDotted reports whether s is a dotted IPv4 number of two to four parts.
func isDotted(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 4 {
		return false
	}
	for _, part := range parts {
		if !isDigits(part) {
			return false
		}
	}
	return true
}

// isNumber reports whether s is a decimal, octal (0...) or hex (0x...) number.
func isNumber(s string) bool {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		for i := 2; i < len(s); i++ {
			c := s[i] | 0x20
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return false
			}
		}
		return true
	}
	return isDigits(s)
}

func isRange(s string) bool {
	a, b, ok := strings.Cut(s, "-")
	return ok && isNumber(a) && isNumber(b)
}

// number parses a number the way libpcap does: 0x for hex, a leading 0 for
// octal, decimal otherwise; 32 bits at most.
func (p *parser) number(t token) (uint32, error) {
	s := t.text
	base := 10
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'):
		s, base = s[2:], 16
	case len(s) > 1 && s[0] == '0':
		s, base = s[1:], 8
	}
	n, err := strconv.ParseUint(s, base, 32)
	if err != nil {
		return 0, p.fail(t, false, "invalid number %q", t.text)
	}
	return uint32(n), nil
}

func (p *parser) port(t token, s string) (uint16, error) {
	n, err := p.number(token{t.kind, s, t.off})
	if err != nil {
		return 0, err
	}
	if n > 65535 {
		return 0, p.fail(t, false, "port %d in %q is above 65535", n, t.text)
	}
	return uint16(n), nil
}

func (p *parser) numberPrimitive(t token, n uint32, q qual) (Expr, error) {
	switch q.addr {
	case addrPort, addrPortrange:
		if n > 65535 {
			return nil, p.fail(t, false, "port %d is above 65535", n)
		}
		return p.portPrimitive(t, q, uint16(n), uint16(n))
	case addrNet:
		// A short network number is promoted: "net 10" is 10.0.0.0/8.
		mask := ^uint32(0)
		for n != 0 && n&0xff000000 == 0 {
			n <<= 8
			mask <<= 8
		}
		return p.hostPrimitive(t, q, n, mask)
	}
	return p.hostPrimitive(t, q, n, ^uint32(0))
}

func (p *parser) portPrimitive(t token, q qual, lo, hi uint16) (Expr, error) {
	switch q.proto {
	case "", "tcp", "udp":
	default:
		return nil, p.fail(t, false, "%q cannot qualify a port (only tcp or udp can)", q.proto)
	}
	if q.addr != addrPort && q.addr != addrPortrange {
		return nil, p.fail(t, false, "%q is not an address; write port or portrange before it", t.text)
	}
	if lo > hi {
		lo, hi = hi, lo
	}
	return Port{Proto: q.proto, Dir: q.dir, Lo: lo, Hi: hi}, nil
}

// atoin parses a dotted IPv4 number of one to four decimal parts,
// returning its value and its length in bits, like libpcap's __pcap_atoin.
func atoin(s string) (uint32, int, bool) {
	var v uint32
	n := 0
	for part := range strings.SplitSeq(s, ".") {
		x, err := strconv.ParseUint(part, 10, 32)
		if err != nil || x > 255 {
			return 0, 0, false
		}
		v = v<<8 | uint32(x)
		n += 8
	}
	return v, n, true
}

func (p *parser) ip4(t token, q qual) (Expr, error) {
	v, vlen, ok := atoin(t.text)
	if !ok {
		return nil, p.fail(t, false, "invalid IPv4 address %q", t.text)
	}
	if q.addr == addrPort || q.addr == addrPortrange {
		return nil, p.fail(t, false, "%q is an IP address; port and portrange need numbers", t.text)
	}
	// "10.0.0.0/8" and "10.0.0.0 mask 255.0.0.0" are for networks only.
	if nt := p.peek(); nt.kind == tokSlash || word(nt) == "mask" {
		p.next()
		var mask uint32
		var text string
		if nt.kind == tokSlash {
			lt := p.next()
			if lt.kind != tokWord || !isNumber(lt.text) {
				return nil, p.unexpected(lt)
			}
			n, err := p.number(lt)
			if err != nil {
				return nil, err
			}
			if n > 32 {
				return nil, p.fail(lt, false, "mask length %d is above 32", n)
			}
			if n > 0 {
				mask = ^uint32(0) << (32 - n)
			}
			text = t.text + "/" + lt.text
		} else {
			mt := p.next()
			m, mlen, ok := atoin(mt.text)
			if mt.kind != tokWord || !isDotted(mt.text) || !ok {
				return nil, p.fail(mt, true, "expected a dotted netmask after mask, found %q", mt.text)
			}
			mask = m << (32 - mlen)
			text = t.text + " mask " + mt.text
		}
		v <<= 32 - vlen
		if v&^mask != 0 {
			return nil, p.fail(t, false, "non-network bits set in %q", text)
		}
		if q.addr != addrNet {
			return nil, p.fail(t, false, "mask syntax %q is for networks only; write net before it", text)
		}
		return p.hostPrimitive(t, q, v, mask)
	}
	mask := ^uint32(0)
	if q.addr == addrNet {
		for v != 0 && v&0xff000000 == 0 {
			v <<= 8
			mask <<= 8
		}
	} else {
		// libpcap promotes a short host address too: "host 10.1" is
		// 10.1.0.0 with mask 255.255.0.0.
		v <<= 32 - vlen
		mask <<= 32 - vlen
	}
	return p.hostPrimitive(t, q, v, mask)
}

func (p *parser) hostPrimitive(t token, q qual, v, mask uint32) (Expr, error) {
	switch q.proto {
	case "", "ip":
	default:
		return nil, p.fail(t, false, "%q cannot qualify an IPv4 host or net", q.proto)
	}
	var a, m [4]byte
	binary.BigEndian.PutUint32(a[:], v)
	binary.BigEndian.PutUint32(m[:], mask)
	return Host{Proto: q.proto, Dir: q.dir, Addr: netip.AddrFrom4(a), Mask: netip.AddrFrom4(m)}, nil
}

func (p *parser) ip6(t token, q qual) (Expr, error) {
	addr, err := netip.ParseAddr(t.text)
	if err != nil || !addr.Is6() || addr.Zone() != "" {
		return nil, p.fail(t, false, "invalid IPv6 address %q", t.text)
	}
	bitsLen := 128
	text := t.text
	if p.peek().kind == tokSlash {
		p.next()
		lt := p.next()
		if lt.kind != tokWord || !isNumber(lt.text) {
			return nil, p.unexpected(lt)
		}
		n, err := p.number(lt)
		if err != nil {
			return nil, err
		}
		if n > 128 {
			return nil, p.fail(lt, false, "mask length %d is above 128", n)
		}
		bitsLen = int(n)
		text += "/" + lt.text
	}
	pfx := netip.PrefixFrom(addr, bitsLen)
	if pfx.Masked().Addr() != addr {
		return nil, p.fail(t, false, "non-network bits set in %q", text)
	}
	switch q.addr {
	case addrDefault, addrHost:
		if bitsLen != 128 {
			return nil, p.fail(t, false, "mask syntax %q is for networks only; write net before it", text)
		}
	case addrNet:
	default:
		return nil, p.fail(t, false, "%q is an IP address; port and portrange need numbers", t.text)
	}
	switch q.proto {
	case "", "ip6":
	default:
		return nil, p.fail(t, false, "%q cannot qualify an IPv6 host or net", q.proto)
	}
	var m [16]byte
	for i := range bitsLen {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return Host{Proto: q.proto, Dir: q.dir, Addr: addr, Mask: netip.AddrFrom16(m)}, nil
}
