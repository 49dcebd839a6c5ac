package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gopacket/gopacket/layers"
)

// writeSample writes a pcapng file with two interfaces, commented packets
// and statistics, and returns it with the packets written.
func writeSample(t testing.TB) ([]byte, []got) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewPcapngWriter(&buf, PcapngWriterOptions{Application: "socktrace", OS: "Linux", Comment: "test run"})
	if err != nil {
		t.Fatal(err)
	}
	lo, err := w.AddInterface(Interface{Name: "lo", LinkType: layers.LinkTypeEthernet, SnapLen: 262144})
	if err != nil {
		t.Fatal(err)
	}
	anyIf, err := w.AddInterface(Interface{Name: "any", Description: "all of them", LinkType: layers.LinkTypeLinuxSLL2, SnapLen: 65535})
	if err != nil || lo != 0 || anyIf != 1 {
		t.Fatalf("interfaces %d %d, %v", lo, anyIf, err)
	}
	base := time.Date(2026, 11, 25, 12, 0, 0, 123456789, time.UTC)
	pkts := []got{
		{base, layers.LinkTypeEthernet, "syn frame", 9, 0, []string{"client connect() enter fd=3 127.0.0.1:8080"}},
		{base.Add(7), layers.LinkTypeLinuxSLL2, "abc", 1500, 1, nil},
		{base.Add(time.Second), layers.LinkTypeEthernet, "", 0, 0, []string{"서버 accept() 반환", "second comment", "tab\tand\nnewline"}},
		{base.Add(2 * time.Second), layers.LinkTypeEthernet, "12345678", 8, 0, []string{"x"}},
	}
	for _, g := range pkts {
		p := Packet{Timestamp: g.ts, LinkType: g.lt, Data: []byte(g.data), Length: g.length, InterfaceIndex: g.iface, Comments: g.comments}
		if err := w.WritePacket(&p); err != nil {
			t.Fatal(err)
		}
	}
	end := base.Add(3 * time.Second)
	if err := w.WriteInterfaceStats(lo, end, InterfaceStats{Start: base, End: end, Received: 3, IfDrop: 1, OSDrop: 2, FilterAccept: -1, UserDelivered: 3}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteInterfaceStats(anyIf, end, InterfaceStats{Received: 1, IfDrop: 0, OSDrop: 0, FilterAccept: -1, UserDelivered: -1}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), pkts
}

func TestPcapngWriterRoundTrip(t *testing.T) {
	data, want := writeSample(t)
	pkts, r := mustRead(t, data)
	if len(pkts) != len(want) {
		t.Fatalf("%d packets, want %d", len(pkts), len(want))
	}
	for i := range want {
		g, w := pkts[i], want[i]
		if !g.ts.Equal(w.ts) || g.lt != w.lt || g.data != w.data || g.length != w.length || g.iface != w.iface ||
			fmt.Sprintf("%q", g.comments) != fmt.Sprintf("%q", w.comments) {
			t.Errorf("packet %d = %+v\nwant %+v", i+1, g, w)
		}
	}
	ifs := r.Interfaces()
	if len(ifs) != 2 || ifs[0].Name != "lo" || ifs[1].Name != "any" || ifs[1].Description != "all of them" ||
		ifs[0].SnapLen != 262144 || ifs[1].LinkType != layers.LinkTypeLinuxSLL2 || ifs[0].TSResolution != time.Nanosecond {
		t.Fatalf("interfaces %+v", ifs)
	}
	s := ifs[0].Stats
	if s.Received != 3 || s.IfDrop != 1 || s.OSDrop != 2 || s.FilterAccept != -1 || s.UserDelivered != 3 ||
		!s.Start.Equal(want[0].ts) || !s.End.Equal(want[0].ts.Add(3*time.Second)) {
		t.Errorf("interface 0 stats %+v", s)
	}
	if s := ifs[1].Stats; s.Received != 1 || s.IfDrop != 0 || s.OSDrop != 0 || s.UserDelivered != -1 {
		t.Errorf("interface 1 stats %+v", s)
	}
}

