package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// got is a packet copied out of a reader.
type got struct {
	ts       time.Time
	lt       layers.LinkType
	data     string
	length   int
	iface    int
	comments []string
}

// readAll reads r to its end and returns copies of the packets and the
// error that ended it (io.EOF for a clean end).
func readAll(r *FileReader) ([]got, error) {
	var out []got
	var p Packet
	for {
		err := r.ReadPacket(&p)
		if err != nil {
			return out, err
		}
		out = append(out, got{
			ts: p.Timestamp, lt: p.LinkType, data: string(p.Data), length: p.Length,
			iface: p.InterfaceIndex, comments: append([]string(nil), p.Comments...),
		})
	}
}

func mustRead(t *testing.T, data []byte) ([]got, *FileReader) {
	t.Helper()
	r, err := NewFileReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("NewFileReader: %v", err)
	}
	pkts, err := readAll(r)
	if err != io.EOF {
		t.Fatalf("after %d packets: %v, want io.EOF", len(pkts), err)
	}
	return pkts, r
}

func TestPcapVariants(t *testing.T) {
	for _, tc := range []struct {
		name                string
		big, nano, modified bool
	}{
		{"usec-le", false, false, false},
		{"usec-be", true, false, false},
		{"nsec-le", false, true, false},
		{"nsec-be", true, true, false},
		{"modified-le", false, false, true},
		{"modified-be", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frac := uint32(123456)
			want := time.Unix(1700000000, 123456000)
			if tc.nano {
				frac = 123456789
				want = time.Unix(1700000000, 123456789)
			}
			data := newPcap(tc.big, tc.nano, tc.modified, uint32(layers.LinkTypeLinuxSLL2), 65535).
				packet(1700000000, frac, []byte("first"), 5).
				packet(1700000001, 0, []byte("cut"), 1500). // snap length cut it
				packet(1700000002, 0, nil, 0).
				packet(1700000003, 0, []byte("long"), 2). // wire length < captured: a writer bug
				bytes()
			pkts, r := mustRead(t, data)
			if r.Format() != FormatPcap || r.LinkType() != layers.LinkTypeLinuxSLL2 {
				t.Errorf("format %v link type %v", r.Format(), r.LinkType())
			}
			if len(pkts) != 4 {
				t.Fatalf("%d packets, want 4", len(pkts))
			}
			if !pkts[0].ts.Equal(want) || pkts[0].data != "first" || pkts[0].length != 5 || pkts[0].lt != layers.LinkTypeLinuxSLL2 {
				t.Errorf("packet 1 = %+v, want time %v", pkts[0], want)
			}
			if pkts[1].data != "cut" || pkts[1].length != 1500 {
				t.Errorf("packet 2 = %+v", pkts[1])
			}
			if pkts[2].data != "" || pkts[2].length != 0 {
				t.Errorf("packet 3 = %+v", pkts[2])
			}
			if pkts[3].length != 4 {
				t.Errorf("packet 4 length %d, want the captured 4", pkts[3].length)
			}
			ifs := r.Interfaces()
			if len(ifs) != 1 || ifs[0].SnapLen != 65535 || ifs[0].Stats.OSDrop != -1 {
				t.Errorf("Interfaces() = %+v", ifs)
			}
			if off := r.Offset(); off != int64(len(data)) {
				t.Errorf("Offset() = %d at the end, want %d", off, len(data))
			}
			if r.Packets() != 4 {
				t.Errorf("Packets() = %d", r.Packets())
			}
		})
	}
}

// TestPcapLinkTypeFCSBits: the top bits of a pcap link type carry FCS
// information and are not part of the link type.
func TestPcapLinkTypeFCSBits(t *testing.T) {
	data := newPcap(false, false, false, 0x14000000|uint32(layers.LinkTypeEthernet), 100).packet(1, 0, []byte("x"), 1).bytes()
	pkts, _ := mustRead(t, data)
	if pkts[0].lt != layers.LinkTypeEthernet {
		t.Errorf("link type %v, want Ethernet", pkts[0].lt)
	}
}

// TestCapLenAboveSnapLen: libpcap and Wireshark read a record whose
// captured length exceeds the header's snap length, and real files have
// them, so FileReader does too.
func TestCapLenAboveSnapLen(t *testing.T) {
	data := newPcap(false, false, false, 1, 64).packet(1, 0, bytes.Repeat([]byte{1}, 100), 100).bytes()
	pkts, _ := mustRead(t, data)
	if len(pkts) != 1 || len(pkts[0].data) != 100 {
		t.Fatalf("got %+v", pkts)
	}
}

