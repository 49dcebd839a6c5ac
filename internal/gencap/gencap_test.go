package gencap

import (
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/socktrace/socktrace/capture"
)

func TestWriteDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	opts := Options{Connections: 50, Seed: 7, Interleave: 3}
	if err := Write(&a, opts); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same options gave different bytes")
	}
	var c bytes.Buffer
	opts.Seed = 8
	if err := Write(&c, opts); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("different seeds gave the same bytes")
	}
}

// TestWriteDecodes reads the output back with gopacket (an independent
// reader and decoder) and checks every packet's layers, checksums,
// timestamps and the connection pattern.
func TestWriteDecodes(t *testing.T) {
	for _, lt := range []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeRaw} {
		t.Run(lt.String(), func(t *testing.T) {
			var buf bytes.Buffer
			const conns = 25
			if err := Write(&buf, Options{Connections: conns, LinkType: lt, ClientPorts: 4, Seed: 1, Interleave: 2}); err != nil {
				t.Fatal(err)
			}
			r, err := capture.NewFileReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if r.LinkType() != lt {
				t.Fatalf("link type %v, want %v", r.LinkType(), lt)
			}
			var pkt capture.Packet
			n, syns := 0, 0
			ports := map[layers.TCPPort]int{}
			isns := map[uint32]bool{}
			var last int64
			for {
				if err := r.ReadPacket(&pkt); err != nil {
					if err != io.EOF {
						t.Fatal(err)
					}
					break
				}
				data := pkt.Data
				n++
				if ts := pkt.Timestamp.UnixMicro(); ts <= last {
					t.Fatalf("packet %d: timestamp %d not after %d", n, ts, last)
				} else {
					last = ts
				}
				first := gopacket.LayerType(layers.LayerTypeEthernet)
				if lt == layers.LinkTypeRaw {
					first = layers.LayerTypeIPv4
				}
				p := gopacket.NewPacket(data, first, gopacket.Default)
				ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
				tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
				if ip == nil || tcp == nil {
					t.Fatalf("packet %d does not decode as IPv4/TCP: %v", n, p)
				}
				if int(ip.Length) != len(ip.Contents)+len(ip.Payload) {
					t.Fatalf("packet %d: IP length %d, have %d", n, ip.Length, len(ip.Contents)+len(ip.Payload))
				}
				hdr := ip.Contents
				if fold(sum(hdr, 0)) != 0xffff {
					t.Fatalf("packet %d: bad IPv4 checksum", n)
				}
				ps := sum(hdr[12:20], 6+uint32(len(ip.Payload)))
				if fold(sum(ip.Payload, ps)) != 0xffff {
					t.Fatalf("packet %d: bad TCP checksum", n)
				}
				if tcp.SYN && !tcp.ACK {
					syns++
					ports[tcp.SrcPort]++
					isns[tcp.Seq] = true
					if len(tcp.Options) != 5 {
						t.Fatalf("SYN options %v", tcp.Options)
					}
				}
			}
			if n != conns*PacketsPerConnection || syns != conns {
				t.Fatalf("%d packets, %d SYNs; want %d, %d", n, syns, conns*PacketsPerConnection, conns)
			}
			if len(ports) != 4 {
				t.Fatalf("client ports %v, want 4 reused", ports)
			}
			if len(isns) != conns {
				t.Fatalf("%d distinct ISNs for %d connections", len(isns), conns)
			}
		})
	}
}

// TestTshark checks the output with tshark when it is installed: it must
// find every connection complete and no bad checksum.
func TestTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	path := filepath.Join(t.TempDir(), "g.pcap")
	if err := WriteFile(path, Options{Connections: 20, ClientPorts: 3, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	// Port reuse is flagged by tshark on purpose (that is the point of
	// the generator); any other analysis flag or a checksum that is not
	// "good" (status 1) is a bug.
	out, err := exec.Command("tshark", "-r", path, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
		"-Y", "tcp.checksum.status != 1 || ip.checksum.status != 1 || (tcp.analysis.flags && !tcp.analysis.reused_ports)",
		"-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Fatalf("tshark flags packets (bad checksum or TCP analysis): %s", s)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, o := range []Options{
		{LinkType: layers.LinkTypeLinuxSLL},
		{ClientPorts: 10, Interleave: 11},
		{FirstClientPort: 65000, ClientPorts: 1000},
		{RequestLen: -1},
	} {
		if err := Write(&bytes.Buffer{}, o); err == nil {
			t.Errorf("Write(%+v) succeeded", o)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := Write(discard{}, Options{Connections: 10000}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*10000*PacketsPerConnection)/b.Elapsed().Seconds(), "packets/s")
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
