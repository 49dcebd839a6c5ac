package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/socktrace/socktrace/internal/hostilecap"
	"github.com/socktrace/socktrace/internal/neutral"
)

// FuzzReplay runs the whole replay — file reader, decoder, tracker, every
// report writer and the pcapng writer — on a file of the fuzzer's bytes,
// the way an outsider's file reaches socktrace. The parts have fuzz
// targets of their own; this one finds what only their combination does.
// For any input: exit 0 or 1 (never a panic or a usage error); nothing on
// stdout, stderr or in the HTML page that a terminal or a browser would
// obey; every JSON line parses and has a type; the last is the summary;
// and the file `replay -w` wrote replays without an error.
//
//	go test -run '^$' -fuzz FuzzReplay -fuzztime 60s -parallel 1 .
func FuzzReplay(f *testing.F) {
	for _, glob := range []string{"testdata/*.pcap", "testdata/*.pcapng", "testdata/crafted/*.pcap"} {
		files, _ := filepath.Glob(glob)
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err != nil {
				f.Fatal(err)
			}
			if len(data) <= 64<<10 {
				f.Add(uint8(len(name)), data)
			}
		}
	}
	var b bytes.Buffer
	if err := hostilecap.HostileStrings(&b, neutral.Hostile); err != nil {
		f.Fatal(err)
	}
	f.Add(uint8(2), b.Bytes())
	// One format a run (chosen by the first argument), the HTML page and
	// the pcapng file each time: six replays an input made it too slow
	// to explore.
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		dir := t.TempDir()
		in := filepath.Join(dir, "in.pcap")
		if err := os.WriteFile(in, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{[]string{"text", "diagram", "json"}[which%3]} {
			html := filepath.Join(dir, format+".html")
			written := filepath.Join(dir, format+".pcapng")
			var out, errOut bytes.Buffer
			code := run([]string{"socktrace", "replay", "--format", format, "--html", html, "-w", written, in}, &out, &errOut)
			if code != 0 && code != 1 {
				t.Fatalf("%s: exit %d: %s", format, code, errOut.String())
			}
			page, _ := os.ReadFile(html)
			for name, got := range map[string][]byte{"stdout": out.Bytes(), "stderr": errOut.Bytes(), "html": page} {
				if bad, ok := unsafeRune(string(got), false); !ok {
					t.Fatalf("%s: %s carries %q raw", format, name, bad)
				}
			}
			if format == "json" {
				checkJSONLines(t, out.Bytes())
			}
			if code != 0 {
				continue
			}
			// What -w wrote is a capture socktrace reads to its end.
			var again, againErr bytes.Buffer
			if code := run([]string{"socktrace", "replay", "--format", "json", written}, &again, &againErr); code != 0 {
				t.Fatalf("%s: the file -w wrote does not replay: exit %d: %s", format, code, againErr.String())
			}
		}
	})
}

// checkJSONLines checks NDJSON output: every line an object with a type,
// the last one the summary.
func checkJSONLines(t *testing.T, out []byte) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 16<<20)
	last := ""
	for sc.Scan() {
		var v struct{ Type string }
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil || v.Type == "" {
			t.Fatalf("a JSON line that does not parse or has no type (%v): %s", err, sc.Bytes())
		}
		last = v.Type
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if last != "summary" {
		t.Fatalf("the last JSON line is a %q, not the summary", last)
	}
}
