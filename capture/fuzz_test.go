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
)

// Fuzz targets for the two file formats. Both run the same checks; they
// differ in their seeds, which steer the fuzzer into one format or the
// other. The corpus the fuzzer found lives in testdata/fuzz/.
//
//	go test ./capture -run '^$' -fuzz FuzzReadPcap -fuzztime 3m -parallel 1
//	go test ./capture -run '^$' -fuzz FuzzReadPcapng -fuzztime 3m -parallel 1

func FuzzReadPcap(f *testing.F) {
	for _, big := range []bool{false, true} {
		f.Add(newPcap(big, false, false, 1, 65535).packet(1, 2, []byte("abcdef"), 60).packet(3, 4, nil, 0).bytes())
		f.Add(newPcap(big, true, false, 276, 262144).packet(1, 999999999, []byte("nano"), 4).bytes())
		f.Add(newPcap(big, false, true, 113, 0).packet(1, 2, []byte("modified"), 8).bytes())
	}
	f.Add(benchPcap(f, 2))
	addTestdata(f, ".pcap")
	f.Fuzz(func(t *testing.T, data []byte) { checkRead(t, data) })
}

func FuzzReadPcapng(f *testing.F) {
	f.Add(ngSample(false))
	f.Add(ngSample(true))
	w, _ := writeSample(f)
	f.Add(w)
	b := &ngBuilder{}
	b.shb(true).idb(101, 64, ngOpt{ngOptIfTSResol, []byte{0x83}}).spb([]byte("0123456789"), 100).epb(0, 7, []byte("e"), 1)
	f.Add(b.bytes())
	addTestdata(f, ".pcapng")
	f.Fuzz(func(t *testing.T, data []byte) { checkRead(t, data) })
}

// addTestdata seeds f with the recorded captures in testdata/.
func addTestdata(f *testing.F, ext string) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*"+ext))
	for _, p := range paths {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
}

// checkRead reads data to its end and checks what must hold for any input:
// no panic; every error is one of the documented kinds; every packet is
// within limits; the reader always moves forward; and reading the same
// bytes one at a time gives the same packets and the same error.
func checkRead(t *testing.T, data []byte) {
	whole := readTrace(t, bytes.NewReader(data), len(data))
	bytewise := readTrace(t, iotest.OneByteReader(bytes.NewReader(data)), len(data))
	if whole != bytewise {
		t.Fatalf("reading at once and byte by byte differ:\n%s\n---\n%s", whole, bytewise)
	}
}

// readTrace reads a file and describes what it read, for comparison.
func readTrace(t *testing.T, src io.Reader, size int) string {
	var sb strings.Builder
	r, err := NewFileReader(src)
	if err != nil {
		checkErr(t, err)
		return "open: " + err.Error()
	}
	var p Packet
	last := r.Offset()
	for n := 0; ; n++ {
		err := r.ReadPacket(&p)
		if err != nil {
			if err != io.EOF {
				checkErr(t, err)
			}
			fmt.Fprintf(&sb, "end: %v\n", err)
			break
		}
		// Every record takes at least 12 bytes of the file.
		if n > size/12 {
			t.Fatalf("%d packets from %d bytes", n+1, size)
		}
		if len(p.Data) > MaxSnapLen || p.Length < len(p.Data) {
			t.Fatalf("packet %d: %d bytes captured, length %d", n+1, len(p.Data), p.Length)
		}
		if off := r.Offset(); off <= last || off > int64(size) {
			t.Fatalf("packet %d: offset went from %d to %d (file %d bytes)", n+1, last, off, size)
		}
		last = r.Offset()
		if p.InterfaceIndex < 0 || p.InterfaceIndex >= len(r.Interfaces()) {
			t.Fatalf("packet %d: interface %d of %d", n+1, p.InterfaceIndex, len(r.Interfaces()))
		}
		fmt.Fprintf(&sb, "%d %v %d %d %x %q\n", p.InterfaceIndex, p.Timestamp.UnixNano(), p.LinkType, p.Length, p.Data, p.Comments)
	}
	return sb.String()
}

func checkErr(t *testing.T, err error) {
	t.Helper()
	switch {
	case errors.Is(err, ErrNotCaptureFile), errors.Is(err, ErrCorruptFile):
	case errors.Is(err, io.ErrUnexpectedEOF) && strings.Contains(err.Error(), "truncated"):
	case strings.HasPrefix(err.Error(), "unsupported pcap"):
	default:
		t.Fatalf("undocumented error: %v", err)
	}
}
