package report

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/decode"
)

var update = flag.Bool("update", false, "rewrite the golden files under report/testdata/")

// captures lists the project's test captures. New captures get goldens on
// the next -update, without a change here.
func captures(t *testing.T) []string {
	t.Helper()
	var files []string
	// The project's captures, then this package's own: demo runs written
	// with --write, whose packet comments carry the observed socket calls.
	for _, pat := range []string{"../testdata/*.pcap", "../testdata/*.pcapng", "testdata/*.pcapng"} {
		m, err := filepath.Glob(pat)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no captures in ../testdata yet")
	}
	return files
}

// handler is a report writer, as main.go wires them.
type handler interface {
	decode.Handler
	Summary(Summary) error
}

// replayInto runs a capture through a tracker into h, as replay does.
func replayInto(t *testing.T, file string, h handler) {
	t.Helper()
	src, err := capture.OpenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tr := decode.NewTracker(h, decode.TrackerConfig{})
	n, err := decode.Run(context.Background(), src, tr, decode.RunOptions{})
	tr.Flush()
	s := Summary{Counts: n, Connections: tr.Stats().Connections, Evicted: tr.Stats().Evicted, Dropped: -1}
	if err != nil {
		s.Err = err.Error()
	}
	if err := h.Summary(s); err != nil {
		t.Fatal(err)
	}
}

// golden compares got with the named file under testdata/, or rewrites it
// with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./report -run Diagram -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./report -run Diagram -update rewrites it; check the diff)\n got:\n%s", path, got)
	}
}

// A fixed ephemeral range keeps the goldens independent of the machine.
var testEphemeral = [2]int{32768, 60999}

func TestDiagramGolden(t *testing.T) {
	for _, file := range captures(t) {
		for _, lang := range []Lang{English, Korean} {
			base := filepath.Base(file) // handshake.pcap and handshake.pcapng both exist
			t.Run(base+"/"+string(lang), func(t *testing.T) {
				var out bytes.Buffer
				replayInto(t, file, NewDiagram(&out, DiagramOptions{Lang: lang, Ephemeral: testEphemeral}))
				checkDiagramShape(t, out.String())
				golden(t, filepath.Join("diagram", base+"."+string(lang)+".txt"), out.Bytes())
			})
		}
	}
}

// checkDiagramShape asserts what every diagram must be: within 100
// columns, and free of control characters (bytes from the wire are
// escaped; colour is off here).
func checkDiagramShape(t *testing.T, out string) { checkShape(t, out, 100) }

// checkShape asserts that every line of out is within width columns
// (Hangul counts two) and free of control characters.
func checkShape(t *testing.T, out string, width int) {
	t.Helper()
	for i, line := range strings.Split(out, "\n") {
		if n := cells(line); n > width {
			t.Errorf("line %d is %d columns wide: %q", i+1, n, line)
		}
		for _, r := range line {
			if r < 0x20 || r == 0x7f {
				t.Errorf("line %d has control character %U: %q", i+1, r, line)
				break
			}
		}
	}
}

// synthetic feeds a tracker a hand-made connection: a handshake, data
// from the wire that tries to drive the terminal, a pause of gap, and a
// graceful close. It returns the diagram.
func synthetic(t *testing.T, opt DiagramOptions, gap time.Duration) string {
	t.Helper()
	var out bytes.Buffer
	d := NewDiagram(&out, opt)
	tr := decode.NewTracker(d, decode.TrackerConfig{})
	cli := netip.MustParseAddrPort("10.0.0.1:40000")
	srv := netip.MustParseAddrPort("10.0.0.2:80")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const ci, si = 1000, 5000
	evil := []byte("\x1b]0;owned\x07\x1b[2J\r\n")
	segs := []decode.Segment{
		{Time: t0, Src: cli, Dst: srv, Seq: ci, Flags: decode.SYN},
		{Time: t0.Add(time.Millisecond), Src: srv, Dst: cli, Seq: si, Ack: ci + 1, Flags: decode.SYN | decode.ACK},
		{Time: t0.Add(2 * time.Millisecond), Src: cli, Dst: srv, Seq: ci + 1, Ack: si + 1, Flags: decode.ACK},
		{Time: t0.Add(3 * time.Millisecond), Src: cli, Dst: srv, Seq: ci + 1, Ack: si + 1, Flags: decode.PSH | decode.ACK, Len: len(evil), Payload: evil},
		{Time: t0.Add(gap), Src: cli, Dst: srv, Seq: ci + 1 + uint32(len(evil)), Ack: si + 1, Flags: decode.FIN | decode.ACK},
		{Time: t0.Add(gap + time.Millisecond), Src: srv, Dst: cli, Seq: si + 1, Ack: ci + 2 + uint32(len(evil)), Flags: decode.FIN | decode.ACK},
		{Time: t0.Add(gap + 2*time.Millisecond), Src: cli, Dst: srv, Seq: ci + 2 + uint32(len(evil)), Ack: si + 2, Flags: decode.ACK},
	}
	for i := range segs {
		tr.Observe(&segs[i])
	}
	tr.Flush()
	if err := d.Summary(Summary{Connections: 1, Dropped: -1}); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// arrowColumns returns the columns where the arrowheads of the diagram's
// rows are, one set per direction: they must not move from row to row.
func arrowColumns(out, right, left string) (map[int]bool, map[int]bool) {
	rc, lc := map[int]bool{}, map[int]bool{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "seq=") {
			continue
		}
		if i := strings.Index(line, right); i >= 0 {
			rc[cells(line[:i])] = true
		}
		if i := strings.Index(line, left); i >= 0 {
			lc[cells(line[:i])] = true
		}
	}
	return rc, lc
}

