package report

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestShapeRule replays port-reuse.pcap (300 connections of one shape,
// made by real sockets on loopback) under each --explain mode, batch and
// streaming (watch, run), and checks how many connections each explains in
// full.
func TestShapeRule(t *testing.T) {
	const file = "../testdata/port-reuse.pcap"
	if _, err := os.Stat(file); err != nil {
		t.Skip("no " + file)
	}
	headers := regexp.MustCompile(`(?m)^Connection \d+:`)
	ended := regexp.MustCompile(`(?m)^#\d+ ended:`)
	for _, tc := range []struct {
		name            string
		opt             TextOptions
		full, same      int // connections in full; "same as" lines
		grouped, shapes bool
	}{
		// The first 32 in full (a small file looks as before), the next
		// 200 one line each, the last 68 in a grouped line.
		{"auto", TextOptions{}, 32, 200, true, true},
		{"all", TextOptions{Explain: ExplainAll}, 300, 0, false, false},
		// Streaming: the first 32 live, each with its "#N ended" summary;
		// later ones by the same rule as they end.
		{"stream", TextOptions{Stream: true}, 32, 200, true, true},
		{"stream-all", TextOptions{Stream: true, Explain: ExplainAll}, 300, 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			tc.opt.Ephemeral = testEphemeral
			replayInto(t, file, NewText(&out, tc.opt))
			s := out.String()
			full := len(headers.FindAllString(s, -1))
			if tc.opt.Stream {
				full = len(ended.FindAllString(s, -1))
			}
			if same := strings.Count(s, ": same as #1\n"); full != tc.full || same != tc.same {
				t.Errorf("%d connections in full, %d \"same as #1\" lines; want %d and %d", full, same, tc.full, tc.same)
			}
			if got := strings.Contains(s, "68 more like #1 (#233 … #300"); got != tc.grouped {
				t.Errorf("grouped line of the last 68: %v, want %v", got, tc.grouped)
			}
			if got := strings.Contains(s, "300× like #1: three-way handshake"); got != tc.shapes {
				t.Errorf("shapes in the summary: %v, want %v", got, tc.shapes)
			}
		})
	}
}

// TestExplainNone checks --explain none: one line per segment, as tcpdump
// -nn -r port-reuse.pcap prints 3300 lines, each with its connection's
// number, and the totals.
func TestExplainNone(t *testing.T) {
	const file = "../testdata/port-reuse.pcap"
	if _, err := os.Stat(file); err != nil {
		t.Skip("no " + file)
	}
	var out bytes.Buffer
	replayInto(t, file, NewText(&out, TextOptions{Explain: ExplainNone, Ephemeral: testEphemeral}))
	line := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{6} #\d+ 127\.0\.0\.1:\d+ > 127\.0\.0\.1:\d+ \[[SFPRUEW.]+\] seq=\d+`)
	if n := len(line.FindAllString(out.String(), -1)); n != 3300 {
		t.Errorf("%d segment lines, want 3300 (tcpdump -nn -r %s | wc -l)", n, file)
	}
	first := "13:19:11.096925 #1 127.0.0.1:40004 > 127.0.0.1:8080 [S] seq=0 len=0 win=65495 client SYN_SENT\n"
	if !strings.Contains(out.String(), first) {
		t.Errorf("no line %q (tcpdump -nn -r: 13:19:11.096925 IP 127.0.0.1.40004 > 127.0.0.1.8080: Flags [S], ..., win 65495, ..., length 0):\n%s", first, out.String()[:400])
	}
	if strings.Contains(out.String(), "same as") {
		t.Error("--explain none wrote compact connection lines")
	}
}

// TestIRTTMedian checks the histogram the slow-handshake rule reads.
func TestIRTTMedian(t *testing.T) {
	var h irttHist
	for range 99 {
		h.add(50 * time.Microsecond)
	}
	h.add(time.Second)
	if m := h.median(); m > 50*time.Microsecond || m < 40*time.Microsecond {
		t.Errorf("median %v, want about 50µs (within a quarter power of two below)", m)
	}
}
