package decode

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

// TestDatagramCaptures decodes the datagram captures in testdata/, made
// with real sockets by testdata/make-captures.sh, and checks each against
// what tcpdump -nn -r prints for it (quoted in the table).
func TestDatagramCaptures(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		// tcpdump: 127.0.0.1.41487 > 127.0.0.1.20041: UDP, length 15 (and 28);
		// 127.0.0.1.20041 > 127.0.0.1.41487: UDP, length 18;
		// 127.0.0.1.41498 > 127.0.0.1.59511: UDP, length 14;
		// ICMP 127.0.0.1 udp port 59511 unreachable.
		{"udp.pcap", []string{
			"udp 127.0.0.1:41487 127.0.0.1:20041 15",
			"udp 127.0.0.1:41487 127.0.0.1:20041 28",
			"udp 127.0.0.1:20041 127.0.0.1:41487 18",
			"udp 127.0.0.1:41498 127.0.0.1:59511 14",
			"icmp port unreachable udp 127.0.0.1:41498 127.0.0.1:59511",
		}},
		// tcpdump: ICMP6, destination unreachable, unreachable port,
		// ::1 udp port 43864.
		{"udp-ipv6.pcap", []string{
			"udp [::1]:42502 [::1]:20042 15",
			"udp [::1]:42502 [::1]:20042 28",
			"udp [::1]:20042 [::1]:42502 18",
			"udp [::1]:47823 [::1]:43864 14",
			"icmp6 port unreachable udp [::1]:47823 [::1]:43864",
		}},
		// tcpdump: ICMP host 127.0.0.1 unreachable - admin prohibited
		// filter, twice, each after a SYN (which is TCP, not a datagram).
		{"syn-icmp.pcap", []string{
			"icmp admin prohibited tcp 127.0.0.1:54354 127.0.0.1:20043",
			"icmp admin prohibited tcp 127.0.0.1:54354 127.0.0.1:20043",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			src, err := capture.OpenFile(filepath.Join("..", "testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			var dd DatagramDecoder
			var d Datagram
			var p capture.Packet
			var got []string
			for src.ReadPacket(&p) == nil {
				if dd.Decode(&p, &d) != nil {
					continue
				}
				if d.Protocol == ProtoUDP {
					got = append(got, d.Protocol.String()+" "+d.Src.String()+" "+d.Dst.String()+" "+itoa(d.Len))
					if len(d.Payload) != d.Len {
						t.Errorf("payload %d bytes, header says %d", len(d.Payload), d.Len)
					}
				} else {
					got = append(got, d.Protocol.String()+" "+d.ICMPName()+" "+d.QuotedProtocol.String()+" "+d.QuotedSrc.String()+" "+d.QuotedDst.String())
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d datagrams, want %d:\n%q", len(got), len(tt.want), got)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("datagram %d: %s\nwant         %s", i+1, got[i], tt.want[i])
				}
			}
		})
	}
}

func itoa(n int) string {
	b := []byte{}
	if n == 0 {
		return "0"
	}
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// TestDatagramNotOurs: TCP and truncated headers are not datagrams.
func TestDatagramNotOurs(t *testing.T) {
	var dd DatagramDecoder
	var d Datagram
	for _, data := range [][]byte{nil, {0x45}, {0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1}, {0x60, 0, 0, 0}} {
		p := capture.Packet{LinkType: layers.LinkTypeRaw, Data: data, Length: len(data)}
		if err := dd.Decode(&p, &d); err != ErrNotDatagram {
			t.Errorf("% x: %v, want ErrNotDatagram", data, err)
		}
	}
	_ = netip.Addr{}
}

// FuzzDatagram feeds arbitrary bytes as raw IP: the decoder must never
// panic, and what it accepts must have valid addresses.
func FuzzDatagram(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 36, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 0x13, 0x88, 0x17, 0x70, 0, 16, 0, 0, 'h', 'e', 'l', 'l', 'o', '\n', 0, 0})
	f.Add([]byte{0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 3, 3, 0, 0, 0, 0, 0, 0,
		0x45, 0, 0, 36, 0, 0, 0, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1, 0x13, 0x88, 0x17, 0x70})
	f.Fuzz(func(t *testing.T, data []byte) {
		var dd DatagramDecoder
		var d Datagram
		p := capture.Packet{LinkType: layers.LinkTypeRaw, Data: data, Length: len(data)}
		if dd.Decode(&p, &d) == nil {
			if !d.Src.Addr().IsValid() || !d.Dst.Addr().IsValid() {
				t.Errorf("accepted with invalid addresses: %+v", d)
			}
			_ = d.ICMPName()
		}
	})
}