// ngSample is a pcapng file with two sections of different byte orders,
// interfaces of different link types and timestamp resolutions, every kind
// of packet block, comments, statistics and blocks to skip.
func ngSample(big bool) []byte {
	b := &ngBuilder{}
	b.shb(big, strOpt(ngOptComment, "section one"))
	b.idb(uint16(layers.LinkTypeEthernet), 262144, strOpt(ngOptIfName, "lo"))
	b.idb(uint16(layers.LinkTypeLinuxSLL2), 0,
		strOpt(ngOptIfName, "any\x00"),
		strOpt(ngOptIfDescription, "every interface"),
		ngOpt{ngOptIfTSResol, []byte{9}},
		b.u64Opt(ngOptIfTSOffset, 100))
	b.block(4, []byte{0, 0, 0, 0}) // name resolution block: skipped
	b.epb(0, 1700000000_123456, []byte("eth"), 60, strOpt(ngOptComment, "connect() enter"), strOpt(ngOptComment, "second"))
	b.epb(1, 1700000000_123456789, []byte("sll2!"), 5, ngOpt{2, []byte{0, 0, 0, 1}}) // epb_flags, not a comment
	b.pb(0, 1700000001_000000, []byte("old"), 3, strOpt(ngOptComment, "pb comment"))
	b.spb([]byte("simple"), 6)
	b.block(0x40000BAD, make([]byte, 1000)) // custom block: skipped
	b.isb(0, 1700000002_000000, b.u64Opt(ngOptISBIfRecv, 10), b.u64Opt(ngOptISBIfDrop, 2), b.u64Opt(ngOptISBOSDrop, 3))
	// Second section, the other byte order; interfaces restart at 0.
	b.shb(!big)
	b.idb(uint16(layers.LinkTypeRaw), 65535, ngOpt{ngOptIfTSResol, []byte{0x80 | 20}}) // 2^-20 s
	b.epb(0, 3<<20|1<<19, []byte("raw"), 3)
	b.isb(0, 0, b.u64Opt(ngOptISBUsrDeliv, 1), b.tsOpt(ngOptISBStartTime, 5<<32|1))
	return b.bytes()
}

func TestPcapngVariants(t *testing.T) {
	for _, big := range []bool{false, true} {
		t.Run(fmt.Sprint("big=", big), func(t *testing.T) {
			pkts, r := mustRead(t, ngSample(big))
			want := []got{
				{time.Unix(1700000000, 123456000), layers.LinkTypeEthernet, "eth", 60, 0, []string{"connect() enter", "second"}},
				{time.Unix(1700000100, 123456789), layers.LinkTypeLinuxSLL2, "sll2!", 5, 1, nil},
				{time.Unix(1700000001, 0), layers.LinkTypeEthernet, "old", 3, 0, []string{"pb comment"}},
				{time.Time{}, layers.LinkTypeEthernet, "simple", 6, 0, nil},
				{time.Unix(3, 500000000), layers.LinkTypeRaw, "raw", 3, 2, nil},
			}
			if len(pkts) != len(want) {
				t.Fatalf("%d packets, want %d: %+v", len(pkts), len(want), pkts)
			}
			for i := range want {
				g, w := pkts[i], want[i]
				if !g.ts.Equal(w.ts) || g.lt != w.lt || g.data != w.data || g.length != w.length || g.iface != w.iface ||
					fmt.Sprint(g.comments) != fmt.Sprint(w.comments) {
					t.Errorf("packet %d = %+v\nwant %+v", i+1, g, w)
				}
			}
			ifs := r.Interfaces()
			if len(ifs) != 3 {
				t.Fatalf("%d interfaces, want 3", len(ifs))
			}
			if ifs[0].Name != "lo" || ifs[1].Name != "any" || ifs[1].Description != "every interface" ||
				ifs[1].TSResolution != time.Nanosecond || ifs[0].TSResolution != time.Microsecond || ifs[2].TSResolution != 953 {
				t.Errorf("interfaces %+v", ifs)
			}
			for i := -1; i <= len(ifs); i++ {
				ifc, ok := r.Interface(i)
				if ok != (i >= 0 && i < len(ifs)) || ok && ifc != ifs[i] {
					t.Errorf("Interface(%d) = %+v, %v; Interfaces() has %d", i, ifc, ok, len(ifs))
				}
			}
			if s := ifs[0].Stats; s.Received != 10 || s.IfDrop != 2 || s.OSDrop != 3 || s.FilterAccept != -1 || s.UserDelivered != -1 {
				t.Errorf("interface 0 stats %+v", s)
			}
			if s := ifs[1].Stats; s != UnknownInterfaceStats() {
				t.Errorf("interface 1 stats %+v, want unknown", s)
			}
			if s := ifs[2].Stats; s.UserDelivered != 1 || s.Received != -1 || !s.Start.Equal(time.Unix(5<<12, 953)) {
				t.Errorf("interface 2 stats %+v", s)
			}
			if r.LinkType() != layers.LinkTypeEthernet || r.Format() != FormatPcapng {
				t.Errorf("LinkType %v Format %v", r.LinkType(), r.Format())
			}
		})
	}
}

