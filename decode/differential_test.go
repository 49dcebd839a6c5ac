package decode

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

// gopacketDifferences lists the packets where the two differ on purpose.
var gopacketDifferences = map[string]string{
	"kday4.pcap #10": lengthLies,
	"kday7.pcap #10": lengthLies,
}

// TestDifferentialGopacket decodes every packet of tcpdump's test captures
// and of testdata/ with socktrace's Decoder and with gopacket's full
// decode, and wherever gopacket decodes a TCP layer whole (no decoding
// error in the packet) requires the same addresses (of the IP header
// right before TCP), ports, flags, seq, ack, window, MSS and window scale
// and captured payload length.
func TestDifferentialGopacket(t *testing.T) {
	var files []string
	for _, glob := range []string{filepath.Join(tcpdumpTests, "*.pcap*"), "../testdata/*.pcap*"} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no captures")
	}
	compared, differ := 0, 0
	for _, path := range files {
		src, err := capture.OpenFile(path)
		if err != nil {
			continue
		}
		var d Decoder
		var p capture.Packet
		for i := 1; src.ReadPacket(&p) == nil; i++ {
			want, ok := gopacketTCP(&p)
			if !ok {
				continue
			}
			var s Segment
			if _, ok := gopacketDifferences[fmt.Sprintf("%s #%d", filepath.Base(path), i)]; ok {
				continue
			}
			if err := d.Decode(&p, &s); err != nil {
				if err == ErrFragment {
					continue // reassembled by the tracker; gopacket shows the first piece
				}
				differ++
				t.Errorf("%s #%d: gopacket decodes TCP %s, socktrace: %v (%v)", filepath.Base(path), i, want, err, d.Why())
				continue
			}
			compared++
			if got := segSummary(&s); got != want {
				differ++
				t.Errorf("%s #%d:\n  gopacket  %s\n  socktrace %s", filepath.Base(path), i, want, got)
			}
		}
		src.Close()
	}
	t.Logf("%d segments compared with gopacket in %d files, %d differ", compared, len(files), differ)
}

func segSummary(s *Segment) string {
	ws := int(s.Options.WindowScale)
	return fmt.Sprintf("%v > %v flags=%02x seq=%d ack=%d win=%d mss=%d ws=%d payload=%d",
		s.Src, s.Dst, uint8(s.Flags), s.Seq, s.Ack, s.Window, s.Options.MSS, ws, len(s.Payload))
}

// gopacketTCP decodes p with gopacket and summarises its TCP segment, if
// gopacket found one whole.
func gopacketTCP(p *capture.Packet) (string, bool) {
	pkt := gopacket.NewPacket(p.Data, p.LinkType, gopacket.DecodeOptions{NoCopy: true, Lazy: false})
	if pkt.ErrorLayer() != nil {
		return "", false
	}
	var src, dst netip.Addr
	for _, l := range pkt.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			src, _ = netip.AddrFromSlice(l.SrcIP.To4())
			dst, _ = netip.AddrFromSlice(l.DstIP.To4())
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
		case *layers.ICMPv4, *layers.ICMPv6:
			return "", false // a quoted header in an ICMP error
		case *layers.TCP:
			if !src.IsValid() {
				return "", false
			}
			s := Segment{Src: netip.AddrPortFrom(src, uint16(l.SrcPort)), Dst: netip.AddrPortFrom(dst, uint16(l.DstPort)),
				Seq: l.Seq, Ack: l.Ack, Window: l.Window, Payload: l.Payload}
			for f, on := range map[Flags]bool{FIN: l.FIN, SYN: l.SYN, RST: l.RST, PSH: l.PSH, ACK: l.ACK, URG: l.URG, ECE: l.ECE, CWR: l.CWR} {
				if on {
					s.Flags |= f
				}
			}
			s.Options.WindowScale = -1
			for _, o := range l.Options {
				switch {
				case o.OptionType == layers.TCPOptionKindMSS && len(o.OptionData) == 2:
					s.Options.MSS = uint16(o.OptionData[0])<<8 | uint16(o.OptionData[1])
				case o.OptionType == layers.TCPOptionKindWindowScale && len(o.OptionData) == 1:
					s.Options.WindowScale = int8(min(o.OptionData[0], 14))
				}
			}
			return segSummary(&s), true
		}
	}
	return "", false
}
