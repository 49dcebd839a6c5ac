package filter

import (
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

func TestParse(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "<nil>"},
		{"   ", "<nil>"},
		// Implied qualifiers: a bare address or number after and/or/not
		// takes the qualifiers of the primitive before it.
		{"port 80 or 443", "(port 80 or port 443)"},
		{"tcp port 80 or 443 or 8080", "((tcp port 80 or tcp port 443) or tcp port 8080)"},
		{"host 10.0.0.1 and not 10.0.0.2", "(host 10.0.0.1 and not host 10.0.0.2)"},
		{"src host 10.0.0.1 or 10.0.0.2", "(src host 10.0.0.1 or src host 10.0.0.2)"},
		{"host 10.0.0.1 and (10.0.0.2 or 10.0.0.3)", "(host 10.0.0.1 and (host 10.0.0.2 or host 10.0.0.3))"},
		{"dst port 80 or 443 and src port 1234", "((dst port 80 or dst port 443) and src port 1234)"},
		// A parenthesised expression passes on the qualifiers before it.
		{"port 80 and (tcp) or 443", "((port 80 and tcp) or port 443)"},
		// and/or bind equally, left to right; not binds tighter.
		{"tcp or udp and port 53", "((tcp or udp) and port 53)"},
		{"not tcp and udp", "(not tcp and udp)"},
		{"tcp && port 80 || ! udp", "((tcp and port 80) or not udp)"},
		{"not not ip", "not not ip"},
		// Direction qualifiers.
		{"src or dst port 80", "src or dst port 80"},
		{"dst and src host 10.0.0.3", "src and dst host 10.0.0.3"},
		{"src 10.0.0.1", "src host 10.0.0.1"},
		{"ip6 src net 2001:db8::/32", "ip6 src net 2001:db8::/32"},
		// Address forms.
		{"net 10", "net 10.0.0.0/8"},
		{"net 192.168", "net 192.168.0.0/16"},
		{"net 10.0.0.0 mask 255.0.0.0", "net 10.0.0.0/8"},
		{"net 10.0.0.0 mask 255.0.255.0", "net 10.0.0.0 mask 255.0.255.0"},
		{"host 10.1", "net 10.1.0.0/16"},
		{"host 167772161", "host 10.0.0.1"},
		{"net ::/0", "net ::/0"},
		{"host ::ffff:10.0.0.1", "host ::ffff:10.0.0.1"},
		// Ports.
		{"portrange 90-80", "portrange 80-90"},
		{"portrange 80", "port 80"},
		{"port 0x50", "port 80"},
		{"port 010", "port 8"},
		{"udp dst portrange 33434-33534", "udp dst portrange 33434-33534"},
	}
	for _, tt := range tests {
		x, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		got := "<nil>"
		if x != nil {
			got = x.String()
		}
		if got != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestStringRoundTrip checks that String prints what Parse reads back as
// the same expression and the same program, for every expression of the
// differential test.
func TestStringRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/libpcap/expressions.txt")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		expr := strings.TrimSpace(line)
		if strings.HasPrefix(expr, "#") || expr == `""` {
			continue
		}
		x, err := Parse(expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", expr, err)
		}
		y, err := Parse(x.String())
		if err != nil {
			t.Fatalf("Parse(%q) (from %q): %v", x, expr, err)
		}
		if x.String() != y.String() {
			t.Errorf("%q: String %q reparses as %q", expr, x, y)
		}
		p1, err1 := Compile(expr, layers.LinkTypeEthernet, 65535)
		p2, err2 := Compile(x.String(), layers.LinkTypeEthernet, 65535)
		if err1 != nil || err2 != nil || !slices.Equal(p1, p2) {
			t.Errorf("%q and %q compile differently (%v, %v)", expr, x, err1, err2)
		}
	}
}