func TestTSResolutions(t *testing.T) {
	for _, tc := range []struct {
		resol byte
		ts    uint64
		want  time.Time
	}{
		{6, 1_500000, time.Unix(1, 500000000)},
		{9, 1_000000007, time.Unix(1, 7)},
		{3, 2_500, time.Unix(2, 500000000)},
		{12, 1_000000000_001, time.Unix(1, 0)}, // picoseconds round down
		{0, 42, time.Unix(42, 0)},
		{0x80 | 10, 1024 + 512, time.Unix(1, 500000000)},
		{0x80 | 63, 1 << 63, time.Unix(1, 0)},
		{19, 10_000000000_000000000 - 1, time.Unix(0, 999999999)},
	} {
		b := &ngBuilder{}
		b.shb(false).idb(1, 0, ngOpt{ngOptIfTSResol, []byte{tc.resol}}).epb(0, tc.ts, nil, 0)
		pkts, _ := mustRead(t, b.bytes())
		if !pkts[0].ts.Equal(tc.want) {
			t.Errorf("resolution 0x%02x, ts %d: %v, want %v", tc.resol, tc.ts, pkts[0].ts, tc.want)
		}
	}
	for _, bad := range []byte{20, 0x80 | 64, 0xff} {
		b := &ngBuilder{}
		b.shb(false).idb(1, 0, ngOpt{ngOptIfTSResol, []byte{bad}}).epb(0, 1, nil, 0)
		r, err := NewFileReader(bytes.NewReader(b.bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readAll(r); !errors.Is(err, ErrCorruptFile) {
			t.Errorf("resolution 0x%02x: %v, want ErrCorruptFile", bad, err)
		}
	}
}

func TestNotCaptureFile(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":        nil,
		"one byte":     {0xd4},
		"three bytes":  {0xd4, 0xc3, 0xb2},
		"text":         []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"),
		"elf":          []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00"),
		"gzip":         {0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0},
		"pcapng bom":   append([]byte{0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0}, []byte("notmagic")...),
		"line endings": []byte("\n\r\r\nsome text that happens to start like pcapng"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewFileReader(bytes.NewReader(data))
			if !errors.Is(err, ErrNotCaptureFile) || err.Error() != "not a pcap or pcapng file" {
				t.Errorf("err = %v, want exactly ErrNotCaptureFile", err)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(path, []byte("hello, world\n"), 0o644)
	if _, err := OpenFile(path); !errors.Is(err, ErrNotCaptureFile) {
		t.Errorf("OpenFile(text file) = %v", err)
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenFile(missing) = %v", err)
	}
}

// TestTruncated cuts valid files at every length and checks that every
// packet before the cut is returned, followed by an error that says the
// file is truncated and where (or io.EOF when the cut falls between
// packets).
func TestTruncated(t *testing.T) {
	pcap := newPcap(false, true, false, 1, 65535).
		packet(1, 0, []byte("aaaaaaaaaa"), 10).
		packet(2, 0, []byte("bbbbbbbbbbbbbbbbbbbb"), 20).
		packet(3, 0, []byte("cc"), 2).bytes()
	ng := ngSample(false)
	for _, tc := range []struct {
		name   string
		data   []byte
		header int // bytes before the first packet record
	}{
		{"pcap", pcap, 24},
		{"pcapng", ng, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			full, _ := mustRead(t, tc.data)
			// Where each packet ends: a cut at or after it keeps it.
			ends := packetEnds(t, tc.data)
			for cut := 0; cut < len(tc.data); cut++ {
				r, err := NewFileReader(bytes.NewReader(tc.data[:cut]))
				if err != nil {
					switch {
					case cut < 4 && errors.Is(err, ErrNotCaptureFile):
					case errors.Is(err, io.ErrUnexpectedEOF) && strings.Contains(err.Error(), "truncated"):
					default:
						t.Fatalf("cut at %d: NewFileReader: %v", cut, err)
					}
					continue
				}
				pkts, err := readAll(r)
				keep := 0
				for keep < len(ends) && ends[keep] <= int64(cut) {
					keep++
				}
				if len(pkts) != keep {
					t.Fatalf("cut at %d: %d packets, want %d", cut, len(pkts), keep)
				}
				for i := range pkts {
					if pkts[i].data != full[i].data {
						t.Fatalf("cut at %d: packet %d differs", cut, i+1)
					}
				}
				if err == io.EOF {
					continue // the cut fell between records
				}
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("cut at %d: %v, want a truncation error", cut, err)
				}
				msg := err.Error()
				if !strings.Contains(msg, "truncated") || !strings.Contains(msg, "byte offset") ||
					!strings.Contains(msg, fmt.Sprintf("after packet %d", keep)) {
					t.Fatalf("cut at %d: message %q does not say where", cut, msg)
				}
				// The reader stays ended.
				var p Packet
				if err2 := r.ReadPacket(&p); err2 != err {
					t.Fatalf("cut at %d: next read %v, want the same error", cut, err2)
				}
			}
		})
	}
}

// packetEnds returns the file offset after each packet of a valid file.
func packetEnds(t *testing.T, data []byte) []int64 {
	t.Helper()
	r, err := NewFileReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var ends []int64
	var p Packet
	for r.ReadPacket(&p) == nil {
		ends = append(ends, r.Offset())
	}
	return ends
}

func TestTruncatedMessage(t *testing.T) {
	data := newPcap(false, false, false, 1, 65535).packet(1, 0, []byte("0123456789"), 10).packet(2, 0, []byte("0123456789"), 10).bytes()
	r, _ := NewFileReader(bytes.NewReader(data[:len(data)-4]))
	_, err := readAll(r)
	want := "file truncated after packet 1: packet 2 at byte offset 50 needs 26 bytes, the file has only 22 more: unexpected EOF"
	if err == nil || err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
	_, err = NewFileReader(bytes.NewReader(data[:10]))
	want = "file truncated after packet 0: the pcap file header at byte offset 0 needs 24 bytes, the file has only 10 more: unexpected EOF"
	if err == nil || err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
}

func TestCorrupt(t *testing.T) {
	ng := func(f func(b *ngBuilder)) []byte {
		b := &ngBuilder{}
		b.shb(false).idb(1, 0)
		f(b)
		return b.bytes()
	}
	le := func(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	for _, tc := range []struct {
		name string
		data []byte
		want string // in the message
	}{
		{"pcap caplen absurd", newPcap(false, false, false, 1, 0).record(0, 0, 0xffffffff, 60, nil).bytes(), "captured length of 4294967295"},
		{"pcap caplen above limit", newPcap(true, false, false, 1, 65535).record(0, 0, MaxSnapLen+1, 60, nil).bytes(), "more than any capture"},
		{"block length short", ng(func(b *ngBuilder) { b.buf.Write(append(le(6), le(8)...)); b.buf.Write(le(8)) }), "invalid length 8"},
		{"block length odd", ng(func(b *ngBuilder) { b.buf.Write(append(le(6), le(13)...)); b.buf.Write(make([]byte, 8)) }), "invalid length 13"},
		{"block too long", ng(func(b *ngBuilder) { b.buf.Write(append(le(6), le(64<<20)...)); b.buf.Write(make([]byte, 8)) }), "more than the limit"},
		{"trailer mismatch", ng(func(b *ngBuilder) {
			b.epb(0, 0, []byte("x"), 1)
			b.buf.Bytes()[b.buf.Len()-1] = 9
		}), "at its end"},
		{"skipped block trailer mismatch", ng(func(b *ngBuilder) {
			b.block(4, make([]byte, 8))
			b.buf.Bytes()[b.buf.Len()-1] = 9
		}), "at its end"},
		{"epb caplen beyond block", ng(func(b *ngBuilder) {
			b.epb(0, 0, []byte("abcd"), 4)
			b.buf.Bytes()[b.buf.Len()-16] = 200 // caplen's low byte
		}), "more than its block holds"},
		{"epb caplen absurd", ng(func(b *ngBuilder) {
			b.epb(0, 0, []byte("abcd"), 4)
			copy(b.buf.Bytes()[b.buf.Len()-16:], le(0xfffffff0))
		}), "captured length of 4294967280"},
		{"unknown interface", ng(func(b *ngBuilder) { b.epb(3, 0, nil, 0) }), "interface 3"},
		{"spb without interface", (&ngBuilder{}).shb(false).spb([]byte("x"), 1).bytes(), "describes 0 interface"},
		{"epb too short", ng(func(b *ngBuilder) { b.block(ngBlockEPB, make([]byte, 8)) }), "too short"},
		{"idb too short", ng(func(b *ngBuilder) { b.block(ngBlockIDB, make([]byte, 4)) }), "too short"},
		{"shb bad magic later", ng(func(b *ngBuilder) { b.block(ngBlockSHB, make([]byte, 16)) }), "byte-order magic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewFileReader(bytes.NewReader(tc.data))
			if err == nil {
				_, err = readAll(r)
			}
			if !errors.Is(err, ErrCorruptFile) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrCorruptFile saying %q", err, tc.want)
			}
		})
	}
}

func TestUnsupportedVersion(t *testing.T) {
	data := newPcap(false, false, false, 1, 100).bytes()
	data[4] = 3
	if _, err := NewFileReader(bytes.NewReader(data)); err == nil || !strings.Contains(err.Error(), "unsupported pcap version 3.4") {
		t.Errorf("pcap 3.4: %v", err)
	}
	ng := (&ngBuilder{}).shb(false).bytes()
	ng[12] = 2
	if _, err := NewFileReader(bytes.NewReader(ng)); err == nil || !strings.Contains(err.Error(), "unsupported pcapng version 2.0") {
		t.Errorf("pcapng 2.0: %v", err)
	}
}

// TestBadOptions: a malformed option loses the options, never the packet.
func TestBadOptions(t *testing.T) {
	b := &ngBuilder{}
	b.shb(false).idb(1, 0)
	b.epb(0, 0, []byte("data"), 4, strOpt(ngOptComment, "ok"))
	// Make the comment's length run past the block.
	raw := b.buf.Bytes()
	raw[len(raw)-4-4-8+2] = 0xff
	pkts, _ := mustRead(t, b.bytes())
	if len(pkts) != 1 || pkts[0].data != "data" || len(pkts[0].comments) != 0 {
		t.Errorf("got %+v", pkts)
	}
}

// TestSkipLargeBlock: blocks socktrace ignores are skipped without being
// held in memory, even when larger than the buffer.
func TestSkipLargeBlock(t *testing.T) {
	b := &ngBuilder{}
	b.shb(false).idb(1, 0)
	b.block(0x40000BAD, make([]byte, 3*bufSize+8))
	b.epb(0, 0, []byte("after"), 5)
	pkts, _ := mustRead(t, b.bytes())
	if len(pkts) != 1 || pkts[0].data != "after" {
		t.Errorf("got %+v", pkts)
	}
	// Cut inside the big block: a truncation error.
	data := b.bytes()
	r, _ := NewFileReader(bytes.NewReader(data[:bufSize*2]))
	_, err := readAll(r)
	want := fmt.Sprintf("file truncated after packet 0: a block of type 0x40000bad at byte offset 48 needs %d bytes, the file has only %d more: unexpected EOF",
		12+3*bufSize+8, 2*bufSize-48)
	if !errors.Is(err, io.ErrUnexpectedEOF) || err.Error() != want {
		t.Errorf("cut in a skipped block: %v\nwant %s", err, want)
	}
}

// TestLargePackets: 64 KiB loopback frames and MaxSnapLen-sized ones, many
// in a row, so that the buffer wraps at every possible alignment.
func TestLargePackets(t *testing.T) {
	pb := newPcap(false, false, false, 1, 262144)
	nb := (&ngBuilder{}).shb(true).idb(1, 262144)
	var sizes []int
	for i := 0; i < 40; i++ {
		n := []int{65535 + 14, MaxSnapLen, 1, 4093, 100000}[i%5] + i
		if n > MaxSnapLen {
			n = MaxSnapLen
		}
		sizes = append(sizes, n)
		d := bytes.Repeat([]byte{byte(i)}, n)
		pb.packet(uint32(i), 0, d, uint32(n))
		nb.epb(0, uint64(i), d, uint32(n), strOpt(ngOptComment, strings.Repeat("c", i*100)))
	}
	for name, data := range map[string][]byte{"pcap": pb.bytes(), "pcapng": nb.bytes()} {
		for _, rd := range []struct {
			name string
			r    func([]byte) io.Reader
		}{
			{"whole", func(b []byte) io.Reader { return bytes.NewReader(b) }},
			{"half", func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) }},
			{"dataerr", func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) }},
		} {
			r, err := NewFileReader(rd.r(data))
			if err != nil {
				t.Fatal(err)
			}
			pkts, err := readAll(r)
			if err != io.EOF || len(pkts) != len(sizes) {
				t.Fatalf("%s/%s: %d packets, %v", name, rd.name, len(pkts), err)
			}
			for i, p := range pkts {
				if len(p.data) != sizes[i] || p.data[0] != byte(i) || p.data[len(p.data)-1] != byte(i) {
					t.Fatalf("%s/%s: packet %d wrong (%d bytes)", name, rd.name, i, len(p.data))
				}
			}
		}
	}
}

