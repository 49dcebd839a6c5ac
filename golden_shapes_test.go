package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGoldenShapes replays, in one report, a capture of 300 connections of
// one shape (port-reuse.pcap) followed by captures whose connections stand
// out (refused, SYN retransmissions, an abort by RST, a SYN never
// answered: half-open), and
// compares the text, diagram and HTML reports with
// testdata/golden/shapes.{txt,diagram.txt,html}: the first 32 connections
// and the first of each shape in full, later ones of the same shape one
// line ("same as #N") and past 200 a grouped line; the outliers in full
// with why; the summary's shapes and notable list; the page with a section
// per drawn connection and the rest linked from its table. Each capture's
// own golden (TestGolden) was compared with tcpdump -nn; these files only
// arrange the same connections. Regenerate with: go test -run
// TestGoldenShapes -update
func TestGoldenShapes(t *testing.T) {
	captures := []string{"testdata/port-reuse.pcap", "testdata/refused.pcap", "testdata/syn-retransmit.pcap",
		"testdata/abort.pcap", "testdata/syn-icmp.pcap"}
	for _, c := range captures {
		if _, err := os.Stat(c); err != nil {
			t.Skipf("no %s", c)
		}
	}
	for _, format := range []string{"text", "diagram", "html"} {
		t.Run(format, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := []string{"socktrace", "replay", "--lang", "en", "--ephemeral-ports", "32768-60999"}
			golden := filepath.Join("testdata", "golden", "shapes."+format+".txt")
			var page string
			switch format {
			case "html":
				page = filepath.Join(t.TempDir(), "shapes.html")
				args = append(args, "--format", "json", "--html", page)
				golden = filepath.Join("testdata", "golden", "shapes.html")
			default:
				args = append(args, "--format", format, "--ascii")
			}
			if code := run(append(args, captures...), &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			got := out.Bytes()
			if page != "" {
				var err error
				if got, err = os.ReadFile(page); err != nil {
					t.Fatal(err)
				}
			}
			text := string(got)
			// What the rule must show, whatever the wording.
			// Two shapes with the same words (#1, and #302 whose SYN was
			// sent twice) are told apart by their segments.
			musts := []string{"same as #", "more like #", "refused", "retransmitted", "reset", "half-open",
				"segments: ->SYN <-SYN-ACK ->ACK ... ->FIN-ACK", "segments: ->SYN ->SYN <-SYN-ACK"}
			if format == "html" {
				musts[1] = "connections are not drawn"
				musts[6] = "segments: →SYN ←SYN-ACK →ACK … →FIN-ACK"
				musts[7] = "segments: →SYN →SYN ←SYN-ACK"
			}
			for _, want := range musts {
				if !strings.Contains(text, want) {
					t.Errorf("%s: no %q", format, want)
				}
			}
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (create it with: go test -run TestGoldenShapes -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (if the change is right: go test -run TestGoldenShapes -update)\n%s", golden, firstDiff(string(want), text))
			}
		})
	}
}
