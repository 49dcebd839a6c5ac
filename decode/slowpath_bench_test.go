package decode

import (
	"path/filepath"
	"testing"

	"github.com/socktrace/socktrace/capture"
)

// BenchmarkSlowPath measures one TCP segment from bytes to Segment through
// each kind of tunnel the slow path follows, from tcpdump's captures: the
// first packet of each that the slow path decodes as TCP.
func BenchmarkSlowPath(b *testing.B) {
	for _, bc := range []struct {
		name, file string
		pick       func([]byte) bool // which packet, when not the first
	}{
		// outer Ethernet/IPv4/UDP, VXLAN, inner Ethernet/IPv4/TCP
		{"VXLAN", "gso-ipv4-vxlan-ipv4.pcap", nil},
		// Geneve with 8 bytes of options, inner Ethernet/IPv4/TCP (one
		// direction of geneve.pcap has options, the other none)
		{"GeneveOptions", "geneve.pcap", geneveWithOptions},
		// IPv4 GRE with WCCP's redirect header, inner IPv4/TCP
		{"GRE", "wccp_redirect_gre.pcap", nil},
		// Ethernet, an MPLS label stack, IPv4/TCP
		{"MPLS", "lspping-fec-ldp.pcap", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src, err := capture.OpenFile(filepath.Join(tcpdumpTests, bc.file))
			if err != nil {
				b.Skip(err)
			}
			defer src.Close()
			var p capture.Packet
			var d Decoder
			var s Segment
			for {
				if err := src.ReadPacket(&p); err != nil {
					b.Fatalf("%s: no TCP in a tunnel: %v", bc.file, err)
				}
				if d.Decode(&p, &s) == nil && s.Tunnel != nil && (bc.pick == nil || bc.pick(p.Data)) {
					break
				}
			}
			p.Data = append([]byte(nil), p.Data...)
			b.ReportAllocs()
			for b.Loop() {
				d.Decode(&p, &s)
			}
		})
	}
}

// geneveWithOptions reports whether an Ethernet/IPv4/UDP frame's Geneve
// header has options.
func geneveWithOptions(b []byte) bool {
	if len(b) < 15 {
		return false
	}
	at := 14 + int(b[14]&0x0F)*4 + 8
	return len(b) > at && b[at]&0x3F != 0
}
