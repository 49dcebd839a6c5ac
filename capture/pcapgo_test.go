package capture

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// readAll reads every packet of a file with socktrace's reader, copying
// the bytes.
func readAllPcapgo(t *testing.T, r io.Reader) []Packet {
	t.Helper()
	src, err := NewFileReader(r)
	if err != nil {
		t.Fatal(err)
	}
	var out []Packet
	for {
		var p Packet
		if err := src.ReadPacket(&p); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			return out
		}
		p.Data = bytes.Clone(p.Data)
		p.Comments = nil
		out = append(out, p)
	}
}

// TestCrossCheckPcapgo: gopacket's pcapgo reads every packet of the
// pcapng files socktrace writes, and socktrace reads every packet of the
// pcap and pcapng files pcapgo writes, with the same bytes, lengths,
// link types and (nanosecond) timestamps. The packets are those of the
// repository's captures.
func TestCrossCheckPcapgo(t *testing.T) {
	files, _ := filepath.Glob("../testdata/*.pcap*")
	if len(files) == 0 {
		t.Skip("no captures in ../testdata")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var pkts []Packet
			for {
				var p Packet
				if err := src.ReadPacket(&p); err != nil {
					break
				}
				p.Data = bytes.Clone(p.Data)
				pkts = append(pkts, p)
			}
			src.Close()
			lt := pkts[0].LinkType

			// socktrace writes, pcapgo reads.
			var buf bytes.Buffer
			w, err := NewPcapngWriter(&buf, PcapngWriterOptions{Application: "socktrace test"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.AddInterface(Interface{Name: "x", LinkType: lt}); err != nil {
				t.Fatal(err)
			}
			for i := range pkts {
				q := pkts[i]
				q.InterfaceIndex, q.Comments = 0, nil
				if err := w.WritePacket(&q); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			ng, err := pcapgo.NewNgReader(bytes.NewReader(buf.Bytes()), pcapgo.DefaultNgReaderOptions)
			if err != nil {
				t.Fatalf("pcapgo cannot read socktrace's pcapng: %v", err)
			}
			for i := range pkts {
				data, ci, err := ng.ReadPacketData()
				if err != nil {
					t.Fatalf("pcapgo: packet %d: %v", i+1, err)
				}
				if !bytes.Equal(data, pkts[i].Data) || ci.Length != pkts[i].Length || !ci.Timestamp.Equal(pkts[i].Timestamp) {
					t.Fatalf("pcapgo: packet %d differs", i+1)
				}
			}
			if _, _, err := ng.ReadPacketData(); err != io.EOF {
				t.Fatalf("pcapgo: after the last packet: %v", err)
			}

			// pcapgo writes (pcap with ns timestamps, then pcapng), socktrace reads.
			var pcap, pcapng bytes.Buffer
			pw := pcapgo.NewWriterNanos(&pcap)
			if err := pw.WriteFileHeader(262144, lt); err != nil {
				t.Fatal(err)
			}
			nw, err := pcapgo.NewNgWriter(&pcapng, lt)
			if err != nil {
				t.Fatal(err)
			}
			for i := range pkts {
				ci := gopacket.CaptureInfo{Timestamp: pkts[i].Timestamp, CaptureLength: len(pkts[i].Data), Length: pkts[i].Length}
				if err := pw.WritePacket(ci, pkts[i].Data); err != nil {
					t.Fatal(err)
				}
				if err := nw.WritePacket(ci, pkts[i].Data); err != nil {
					t.Fatal(err)
				}
			}
			if err := nw.Flush(); err != nil {
				t.Fatal(err)
			}
			for name, b := range map[string]*bytes.Buffer{"pcap": &pcap, "pcapng": &pcapng} {
				got := readAllPcapgo(t, bytes.NewReader(b.Bytes()))
				if len(got) != len(pkts) {
					t.Fatalf("socktrace read %d packets of pcapgo's %s, want %d", len(got), name, len(pkts))
				}
				for i := range got {
					if !bytes.Equal(got[i].Data, pkts[i].Data) || got[i].Length != pkts[i].Length ||
						!got[i].Timestamp.Equal(pkts[i].Timestamp) || got[i].LinkType != layers.LinkType(lt) {
						t.Fatalf("%s from pcapgo: packet %d differs", name, i+1)
					}
				}
			}
		})
	}
}
