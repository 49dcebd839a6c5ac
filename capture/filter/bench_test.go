package filter

import (
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// benchFrames are Ethernet frames of the generated mix (IPv4 and IPv6,
// TCP, UDP, SCTP, ICMP, ARP, fragments, truncated packets).
func benchFrames(testing.TB) [][]byte {
	var out [][]byte
	for i, p := range generatedL3() {
		out = append(out, wrap(layers.LinkTypeEthernet, p, false, i).data)
	}
	return out
}

const benchExpr = "tcp port 80 or (udp port 53 and not host 8.8.8.8) or host 10.0.0.1"

// BenchmarkMatch measures the user-space matcher, per packet:
//
//	go test -run '^$' -bench Match -benchmem ./capture/filter
func BenchmarkMatch(b *testing.B) {
	m, err := NewMatcherExpr(benchExpr, layers.LinkTypeEthernet)
	if err != nil {
		b.Fatal(err)
	}
	frames := benchFrames(b)
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; b.Loop(); i++ {
		f := frames[i%len(frames)]
		if m.Match(f, len(f)) {
			n++
		}
	}
	_ = n
}

// BenchmarkMatchXNetVM is the same work in golang.org/x/net/bpf's VM, for
// comparison.
func BenchmarkMatchXNetVM(b *testing.B) {
	prog, err := Compile(benchExpr, layers.LinkTypeEthernet, 262144)
	if err != nil {
		b.Fatal(err)
	}
	vm := newVM(b, prog)
	frames := benchFrames(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		vm.m.Run(frames[i%len(frames)])
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(benchExpr, layers.LinkTypeEthernet, 262144); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMatchAllocs holds Match to zero allocations per packet.
func TestMatchAllocs(t *testing.T) {
	m, err := NewMatcherExpr(benchExpr, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	frames := benchFrames(nil)
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		f := frames[i%len(frames)]
		m.Match(f, len(f))
		i++
	}); n != 0 {
		t.Fatalf("Match allocates %v times per packet", n)
	}
}

// BenchmarkMatchLong runs a 300-host list (1216 instructions) over the
// same packets: the per-packet cost of a large filter.
func BenchmarkMatchLong(b *testing.B) {
	m, err := NewMatcherExpr(longExpr(300), layers.LinkTypeEthernet)
	if err != nil {
		b.Fatal(err)
	}
	frames := benchFrames(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f := frames[i%len(frames)]
		m.Match(f, len(f))
	}
}
