package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput checks the messages and exit codes for input that is not
// right, and that a truncated file still gets everything before the cut.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	notCapture := filepath.Join(dir, "notes.txt")
	os.WriteFile(notCapture, []byte("these are not packets\n"), 0o644)
	whole, err := os.ReadFile("testdata/handshake.pcap")
	if err != nil {
		t.Fatal(err)
	}
	// Cut in the middle of the 8th packet record.
	truncated := filepath.Join(dir, "cut.pcap")
	os.WriteFile(truncated, whole[:len(whole)*3/4], 0o644)

	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   string
		stdout   []string // pieces the output must still have
		segments int      // at least this many segment lines
	}{
		{"not a capture", []string{"replay", notCapture}, 1, "socktrace: " + notCapture + ": not a pcap or pcapng file", nil, 0},
		{"missing file", []string{"replay", filepath.Join(dir, "nope.pcap")}, 1, "no such file", nil, 0},
		{"no file", []string{"replay"}, 2, "replay needs a capture file", nil, 0},
		{"unknown format", []string{"replay", "--format", "xml", truncated}, 2, `unknown format "xml"`, nil, 0},
		{"bad filter", []string{"replay", truncated, "port", "eighty"}, 2, "filter:", nil, 0},
		{"truncated", []string{"replay", "--format", "json", truncated}, 1, "truncated", []string{`"type":"connection"`, `"type":"summary"`, `"error":`}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"socktrace"}, tt.args...), &out, &errOut)
			if code != tt.code || !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut.String(), tt.code, tt.stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %s:\n%s", want, out.String())
				}
			}
			if n := strings.Count(out.String(), `"type":"segment"`); n < tt.segments {
				t.Errorf("%d segments explained before the error, want at least %d", n, tt.segments)
			}
		})
	}
}
