package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReplayTcpdumpCaptures replays every capture of tcpdump's own test
// suite (../shared/captures/tcpdump-tests, 830 files, many malformed on
// purpose) through the whole pipeline. Each must end — with exit 0, or
// exit 1 and a message naming the file — within a few seconds, and never
// panic (a panic would kill this test binary).
func TestReplayTcpdumpCaptures(t *testing.T) {
	dir := filepath.Join("..", "shared", "captures", "tcpdump-tests")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Skipf("tcpdump's test captures are not here (%v); they live beside the repository in ../shared", err)
	}
	var ok, failed, segments int
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		var out, errOut bytes.Buffer
		done := make(chan int, 1)
		go func() {
			done <- run([]string{"socktrace", "replay", "--format", "json", path}, &out, &errOut)
		}()
		select {
		case code := <-done:
			switch code {
			case 0:
				ok++
			case 1:
				failed++
				if !strings.Contains(errOut.String(), e.Name()) {
					t.Errorf("%s: error does not name the file: %q", e.Name(), errOut.String())
				}
			default:
				t.Errorf("%s: exit code %d: %s", e.Name(), code, errOut.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: replay still running after 20 s", e.Name())
		}
		// The summary line is always last, whatever happened before.
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, `{"type":"summary"`) {
			t.Errorf("%s: last line is not the summary: %.200s", e.Name(), last)
		}
		segments += strings.Count(out.String(), `"type":"segment"`)
	}
	t.Logf("%d captures replayed cleanly, %d ended with an error (not a capture file, truncated, corrupt); %d TCP segments explained", ok, failed, segments)
	if ok < 100 {
		t.Errorf("only %d captures replayed cleanly", ok)
	}
}