func TestOneByteReader(t *testing.T) {
	for name, data := range map[string][]byte{"pcapng": ngSample(true), "pcap": newPcap(true, false, false, 1, 9).packet(1, 1, []byte("xyz"), 3).bytes()} {
		want, _ := mustRead(t, data)
		r, err := NewFileReader(iotest.OneByteReader(bytes.NewReader(data)))
		if err != nil {
			t.Fatal(err)
		}
		pkts, err := readAll(r)
		if err != io.EOF || fmt.Sprint(pkts) != fmt.Sprint(want) {
			t.Errorf("%s: one byte at a time gives %v, %v", name, pkts, err)
		}
	}
}

// TestReadError: an error from the underlying reader ends the reader with
// that error, wrapped with where it happened.
func TestReadError(t *testing.T) {
	data := newPcap(false, false, false, 1, 9).packet(1, 1, []byte("xyz"), 3).bytes()
	boom := errors.New("disk on fire")
	r, err := NewFileReader(io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom)))
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := readAll(r)
	if len(pkts) != 1 || !errors.Is(err, boom) {
		t.Errorf("%d packets, %v", len(pkts), err)
	}
}

// zeroReader returns 0, nil forever: the reader must give up, not spin.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestNoProgress(t *testing.T) {
	if _, err := NewFileReader(zeroReader{}); !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("err = %v, want io.ErrNoProgress", err)
	}
}

