package decode

import (
	"context"
	"errors"
	"io"
	"maps"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

// slowLinkTypes are the link types only the slow path reads, and the
// fast path's, for the fuzzer to choose from.
var slowLinkTypes = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeRaw, linkTypePPP, linkTypePPPHDLC, linkTypePPPEther, linkTypeCHDLC,
	linkTypeFDDI, linkTypeNFLOG, linkTypeIPoIB, linkTypeMPLS, linkTypeARCNET, linkTypeARCNETLnx,
	linkTypeJuniperEther, linkTypeJuniperES, linkTypePPPDir, layers.LinkTypePFLog, layers.LinkTypeNull,
	linkType80211, linkTypeRadiotap, linkTypePPI,
}

// FuzzSlowPath feeds arbitrary bytes, seeded with every packet of the
// tunnel captures, through the Decoder: it must never panic, never loop
// past its depth bound, and what it returns must be consistent.
func FuzzSlowPath(f *testing.F) {
	for _, name := range []string{"geneve.pcap", "ipoib.pcap", "arcnet-rfc1201-arp-icmp-http.pcap", "wccp_redirect_gre.pcap",
		"pptp.pcap", "gso-ipv6-vxlan-ipv4.pcap", "nflog.pcap", "mpls-over-udp.pcap", "erspan-type-iii-pb-1.pcap", "pppoes.pcap",
		"sflow_expanded.pcap", "sflow-print-v6.pcap", "ieee802.11_htc.pcap", "ieee802.11_exthdr.pcap", "ieee802.11_rx-stbc.pcap"} {
		src, err := capture.OpenFile(filepath.Join(tcpdumpTests, name))
		if err != nil {
			continue
		}
		var p capture.Packet
		for i := 0; i < 8 && src.ReadPacket(&p) == nil; i++ {
			for j, lt := range slowLinkTypes {
				if lt == p.LinkType {
					f.Add(uint8(j), append([]byte(nil), p.Data...), p.Length-len(p.Data))
				}
			}
		}
		src.Close()
	}
	var d Decoder
	f.Fuzz(func(t *testing.T, lt uint8, data []byte, extra int) {
		p := capture.Packet{LinkType: slowLinkTypes[int(lt)%len(slowLinkTypes)], Data: data, Length: len(data) + max(extra, 0)%65536}
		var s Segment
		err := d.Decode(&p, &s)
		if err != nil {
			if err != ErrFragment && d.Why().Kind == 0 {
				t.Fatalf("error %v without a reason", err)
			}
			return
		}
		if s.Len < 0 || len(s.Payload) > s.Len {
			t.Fatalf("payload %d bytes captured of %d", len(s.Payload), s.Len)
		}
		if s.Tunnel != nil && s.Tunnel.key() == 0 {
			t.Fatal("a tunnel with a zero key")
		}
	})
}