func TestDiagramAlignment(t *testing.T) {
	for _, c := range []struct {
		name string
		opt  DiagramOptions
		gap  time.Duration
	}{
		{"en", DiagramOptions{}, time.Second},
		{"ko", DiagramOptions{Lang: Korean}, time.Second},
		{"long-lived", DiagramOptions{}, 30 * time.Hour},
		{"ascii", DiagramOptions{ASCII: true}, 1234 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := synthetic(t, c.opt, c.gap)
			checkDiagramShape(t, out)
			right, left := unicodeGlyphs.right, unicodeGlyphs.left
			if c.opt.ASCII {
				right, left = asciiGlyphs.right, asciiGlyphs.left
			}
			rc, lc := arrowColumns(out, right, left)
			if len(rc) != 1 || len(lc) != 1 {
				t.Errorf("arrowheads in columns %v and %v, want one column each:\n%s", rc, lc, out)
			}
			if strings.Contains(out, "owned") == false || strings.Contains(out, `\x1b]0;owned\x07`) == false {
				t.Errorf("the payload preview is missing or not escaped:\n%s", out)
			}
		})
	}
}

func TestDiagramASCII(t *testing.T) {
	out := synthetic(t, DiagramOptions{ASCII: true}, time.Second)
	// Observed calls, their results and brackets, and the lane view.
	var calls bytes.Buffer
	replayInto(t, "testdata/calls-all-scenarios.pcapng", NewDiagram(&calls, DiagramOptions{ASCII: true}))
	out += calls.String()
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "+") && !strings.Contains(line, "|") {
			continue // prose and headers, not the drawing
		}
		for _, r := range line {
			if r > 0x7e {
				t.Errorf("non-ASCII %q in an ASCII diagram row: %q", r, line)
				break
			}
		}
	}
}

func TestDiagramColor(t *testing.T) {
	if out := synthetic(t, DiagramOptions{}, time.Second); strings.Contains(out, "\x1b") {
		t.Errorf("escape sequences without Color:\n%q", out)
	}
	out := synthetic(t, DiagramOptions{Color: true}, time.Second)
	want := map[string]string{"SYN ": ansiGreen, "SYN-ACK": ansiGreen, "FIN-ACK": ansiYellow}
	for _, line := range strings.Split(out, "\n") {
		for label, col := range want {
			if strings.Contains(line, label+" seq=") && !strings.Contains(line, col) {
				t.Errorf("%s arrow not in its colour: %q", label, line)
			}
		}
		if strings.Contains(line, "len=20") && strings.Contains(line, "\x1b") {
			t.Errorf("a data arrow is coloured: %q", line)
		}
		if strings.Count(line, "\x1b[") != 2*strings.Count(line, ansiReset) {
			t.Errorf("a colour is not reset on its line: %q", line)
		}
	}
	var refused bytes.Buffer
	file := "../testdata/refused.pcap"
	if _, err := os.Stat(file); err != nil {
		t.Skip("no ../testdata/refused.pcap")
	}
	replayInto(t, file, NewDiagram(&refused, DiagramOptions{Color: true}))
	if !strings.Contains(refused.String(), ansiRed) {
		t.Errorf("the RST is not red:\n%q", refused.String())
	}
}

func TestColorMode(t *testing.T) {
	for _, c := range []struct {
		flag     string
		terminal bool
		noColor  string
		want     bool
	}{
		{"", true, "", true},
		{"auto", true, "", true},
		{"auto", false, "", false},
		{"auto", true, "1", false},
		{"always", false, "1", true},
		{"never", true, "", false},
	} {
		got, err := ColorMode(c.flag, c.terminal, c.noColor)
		if err != nil || got != c.want {
			t.Errorf("ColorMode(%q, %v, %q) = %v, %v; want %v", c.flag, c.terminal, c.noColor, got, err, c.want)
		}
	}
	if _, err := ColorMode("sometimes", true, ""); err == nil {
		t.Error("ColorMode accepted an unknown mode")
	}
}