func TestStatsAndClose(t *testing.T) {
	data := ngSample(false)
	path := filepath.Join(t.TempDir(), "s.pcapng")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s := r.Stats(); s.Size != int64(len(data)) {
		t.Errorf("Stats().Size = %d, want %d", s.Size, len(data))
	}
	if _, err := readAll(r); err != io.EOF {
		t.Fatal(err)
	}
	if s := r.Stats(); s.BytesRead != int64(len(data)) {
		t.Errorf("Stats().BytesRead = %d at the end, want %d", s.BytesRead, len(data))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	var p Packet
	if err := r.ReadPacket(&p); err == nil || err == io.EOF {
		t.Errorf("read after Close: %v", err)
	}
	// Not a regular file: size unknown.
	r2, _ := NewFileReader(bytes.NewReader(data))
	if s := r2.Stats(); s.Size != -1 {
		t.Errorf("size of a bytes.Reader = %d, want -1", s.Size)
	}
}

func TestZeroAllocs(t *testing.T) {
	for name, data := range map[string][]byte{
		"pcap":   benchPcap(t, 200),
		"pcapng": benchPcapng(t, 200),
	} {
		r, err := NewFileReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		var p Packet
		allocs := testing.AllocsPerRun(1000, func() {
			if err := r.ReadPacket(&p); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per packet, want 0", name, allocs)
		}
	}
}

// TestTcpdumpCaptures reads every capture of tcpdump's test suite (kept
// outside the repository) to its end: no panic, no hang. Errors are fine
// (some files are deliberately broken) but are logged.
func TestTcpdumpCaptures(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "captures", "tcpdump-tests")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("tcpdump test captures not available: %v", err)
	}
	files, packets, failed := 0, 0, 0
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		go func() {
			r, err := OpenFile(path)
			if err != nil {
				done <- result{0, err}
				return
			}
			defer r.Close()
			pkts, err := readAll(r)
			done <- result{len(pkts), err}
		}()
		select {
		case res := <-done:
			files++
			packets += res.n
			if res.err != io.EOF {
				failed++
				t.Logf("%s: %d packets, then %v", e.Name(), res.n, res.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still reading after 10s", e.Name())
		}
	}
	t.Logf("%d files, %d packets, %d ended with an error", files, packets, failed)
}
