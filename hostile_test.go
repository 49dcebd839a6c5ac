package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/socktrace/socktrace/internal/hostilecap"
	"github.com/socktrace/socktrace/internal/neutral"
)

// TestHostileStringsInEveryFormat replays a capture whose socket calls
// carry terminal escape sequences, bidi overrides and raw control bytes in
// every string field (comm, detail, call, side, scenario) and in the
// payload, and checks that no output — text, diagram (with and without
// colour), JSON, HTML, in English and Korean — contains a byte a terminal
// would obey, while the strings are still shown, escaped.
func TestHostileStringsInEveryFormat(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "hostile.pcapng")
	var b bytes.Buffer
	if err := hostilecap.HostileStrings(&b, neutral.Hostile); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := [][]string{
		{"--format", "text"},
		{"--format", "text", "--lang", "ko"},
		{"--format", "diagram", "--color", "never"},
		{"--format", "diagram", "--color", "always"},
		{"--format", "diagram", "--ascii"},
		{"--format", "json"},
	}
	for _, args := range tests {
		html := filepath.Join(dir, "out.html")
		os.Remove(html)
		var out, errOut bytes.Buffer
		argv := append(append([]string{"socktrace", "replay"}, args...), "--html", html, in)
		if code := run(argv, &out, &errOut); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut.String())
		}
		page, err := os.ReadFile(html)
		if err != nil {
			t.Fatal(err)
		}
		colour := strings.Contains(strings.Join(args, " "), "always")
		for name, got := range map[string]string{"stdout": out.String(), "stderr": errOut.String(), "html": string(page)} {
			if bad, ok := unsafeRune(got, colour && name == "stdout"); !ok {
				t.Errorf("%v: %s carries %q raw", args, name, bad)
			}
		}
		// The calls are still there, shown escaped.
		if !strings.Contains(out.String()+string(page), `\x1b]0;pwned\x07`) {
			t.Errorf("%v: the hostile comm is not shown escaped:\n%s", args, out.String())
		}
	}
}

// unsafeRune finds the first rune a terminal or a reader could be fooled
// by. With colour, socktrace's own SGR sequences (ESC [ digits m) are
// allowed, and nothing else.
func unsafeRune(s string, colour bool) (string, bool) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b && colour && isSGR(s[i:]):
			i += strings.IndexByte(s[i:], 'm') + 1
			continue
		case r == '\n' || r == '\t':
		case r == utf8.RuneError && size == 1,
			r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0,
			unicode.Is(unicode.Bidi_Control, r), unicode.Is(unicode.Cf, r) && r != 0xfeff,
			r == 0x2028, r == 0x2029:
			return s[i:min(len(s), i+12)], false
		}
		i += size
	}
	return "", true
}

func isSGR(s string) bool {
	if !strings.HasPrefix(s, "\x1b[") {
		return false
	}
	for _, c := range []byte(s[2:]) {
		switch {
		case c == 'm':
			return true
		case c >= '0' && c <= '9' || c == ';':
		default:
			return false
		}
	}
	return false
}

// TestRunRenamedProgram traces a program that renames itself to an escape
// sequence with prctl(PR_SET_NAME): its name must reach neither the
// terminal (text, diagram) nor the pcapng file `run -w` writes raw, and
// must still be shown, escaped.
func TestRunRenamedProgram(t *testing.T) {
	needCapture(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "renamed")
	if out, err := exec.Command("go", "build", "-o", bin, "./calls/testdata/renamed").CombinedOutput(); err != nil {
		t.Fatalf("build the test program: %v\n%s", err, out)
	}
	for _, format := range []string{"text", "diagram", "json"} {
		pcap := filepath.Join(dir, format+".pcapng")
		var out, errOut bytes.Buffer
		if code := run([]string{"socktrace", "run", "--iface", "lo", "--format", format, "-w", pcap, "--", bin}, &out, &errOut); code != 0 {
			t.Fatalf("%s: exit %d: %s", format, code, errOut.String())
		}
		if strings.Contains(errOut.String(), "ptrace") {
			t.Skipf("ptrace is not permitted here: %s", errOut.String())
		}
		for name, got := range map[string]string{"stdout": out.String(), "stderr": errOut.String()} {
			if bad, ok := unsafeRune(got, false); !ok {
				t.Errorf("%s: %s carries %q raw", format, name, bad)
			}
		}
		// The diagram names no processes; text and JSON do.
		if format != "diagram" && !strings.Contains(out.String(), `\x1b]0;pwned\x07`) && !strings.Contains(out.String(), `\\x1b]0;pwned\\x07`) {
			t.Errorf("%s: the program's name is not shown escaped:\n%s", format, out.String())
		}
		file, err := os.ReadFile(pcap)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(file, []byte("\x1b]0;")) || bytes.Contains(file, []byte(`\u001b]0;`)) {
			t.Errorf("%s: the pcapng file carries the escape sequence", format)
		}
		if !bytes.Contains(file, []byte(`\\x1b]0;pwned\\x07`)) {
			t.Errorf("%s: the pcapng file's comments lack the escaped name", format)
		}
	}
}
