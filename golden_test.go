package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the current output")

// TestGolden replays every capture in testdata/ and compares the text and
// JSON reports with testdata/golden/NAME.{txt,json}. Each golden file was
// checked by hand against tcpdump -nn and tshark once; testdata/README.md
// says how each capture was made and where the peers disagree with the
// ground truth. Regenerate with: go test -run TestGolden -update
func TestGolden(t *testing.T) {
	captures, _ := filepath.Glob("testdata/*.pcap")
	more, _ := filepath.Glob("testdata/*.pcapng")
	captures = append(captures, more...)
	if len(captures) == 0 {
		t.Fatal("no captures in testdata/")
	}
	for _, capture := range captures {
		name := strings.TrimSuffix(filepath.Base(capture), filepath.Ext(capture))
		if filepath.Ext(capture) == ".pcapng" {
			name += ".ng"
		}
		for _, format := range []string{"text", "json"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				var out, errOut bytes.Buffer
				args := []string{"socktrace", "replay", "--format", format, "--lang", "en", "--ephemeral-ports", "32768-60999", capture}
				if code := run(args, &out, &errOut); code != 0 {
					t.Fatalf("exit %d: %s", code, errOut.String())
				}
				ext := map[string]string{"text": ".txt", "json": ".json"}[format]
				golden := filepath.Join("testdata", "golden", name+ext)
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (create it with: go test -run TestGolden -update)", err)
				}
				if !bytes.Equal(out.Bytes(), want) {
					t.Errorf("output differs from %s (if the change is right: go test -run TestGolden -update)\n%s", golden, firstDiff(string(want), out.String()))
				}
			})
		}
	}
}

// firstDiff shows the first line where got differs from want.
func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return fmt.Sprintf("line %d:\n  want: %s\n  got:  %s", i+1, wl, gl)
		}
	}
	return ""
}