// TestPcapngWriterTshark checks that tshark reads the file: the packets,
// their comments, and the statistics (through capinfos).
func TestPcapngWriterTshark(t *testing.T) {
	if _, err := os.Stat("/usr/bin/tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	data, want := writeSample(t)
	path := filepath.Join(t.TempDir(), "w.pcapng")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// frame.comment since Wireshark 3.6 (4.x); pkt_comment before.
	var out []byte
	var err error
	for _, field := range []string{"frame.comment", "pkt_comment"} {
		out, err = exec.Command("/usr/bin/tshark", "-r", path, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=|", "-e", "frame.number", "-e", "frame.cap_len", "-e", field).Output()
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("tshark shows %d packets, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 3 || f[1] != fmt.Sprint(len(want[i].data)) {
			t.Errorf("tshark line %q", line)
			continue
		}
		// tshark escapes control characters in fields; compare the
		// comments that have none.
		var simple []string
		for _, c := range want[i].comments {
			if !strings.ContainsAny(c, "\t\n") {
				simple = append(simple, c)
			}
		}
		for _, c := range simple {
			if !strings.Contains(f[2], c) {
				t.Errorf("packet %d: tshark comments %q lack %q", i+1, f[2], c)
			}
		}
		if len(want[i].comments) == 0 && f[2] != "" {
			t.Errorf("packet %d: tshark shows comments %q, want none", i+1, f[2])
		}
	}
	if _, err := os.Stat("/usr/bin/capinfos"); err == nil {
		out, err := exec.Command("/usr/bin/capinfos", "-M", path).Output()
		if err != nil {
			t.Fatalf("capinfos: %v", err)
		}
		s := string(out)
		for _, w := range []string{"Number of interfaces in file: 2", "Number of stat entries = 1", "Number of packets = 3", "Number of packets = 1", "Encapsulation = Ethernet", "Linux cooked-mode capture v2"} {
			if !strings.Contains(s, w) {
				t.Errorf("capinfos output lacks %q:\n%s", w, s)
			}
		}
	}
}

func TestPcapngWriterErrors(t *testing.T) {
	w, err := NewPcapngWriter(io.Discard, PcapngWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(&Packet{}); err == nil {
		t.Error("packet on interface 0 before any interface was added: no error")
	}
	w.AddInterface(Interface{LinkType: layers.LinkTypeRaw})
	if err := w.WritePacket(&Packet{InterfaceIndex: 1}); err == nil {
		t.Error("packet on interface 1: no error")
	}
	if err := w.WritePacket(&Packet{Data: make([]byte, MaxSnapLen+1)}); err == nil {
		t.Error("oversized packet: no error")
	}
	big := strings.Repeat("c", maxOptionLen)
	if err := w.WritePacket(&Packet{Data: make([]byte, MaxSnapLen), Comments: []string{big, big}}); err == nil {
		t.Error("packet whose block exceeds the reader's limit: no error")
	}
	if err := w.WriteInterfaceStats(5, time.Now(), InterfaceStats{}); err == nil {
		t.Error("stats for interface 5: no error")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.WritePacket(&Packet{}); err == nil {
		t.Error("write after Close: no error")
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestPcapngWriterWriteError(t *testing.T) {
	w, err := NewPcapngWriter(&failWriter{n: 1000}, PcapngWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.AddInterface(Interface{LinkType: layers.LinkTypeRaw})
	p := Packet{Data: make([]byte, 1000)}
	for i := 0; i < 200 && err == nil; i++ {
		err = w.WritePacket(&p)
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v, want disk full", err)
	}
	if err2 := w.WritePacket(&p); err2 == nil {
		t.Error("writer continues after an error")
	}
}

func TestPcapngWriterLongComment(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewPcapngWriter(&buf, PcapngWriterOptions{})
	w.AddInterface(Interface{LinkType: layers.LinkTypeRaw})
	long := strings.Repeat("é", 40000) // 80000 bytes, two per character
	if err := w.WritePacket(&Packet{Data: []byte("x"), Comments: []string{long, "short"}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	pkts, _ := mustRead(t, buf.Bytes())
	c := pkts[0].comments
	if len(c) != 2 || c[1] != "short" || len(c[0]) > maxOptionLen || len(c[0]) < maxOptionLen-4 || !utf8.ValidString(c[0]) {
		t.Errorf("comments: %d of them, first %d bytes valid=%v", len(c), len(c[0]), utf8.ValidString(c[0]))
	}
}

func TestPcapngWriterZeroAllocs(t *testing.T) {
	w, _ := NewPcapngWriter(io.Discard, PcapngWriterOptions{})
	w.AddInterface(Interface{LinkType: layers.LinkTypeEthernet})
	p := Packet{Timestamp: time.Now(), Data: make([]byte, 74), Length: 74, Comments: []string{"connect() enter"}}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := w.WritePacket(&p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per packet, want 0", allocs)
	}
}