func TestCells(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{{"abc", 3}, {"클라이언트", 10}, {"소켓 (송신)", 11}, {"│─▶", 3}} {
		if got := cells(c.s); got != c.want {
			t.Errorf("cells(%q) = %d, want %d", c.s, got, c.want)
		}
	}
	if got := fit("클라이언트 연결 수립", 9); cells(got) > 9 || !strings.HasSuffix(got, "…") {
		t.Errorf("fit = %q (%d columns)", got, cells(got))
	}
}

// TestDiagramBounded feeds a connection with many data segments to a
// diagram that keeps few: the rest are counted, not drawn, and every
// state change is still there.
func TestDiagramBounded(t *testing.T) {
	var out bytes.Buffer
	d := NewDiagram(&out, DiagramOptions{MaxSteps: 5})
	tr := decode.NewTracker(d, decode.TrackerConfig{})
	cli := netip.MustParseAddrPort("10.0.0.1:40000")
	srv := netip.MustParseAddrPort("10.0.0.2:80")
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	seq := uint32(101)
	tr.Observe(&decode.Segment{Time: at(0), Src: cli, Dst: srv, Seq: 100, Flags: decode.SYN})
	tr.Observe(&decode.Segment{Time: at(1), Src: srv, Dst: cli, Seq: 500, Ack: 101, Flags: decode.SYN | decode.ACK})
	tr.Observe(&decode.Segment{Time: at(2), Src: cli, Dst: srv, Seq: 101, Ack: 501, Flags: decode.ACK})
	const n = 50
	payload := []byte("0123456789")
	for i := 0; i < n; i++ {
		tr.Observe(&decode.Segment{Time: at(3 + i), Src: cli, Dst: srv, Seq: seq, Ack: 501, Flags: decode.ACK | decode.PSH, Len: 10, Payload: payload})
		seq += 10
	}
	tr.Observe(&decode.Segment{Time: at(100), Src: cli, Dst: srv, Seq: seq, Ack: 501, Flags: decode.RST})
	tr.Flush()
	if err := d.Summary(Summary{Dropped: -1}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if arrows := strings.Count(s, "seq="); arrows != 6 {
		t.Errorf("%d arrows, want 5 kept and the RST:\n%s", arrows, s)
	}
	if !strings.Contains(s, msgf(English, "more.segments", n-2)) {
		t.Errorf("no note of the %d segments left out:\n%s", n-2, s)
	}
	if len(d.rec.pending) != 0 || d.rec.total != 0 {
		t.Errorf("%d connections, %d steps still buffered after Flush", len(d.rec.pending), d.rec.total)
	}
}

func msgf(lang Lang, id msgID, args ...any) string { return fmt.Sprintf(msg(lang, id), args...) }

// TestTee checks that a Tee gives each writer the whole input, and that
// CreateHTML's file holds the page once the summary is written.
func TestTee(t *testing.T) {
	file := "../testdata/handshake.pcap"
	if _, err := os.Stat(file); err != nil {
		t.Skip("no ../testdata/handshake.pcap")
	}
	var a, b bytes.Buffer
	replayInto(t, file, NewDiagram(&a, DiagramOptions{}))
	page := filepath.Join(t.TempDir(), "report.html")
	h, err := CreateHTML(page, HTMLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	replayInto(t, file, Tee(NewDiagram(&b, DiagramOptions{}), h))
	if a.String() != b.String() {
		t.Errorf("the diagram through a Tee differs from the diagram alone")
	}
	got, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(got, []byte("</html>\n")) || !bytes.Contains(got, []byte("<svg ")) {
		t.Errorf("the HTML file is not a whole report (%d bytes)", len(got))
	}
	if _, err := CreateHTML(filepath.Join(t.TempDir(), "no", "such", "dir.html"), HTMLOptions{}); err == nil {
		t.Error("CreateHTML in a missing directory did not fail")
	}
}

// TestDiagramTcpdumpCorpus draws every capture of tcpdump's own test
// suite, when it is beside the project (see ../shared/captures/README.md):
// broken, truncated and fuzzed packets, midstream connections, many link
// types. Nothing may panic, and every diagram keeps its shape.
func TestDiagramTcpdumpCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 830 captures; skipped with -short")
	}
	files, _ := filepath.Glob("../../shared/captures/tcpdump-tests/*.pcap*")
	if len(files) == 0 {
		t.Skip("no ../../shared/captures/tcpdump-tests")
	}
	drawn := 0
	for _, file := range files {
		src, err := capture.OpenFile(file)
		if err != nil {
			continue // not a capture this reader takes; capture's tests cover that
		}
		var out bytes.Buffer
		h := Tee(NewDiagram(&out, DiagramOptions{Lang: Korean}), NewHTML(io.Discard, HTMLOptions{}))
		tr := decode.NewTracker(h, decode.TrackerConfig{})
		n, _ := decode.Run(context.Background(), src, tr, decode.RunOptions{})
		src.Close()
		tr.Flush()
		if err := h.Summary(Summary{Counts: n, Dropped: -1}); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if n.TCP > 0 {
			drawn++
			checkDiagramShape(t, out.String())
		}
	}
	t.Logf("%d captures with TCP drawn", drawn)
}
