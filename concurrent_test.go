package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/socktrace/socktrace/internal/gencap"
)

// TestManyConcurrentConnections replays, with the real binary, a capture
// of 100000 connections all open at once (a busy server's load: every SYN
// comes before any connection closes), more than the connection table
// holds. Every connection must be counted once: a packet for a connection
// the full table evicted resumes it under its number, marked "resumed",
// and never opens a bogus midstream connection. Peak RSS must stay under
// 64 MiB in every format.
func TestManyConcurrentConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and replays 1M packets; skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "socktrace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	const conns = 100000
	pcap := filepath.Join(dir, "concurrent.pcap")
	if err := gencap.WriteFile(pcap, gencap.Options{Connections: conns, Interleave: conns, ClientIPs: 4, ClientPorts: 25000}); err != nil {
		t.Fatal(err)
	}

	// JSON: count the connections by their lines.
	cmd := exec.Command(bin, "replay", "--format", "json", pcap)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The child's ru_maxrss starts from this process's high-water mark
	// (see resetPeakRSS): under -count=5 this process had grown past 64 MiB
	// and every later run failed on its own memory, not socktrace's.
	resetPeakRSS(t)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		firstParts, resumedParts, bogus int
		summary                         struct{ Connections, Evicted, Resumed int64 }
	)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.HasPrefix(line, []byte(`{"type":"connection"`)):
			// A first part may be cut short by the full table after its
			// SYN; a resumed part continues it. Only a first part seen
			// midstream would be a bogus new connection. (The fields are
			// matched as the writer writes them, its output being equal
			// to encoding/json's (TestJSONMatchesEncodingJSON): a million
			// lines are not worth decoding whole.)
			switch {
			case bytes.Contains(line, []byte(`"resumed":true`)):
				resumedParts++
			case bytes.Contains(line, []byte(`"handshake":"midstream"`)):
				bogus++
			default:
				firstParts++
			}
		case bytes.HasPrefix(line, []byte(`{"type":"summary"`)):
			if err := json.Unmarshal(line, &summary); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("json: %v", err)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss >> 10
	t.Logf("json: %d connections, %d first parts, %d resumed parts, summary %+v, peak RSS %d MiB", conns, firstParts, resumedParts, summary, rss)
	if summary.Connections != conns || firstParts != conns || bogus != 0 {
		t.Errorf("json: summary says %d connections, %d lines open one with a three-way handshake, %d open a bogus one; want %d, %d, 0",
			summary.Connections, firstParts, bogus, conns, conns)
	}
	if summary.Evicted == 0 || summary.Resumed == 0 || int64(resumedParts) != summary.Resumed {
		t.Errorf("json: %d evicted, %d resumed, %d resumed lines: the table should have overflowed and resumed", summary.Evicted, summary.Resumed, resumedParts)
	}
	if rss > 64 {
		t.Errorf("json: peak RSS %d MiB, want at most 64", rss)
	}

	for _, format := range []string{"text", "diagram"} {
		cmd := exec.Command(bin, "replay", "--format", format, pcap)
		out, err := os.Create(filepath.Join(dir, format))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout = out
		resetPeakRSS(t)
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		out.Close()
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss >> 10
		b, _ := os.ReadFile(out.Name())
		t.Logf("%s: %d bytes of output, peak RSS %d MiB", format, len(b), rss)
		if !strings.Contains(string(b), "100000 connections: 100000× three-way handshake") {
			t.Errorf("%s: the totals do not count 100000 three-way connections:\n%s", format, tail(string(b), 1500))
		}
		if rss > 64 {
			t.Errorf("%s: peak RSS %d MiB, want at most 64", format, rss)
		}
	}
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }
