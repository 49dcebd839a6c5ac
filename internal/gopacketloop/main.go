// Command gopacketloop is the floor socktrace's replay speed is measured
// against (docs/performance.md, scripts/measure-replay.sh): the least a Go
// program built on gopacket does to find the TCP connections in a capture.
// It reads a pcap or pcapng file with pcapgo, decodes each packet with one
// DecodingLayerParser (Ethernet or Linux cooked or raw IP, IPv4 or IPv6,
// TCP) and counts TCP segments and distinct 4-tuples. It explains nothing
// and keeps no connection state beyond the set of tuples.
//
//	go run ./internal/gopacketloop FILE
//
// It is a benchmark reference, not part of socktrace.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gopacketloop FILE")
		os.Exit(2)
	}
	st, err := count(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopacketloop:", err)
		os.Exit(1)
	}
	fmt.Printf("packets %d, tcp %d, tuples %d, undecoded %d\n", st.packets, st.tcp, st.tuples, st.undecoded)
}

type stats struct{ packets, tcp, tuples, undecoded int64 }

// packetReader is what pcapgo's pcap and pcapng readers share.
type packetReader interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

func open(f *os.File) (packetReader, error) {
	br := bufio.NewReaderSize(f, 1<<20)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, err
	}
	if string(magic) == "\x0a\x0d\x0d\x0a" {
		return pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
	}
	return pcapgo.NewReader(br)
}

type tuple struct{ a, b netip.AddrPort }

func count(path string) (stats, error) {
	var st stats
	f, err := os.Open(path)
	if err != nil {
		return st, err
	}
	defer f.Close()
	r, err := open(f)
	if err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	var (
		eth   layers.Ethernet
		sll   layers.LinuxSLL
		ip4   layers.IPv4
		ip6   layers.IPv6
		tcp   layers.TCP
		found []gopacket.LayerType
	)
	first := layers.LayerTypeEthernet
	switch r.LinkType() {
	case layers.LinkTypeLinuxSLL:
		first = layers.LayerTypeLinuxSLL
	case layers.LinkTypeRaw, layers.LinkTypeIPv4:
		first = layers.LayerTypeIPv4
	}
	p := gopacket.NewDecodingLayerParser(first, &eth, &sll, &ip4, &ip6, &tcp)
	p.IgnoreUnsupported = true
	tuples := make(map[tuple]struct{})
	for {
		data, _, err := r.ZeroCopyReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return st, err
		}
		st.packets++
		if err := p.DecodeLayers(data, &found); err != nil {
			st.undecoded++
		}
		var src, dst netip.Addr
		isTCP := false
		for _, l := range found {
			switch l {
			case layers.LayerTypeIPv4:
				src, _ = netip.AddrFromSlice(ip4.SrcIP)
				dst, _ = netip.AddrFromSlice(ip4.DstIP)
			case layers.LayerTypeIPv6:
				src, _ = netip.AddrFromSlice(ip6.SrcIP)
				dst, _ = netip.AddrFromSlice(ip6.DstIP)
			case layers.LayerTypeTCP:
				isTCP = true
			}
		}
		if !isTCP {
			continue
		}
		st.tcp++
		a, b := netip.AddrPortFrom(src, uint16(tcp.SrcPort)), netip.AddrPortFrom(dst, uint16(tcp.DstPort))
		if a.Compare(b) > 0 {
			a, b = b, a
		}
		tuples[tuple{a, b}] = struct{}{}
	}
	st.tuples = int64(len(tuples))
	return st, nil
}