func TestErrorPositions(t *testing.T) {
	tests := []struct {
		in        string
		token     string
		line, col int
		syntax    bool
		contains  string
	}{
		{"ether host 01:02:03:04:05:06", "ether", 1, 1, true, `unsupported keyword "ether" at 1:1; supported: host, net, port`},
		{"tcp and vlan", "vlan", 1, 9, true, `unsupported keyword "vlan" at 1:9`},
		{"host 10.0.0.1 and\n  icmp", "icmp", 2, 3, true, `"icmp" at 2:3`},
		{"tcp[13] & 2 != 0", "[13]", 1, 4, true, `unsupported operator "[13]"`},
		{"port http", "http", 1, 6, true, `unsupported name "http"`},
		{"port 80 or", "", 1, 11, true, "unexpected end of expression at 1:11"},
		{"net 10.0.0.1/8", "10.0.0.1", 1, 5, false, `non-network bits set in "10.0.0.1/8" at 1:5`},
		{"port 70000", "70000", 1, 6, false, "above 65535"},
		{"ip port 80", "80", 1, 9, false, `"ip" cannot qualify a port`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Parse(%q) = %v, want *Error", tt.in, err)
			continue
		}
		if fe.Token != tt.token || fe.Line != tt.line || fe.Col != tt.col || fe.Syntax != tt.syntax {
			t.Errorf("Parse(%q): token %q at %d:%d syntax %v, want %q at %d:%d syntax %v",
				tt.in, fe.Token, fe.Line, fe.Col, fe.Syntax, tt.token, tt.line, tt.col, tt.syntax)
		}
		if !strings.Contains(err.Error(), tt.contains) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", tt.in, err, tt.contains)
		}
		if fe.Syntax != strings.Contains(err.Error(), Supported) {
			t.Errorf("Parse(%q) = %q: lists the supported forms only for syntax errors", tt.in, err)
		}
	}
}

func TestCompileArguments(t *testing.T) {
	if _, err := Compile("tcp", layers.LinkTypeEthernet, 0); err == nil {
		t.Error("snap length 0 accepted")
	}
	if _, err := Compile("tcp", layers.LinkTypeIEEE802_11, 262144); err == nil || !strings.Contains(err.Error(), "LINUX_SLL2") {
		t.Errorf("802.11: %v, want an error listing the supported link types", err)
	}
	prog, err := Compile("", layers.LinkTypeEthernet, 1500)
	if err != nil || len(prog) != 1 || prog[0].Op != opRetK || prog[0].K != 1500 {
		t.Errorf(`Compile("") = %v, %v; want a single "ret #1500"`, prog, err)
	}
}

// TestCompileExprInvalid checks that trees built by hand with holes in
// them are errors, not panics.
func TestCompileExprInvalid(t *testing.T) {
	v4, v6 := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("::1")
	for _, x := range []Expr{
		And{Proto{"tcp"}, nil},
		Or{nil, Proto{"tcp"}},
		Not{nil},
		Proto{"icmp"},
		Host{Addr: v4},
		Host{Addr: v4, Mask: v6},
		Host{Addr: v6, Mask: v6, Proto: "ip"},
		Host{Addr: v4, Mask: netip.MustParseAddr("255.255.255.255"), Dir: 9},
		Host{Addr: v4, Mask: netip.MustParseAddr("255.0.0.0")},
		Port{Proto: "ip", Lo: 1, Hi: 2},
	} {
		if _, err := CompileExpr(x, layers.LinkTypeEthernet, 100); err == nil {
			t.Errorf("CompileExpr(%#v) succeeded", x)
		}
	}
	// And a good hand-built tree compiles like its parsed twin.
	x := Or{Port{Proto: "tcp", Lo: 80, Hi: 80}, Host{Addr: v4, Mask: netip.MustParseAddr("255.255.255.255")}}
	p1, err := CompileExpr(x, layers.LinkTypeEthernet, 100)
	p2, err2 := Compile("tcp port 80 or host 10.0.0.1", layers.LinkTypeEthernet, 100)
	if err != nil || err2 != nil || !slices.Equal(p1, p2) {
		t.Errorf("hand-built %s compiles differently: %v %v", x, err, err2)
	}
}

func TestLimits(t *testing.T) {
	deep := strings.Repeat("(", 5000) + "tcp" + strings.Repeat(")", 5000)
	if _, err := Parse(deep); err == nil || !strings.Contains(err.Error(), "nested") {
		t.Errorf("5000 parentheses: %v", err)
	}
	nots := strings.Repeat("not ", 5000) + "tcp"
	if _, err := Parse(nots); err == nil {
		t.Errorf("5000 nots: accepted")
	}
	if _, err := Parse(strings.Repeat("(", 500) + "tcp" + strings.Repeat(")", 500)); err != nil {
		t.Errorf("500 parentheses: %v", err)
	}
	if _, err := Parse(strings.Repeat("tcp or ", 1<<18) + "tcp"); err == nil || !strings.Contains(err.Error(), "bytes long") {
		t.Errorf("2 MB expression: %v", err)
	}
}
