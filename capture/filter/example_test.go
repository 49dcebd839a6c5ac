package filter_test

import (
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"github.com/socktrace/socktrace/capture/filter"
)

func ExampleCompile() {
	prog, err := filter.Compile("ip6 or udp port 53", layers.LinkTypeEthernet, 262144)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ins := range prog {
		fmt.Println(ins.Disassemble())
	}
	// Output:
	// ldh [12]
	// jeq #34525,10
	// jneq #2048,10
	// ldb [23]
	// jneq #17,8
	// ldh [20]
	// jset #8191,6
	// ldx 4*([14]&0xf)
	// ldh [x + 14]
	// jeq #53,2
	// ldh [x + 16]
	// jneq #53,1
	// ret #262144
	// ret #0
}

func ExampleParse() {
	x, err := filter.Parse("host 10.0.0.1 and not 10.0.0.2 && port 80 or 443")
	fmt.Println(x, err)
	_, err = filter.Parse("ether host 01:02:03:04:05:06")
	fmt.Println(err)
	// Output:
	// (((host 10.0.0.1 and not host 10.0.0.2) and port 80) or port 443) <nil>
	// filter: unsupported keyword "ether" at 1:1; supported: host, net, port, portrange, src, dst, tcp, udp, ip, ip6, and/or/not (&&, ||, !), parentheses
}

func ExampleMatcher() {
	m, err := filter.NewMatcherExpr("udp dst port 53", layers.LinkTypeRaw)
	if err != nil {
		fmt.Println(err)
		return
	}
	// An IPv4 header (20 bytes) and a UDP header to port 53.
	pkt := []byte{
		0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
		0x30, 0x39, 0, 53, 0, 8, 0, 0,
	}
	fmt.Println(m.Match(pkt, len(pkt)))
	pkt[23] = 54
	fmt.Println(m.Match(pkt, len(pkt)))
	// Output:
	// true
	// false
}