// TestSlowPathNoAllocation: a packet in a VXLAN tunnel, in Geneve with
// options (geneve.pcap: 8 bytes of options on every packet; gso-ipv4-geneve-ipv4.pcap:
// none), in MPLS (lspping-fec-ldp.pcap), in GRE (wccp_redirect_gre.pcap)
// or on IPoIB costs the slow path no allocation
// once its buffers exist.
func TestSlowPathNoAllocation(t *testing.T) {
	for _, name := range []string{"gso-ipv4-vxlan-ipv4.pcap", "geneve.pcap", "gso-ipv4-geneve-ipv4.pcap", "lspping-fec-ldp.pcap", "wccp_redirect_gre.pcap", "ipoib.pcap"} {
		src, err := capture.OpenFile(filepath.Join(tcpdumpTests, name))
		if err != nil {
			t.Skipf("tcpdump's test captures are not here: %v", err)
		}
		var pkts []capture.Packet
		for {
			var p capture.Packet
			if err := src.ReadPacket(&p); err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				break
			}
			p.Data = append([]byte(nil), p.Data...)
			pkts = append(pkts, p)
		}
		src.Close()
		var d Decoder
		var s Segment
		tcp := 0
		for i := range pkts {
			if d.Decode(&pkts[i], &s) == nil {
				tcp++
			}
		}
		if tcp == 0 {
			t.Fatalf("%s: no TCP decoded", name)
		}
		allocs := testing.AllocsPerRun(20, func() {
			for i := range pkts {
				d.Decode(&pkts[i], &s)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per pass over %d packets", name, allocs, len(pkts))
		}
	}
}

// TestGeneveHeader checks the project's Geneve layer against RFC 8926's
// layout: options stepped over by their length in 4-byte words, version
// 0 only, never a read past the packet whatever the length field says.
func TestGeneveHeader(t *testing.T) {
	// Version 0, 2 words of options, C set, EtherType 0x0800, VNI 0x0A0B0C.
	withOpts := []byte{0x02, 0x40, 0x08, 0x00, 0x0A, 0x0B, 0x0C, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x45}
	tests := []struct {
		name    string
		b       []byte
		err     error
		vni     uint32
		proto   uint16
		opts    int
		payload int
	}{
		{"options stepped over", withOpts, nil, 0x0A0B0C, 0x0800, 8, 1},
		{"no options", []byte{0, 0, 0x86, 0xDD, 0, 0, 42, 0}, nil, 42, 0x86DD, 0, 0},
		{"options longer than the packet", withOpts[:15], errLayerShort, 0, 0, 0, 0},
		{"63 words of options announced", append([]byte{0x3F}, withOpts[1:]...), errLayerShort, 0, 0, 0, 0},
		{"version 1", append([]byte{0x42}, withOpts[1:]...), errGeneveVersion, 0, 0, 0, 0},
		{"shorter than the fixed header", withOpts[:7], errLayerShort, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g GeneveHeader
			err := g.DecodeFromBytes(tt.b, gopacket.NilDecodeFeedback)
			if err != tt.err {
				t.Fatalf("error %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if g.VNI != tt.vni || g.Protocol != tt.proto || g.OptionsLength != tt.opts || len(g.Payload) != tt.payload {
				t.Errorf("VNI %#x, protocol %#04x, options %d, payload %d; want %#x, %#04x, %d, %d",
					g.VNI, g.Protocol, g.OptionsLength, len(g.Payload), tt.vni, tt.proto, tt.opts, tt.payload)
			}
		})
	}
}

// TestSampledAndWireless replays tcpdump's sFlow and 802.11 captures and
// checks what the slow path makes of them, compared by hand with tshark
// 4.0 (-V): sflow_expanded.pcap's one expanded flow sample holds an
// Ethernet/802.1Q/IPv4/TCP header (port 22), counted as sampled TCP and
// not followed; sflow-print-v6.pcap's samples hold IPv4 protocol 63, not
// TCP; ieee802.11_htc.pcap is a QoS data frame with HT control carrying
// LLC/SNAP/IPv4/UDP (DHCP); ieee802.11_exthdr.pcap has 16 management, 8
// control and 2 null data frames; ieee802.11_rx-stbc.pcap's 3 data frames
// are protected (tshark: "Protected flag: Data is protected", CCMP).
func TestSampledAndWireless(t *testing.T) {
	type reasons map[string]int64
	tests := []struct {
		file    string
		sampled int64
		why     reasons
	}{
		{"sflow_expanded.pcap", 1, reasons{"sFlow datagram (samples of packets seen elsewhere)": 1}},
		{"sflow-print-v6.pcap", 0, reasons{"sFlow datagram (samples of packets seen elsewhere)": 25}},
		{"ieee802.11_htc.pcap", 0, reasons{"IP protocol 17 (UDP)": 1}},
		{"ieee802.11_exthdr.pcap", 0, reasons{"802.11 management frame": 16, "802.11 control frame": 8, "802.11 null data frame": 2}},
		{"ieee802.11_rx-stbc.pcap", 0, reasons{"802.11 protected frame (encrypted)": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			src, err := capture.OpenFile(filepath.Join(tcpdumpTests, tt.file))
			if err != nil {
				t.Skipf("tcpdump's test captures are not here: %v", err)
			}
			defer src.Close()
			tr := NewTracker(pairCounter{}, TrackerConfig{})
			n, err := Run(context.Background(), src, tr, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got := reasons{}
			for u, c := range n.Undecoded {
				got[u.String()] = c
			}
			if !maps.Equal(got, tt.why) || n.SampledTCP != tt.sampled || n.TCP != 0 {
				t.Errorf("undecoded %v, sampled TCP %d, TCP %d; want %v, %d, 0", got, n.SampledTCP, n.TCP, tt.why, tt.sampled)
			}
		})
	}
	// Counting samples allocates nothing.
	src, err := capture.OpenFile(filepath.Join(tcpdumpTests, "sflow_expanded.pcap"))
	if err != nil {
		return
	}
	var p capture.Packet
	if err := src.ReadPacket(&p); err != nil {
		t.Fatal(err)
	}
	src.Close()
	var d Decoder
	var s Segment
	if allocs := testing.AllocsPerRun(20, func() { d.Decode(&p, &s) }); allocs != 0 || d.SampledTCP() != 1 {
		t.Errorf("an sFlow datagram: %.1f allocations, %d sampled TCP; want 0 and 1", allocs, d.SampledTCP())
	}
}
