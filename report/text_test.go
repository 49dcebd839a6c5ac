package report

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestTextGolden writes the text report of every capture in both languages
// and compares it with testdata/text/NAME.LANG.txt. The captures with
// observed calls (testdata/*.pcapng: the demo's scenarios, and
// run-edges.pcapng, a program traced under `socktrace run`) check that the
// explanations follow the calls seen: a FIN after shutdown(), a failed
// non-blocking connect(), a failed bind(), SO_LINGER 0, the port bind(…:0)
// got. Regenerate with: go test ./report -run TextGolden -update
func TestTextGolden(t *testing.T) {
	for _, file := range captures(t) {
		for _, lang := range []Lang{English, Korean} {
			base := filepath.Base(file)
			t.Run(base+"/"+string(lang), func(t *testing.T) {
				var out bytes.Buffer
				replayInto(t, file, NewText(&out, TextOptions{Lang: lang, Ephemeral: testEphemeral}))
				checkDiagramShape(t, out.String())
				golden(t, filepath.Join("text", base+"."+string(lang)+".txt"), out.Bytes())
			})
		}
	}
}

// TestNarrowGolden writes the text report and the diagram at 80 columns,
// the narrowest terminal socktrace fits, in both languages: no line is
// wider, and the columns stay in place.
func TestNarrowGolden(t *testing.T) {
	files := []string{"../testdata/half-close.pcap", "../testdata/syn-retransmit.pcap", "testdata/calls-all-scenarios.pcapng", "testdata/run-edges.pcapng"}
	for _, file := range files {
		for _, lang := range []Lang{English, Korean} {
			base := filepath.Base(file)
			t.Run(base+"/"+string(lang), func(t *testing.T) {
				var text, diagram bytes.Buffer
				replayInto(t, file, NewText(&text, TextOptions{Lang: lang, Ephemeral: testEphemeral, Width: 80}))
				checkShape(t, text.String(), 80)
				golden(t, filepath.Join("text", base+"."+string(lang)+".w80.txt"), text.Bytes())
				replayInto(t, file, NewDiagram(&diagram, DiagramOptions{Lang: lang, Ephemeral: testEphemeral, Width: 80}))
				checkShape(t, diagram.String(), 80)
				golden(t, filepath.Join("diagram", base+"."+string(lang)+".w80.txt"), diagram.Bytes())
			})
		}
	}
}
