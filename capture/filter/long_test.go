package filter

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// longExpr is "host 10.0.0.1 or host 10.0.1.1 or ..." with n terms, the
// same expression gen-libpcap.sh builds for testdata/libpcap/long-*.txt.
func longExpr(n int) string {
	terms := make([]string, n)
	for i := range terms {
		terms[i] = fmt.Sprintf("host 10.%d.%d.1", i/256, i%256)
	}
	return strings.Join(terms, " or ")
}

// longFrames are packets to and from hosts of longExpr and others, TCP and
// UDP on port 80 and others, and ARP.
func longFrames(lt layers.LinkType, n int) []frame {
	r := rand.New(rand.NewPCG(3, 4))
	host := func() string {
		if r.IntN(3) == 0 {
			return pick(r, testHosts4)
		}
		i := r.IntN(n + n/4) // some beyond the list
		return fmt.Sprintf("10.%d.%d.1", i/256, i%256)
	}
	var out []frame
	for i := range 3000 {
		var p l3
		switch i % 10 {
		case 9:
			p = l3{etherARP, arp(1, host(), host()), "arp"}
		default:
			proto := []uint8{protoTCP, protoUDP}[i%2]
			sp, dp := pick(r, testPorts), pick(r, testPorts)
			src, dst := host(), host()
			p = l3{etherIPv4, ipv4(r, proto, src, dst, sp, dp, 0, false), fmt.Sprintf("p%d %s:%d > %s:%d", proto, src, sp, dst, dp)}
		}
		out = append(out, wrap(lt, p, false, i))
	}
	return out
}

// TestLongJumps compiles expressions whose jumps span more than 255
// instructions and compares them with libpcap's programs for the same
// expressions: a 300-term "or host" chain (its far jumps go to copies of
// the returns) and the same followed by "and tcp port 80" (its far jumps
// go to a test, through "ja").
func TestLongJumps(t *testing.T) {
	for _, lt := range []struct {
		name string
		lt   layers.LinkType
	}{{"EN10MB", layers.LinkTypeEthernet}, {"NULL", layers.LinkTypeNull}} {
		cases := readLibpcap(t, filepath.Join("testdata", "libpcap", "long-"+lt.name+".txt"))
		want := []string{longExpr(300), "(" + longExpr(300) + ") and tcp port 80"}
		if len(cases) != len(want) {
			t.Fatalf("%s: %d long cases, want %d", lt.name, len(cases), len(want))
		}
		for i, c := range cases {
			if c.expr != want[i] {
				t.Fatalf("%s: testdata expression %d differs from longExpr; rerun gen-libpcap.sh", lt.name, i)
			}
			prog, err := Compile(c.expr, lt.lt, 262144)
			if err != nil {
				t.Fatalf("%s: long expression %d: %v", lt.name, i, err)
			}
			far, ja := 0, 0
			for pc, ins := range prog {
				switch {
				case ins.Op == opJA:
					ja++
					if ins.K > 255 {
						far++
					}
				case ins.Op&0x07 == clsJMP:
					if pc+1+int(max(ins.Jt, ins.Jf)) > 255 {
						far++
					}
				}
			}
			t.Logf("%s #%d: %d instructions (libpcap %d), %d ja, %d jumps landing past instruction 255", lt.name, i, len(prog), len(c.prog), ja, far)
			if len(prog) < 300 {
				t.Errorf("%s #%d: only %d instructions; the test needs long jumps", lt.name, i, len(prog))
			}
			if i == 1 && ja == 0 {
				t.Errorf("%s #%d: no ja; the test wants a jump over 255 instructions to a test", lt.name, i)
			}
			ours, theirs := newVM(t, prog), newVM(t, c.prog)
			m, err := NewMatcher(prog)
			if err != nil {
				t.Fatal(err)
			}
			matched := 0
			for _, f := range longFrames(lt.lt, 300) {
				got, want := ours.match(t, f.data), theirs.match(t, f.data)
				if got != want {
					t.Fatalf("%s #%d on %s: ours %v, libpcap %v", lt.name, i, f.desc, got, want)
				}
				if m.Match(f.data, len(f.data)) != got {
					t.Fatalf("%s #%d on %s: Matcher disagrees with the VM", lt.name, i, f.desc)
				}
				if got {
					matched++
				}
			}
			if matched == 0 {
				t.Errorf("%s #%d: no packet matched; the packets do not exercise the program", lt.name, i)
			}
		}
	}
}

// TestTooLong checks that a program over the kernel's limit is an error,
// not a program the kernel would refuse.
func TestTooLong(t *testing.T) {
	// Host and port pairs share nothing the optimiser can fold.
	terms := make([]string, 500)
	for i := range terms {
		terms[i] = fmt.Sprintf("(host 10.%d.%d.1 and port %d)", i/256, i%256, 1000+i)
	}
	_, err := Compile(strings.Join(terms, " or "), layers.LinkTypeEthernet, 262144)
	if err == nil || !strings.Contains(err.Error(), "instructions, more than the kernel's limit of 4096") {
		t.Fatalf("Compile(500 host-port pairs) = %v, want an error about the 4096-instruction limit", err)
	}
	var fe *Error
	if errors.As(err, &fe) {
		t.Fatalf("size error is a syntax *Error: %v", err)
	}
	if len(err.Error()) > 200 {
		t.Errorf("error repeats the expression: %.200s...", err)
	}
}
