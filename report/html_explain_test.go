package report

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/internal/gencap"
)

// --explain decides which connections the page draws: under auto the
// first 32 and then one per shape, capped at maxSections; all draws every
// one, past the cap; none draws none and says so under the table.
func TestHTMLExplain(t *testing.T) {
	const conns = 300 // one shape, past maxSections
	path := filepath.Join(t.TempDir(), "same.pcap")
	if err := gencap.WriteFile(path, gencap.Options{Connections: conns}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		explain  Explain
		sections int
		note     string
	}{
		{ExplainAuto, smallReport, "have the shape of one drawn above"},
		{ExplainAll, conns, ""},
		{ExplainNone, 0, "--explain none: none of the 300 connections is drawn"},
	} {
		var out bytes.Buffer
		replayInto(t, path, NewHTML(&out, HTMLOptions{Explain: tc.explain}))
		page := out.String()
		if got := strings.Count(page, `<section id="conn-`); got != tc.sections {
			t.Errorf("explain %d: %d connections drawn, want %d", tc.explain, got, tc.sections)
		}
		if tc.note != "" && !strings.Contains(page, tc.note) {
			t.Errorf("explain %d: no note %q", tc.explain, tc.note)
		}
		if tc.explain == ExplainAll && strings.Contains(page, "are not drawn") {
			t.Errorf("explain all: the page says some connections are not drawn")
		}
		if got := strings.Count(page, "<tr><td>"); got != conns {
			t.Errorf("explain %d: %d table rows, want %d", tc.explain, got, conns)
		}
	}
}
