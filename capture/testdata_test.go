package capture

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestRecordedCaptures reads the real captures in testdata/ (README.md there
// says how each was made) and, when tshark is installed, checks every
// packet's time, lengths, interface and comments against what tshark reads.
func TestRecordedCaptures(t *testing.T) {
	for _, tc := range []struct {
		file     string
		format   Format
		packets  int
		links    []layers.LinkType // per interface
		comments map[int][]string  // packet number (1-based) → comments
	}{
		{"lo-usec.pcap", FormatPcap, 10, []layers.LinkType{layers.LinkTypeEthernet}, nil},
		{"lo-nsec.pcap", FormatPcap, 10, []layers.LinkType{layers.LinkTypeEthernet}, nil},
		{"any-sll2.pcap", FormatPcap, 10, []layers.LinkType{layers.LinkTypeLinuxSLL2}, nil},
		{"lo-comments.pcapng", FormatPcapng, 10, []layers.LinkType{layers.LinkTypeEthernet},
			map[int][]string{1: {"client connect() enter"}, 3: {"second comment"}}},
		{"lo-any.pcapng", FormatPcapng, 20, []layers.LinkType{layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL}, nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			r, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var lines []string
			var p Packet
			for {
				if err := r.ReadPacket(&p); err == io.EOF {
					break
				} else if err != nil {
					t.Fatal(err)
				}
				n := len(lines) + 1
				if want := tc.comments[n]; fmt.Sprint(p.Comments) != fmt.Sprint(want) && !(len(want) == 0 && len(p.Comments) == 0) {
					t.Errorf("packet %d comments %q, want %q", n, p.Comments, want)
				}
				if p.LinkType != tc.links[p.InterfaceIndex] {
					t.Errorf("packet %d link type %v", n, p.LinkType)
				}
				iface := ""
				if tc.format == FormatPcapng {
					iface = fmt.Sprint(p.InterfaceIndex)
				}
				lines = append(lines, fmt.Sprintf("%d.%09d\t%d\t%d\t%s\t%s",
					p.Timestamp.Unix(), p.Timestamp.Nanosecond(), len(p.Data), p.Length, iface, strings.Join(p.Comments, ",")))
			}
			if r.Format() != tc.format || len(lines) != tc.packets {
				t.Fatalf("format %v, %d packets; want %v, %d", r.Format(), len(lines), tc.format, tc.packets)
			}
			ifs := r.Interfaces()
			if len(ifs) != len(tc.links) {
				t.Fatalf("%d interfaces, want %d", len(ifs), len(tc.links))
			}
			if tc.file == "lo-any.pcapng" {
				for i, ifc := range ifs {
					if ifc.Stats.Received < 0 || ifc.Stats.IfDrop < 0 {
						t.Errorf("interface %d (%s): statistics missing: %+v", i, ifc.Name, ifc.Stats)
					}
				}
			}
			if _, err := os.Stat("/usr/bin/tshark"); err != nil {
				return
			}
			out, err := exec.Command("/usr/bin/tshark", "-r", path, "-T", "fields", "-E", "occurrence=a",
				"-e", "frame.time_epoch", "-e", "frame.cap_len", "-e", "frame.len", "-e", "frame.interface_id", "-e", "frame.comment").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			want := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			if len(want) != len(lines) {
				t.Fatalf("tshark reads %d packets, we read %d", len(want), len(lines))
			}
			for i := range want {
				if want[i] != lines[i] {
					t.Errorf("packet %d:\ntshark %q\nours   %q", i+1, want[i], lines[i])
				}
			}
		})
	}
}

// TestRecordedTruncated cuts a real capture inside its last packet.
func TestRecordedTruncated(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "lo-any.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	ends := packetEnds(t, data)
	cut := ends[len(ends)-1] - 10
	r, err := NewFileReader(bytes.NewReader(data[:cut]))
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := readAll(r)
	if len(pkts) != len(ends)-1 || err == nil || !strings.Contains(err.Error(), "truncated after packet 19") {
		t.Errorf("%d packets, %v", len(pkts), err)
	}
}
