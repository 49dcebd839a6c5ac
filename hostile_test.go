package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/internal/hostilecap"
	"github.com/socktrace/socktrace/internal/neutral"
)

// TestHostileStringsInEveryFormat replays a capture whose socket calls
// carry terminal escape sequences, bidi overrides and raw control bytes in
// every string field (comm, detail, call, side, scenario), in their
// addresses' IPv6 zones (with a quote too), and in the payload, and checks
// that no output — text, diagram (with and without colour), JSON, HTML, in
// English and Korean — contains a byte a terminal would obey and every
// JSON line parses, while the strings are still shown, escaped.
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
		if args[1] == "json" {
			// An address's zone closed its JSON string and added keys.
			checkJSONLines(t, out.Bytes())
			if strings.Contains(out.String(), `"forged"`) {
				t.Errorf("a zone wrote JSON of its own:\n%s", out.String())
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

// TestOneConnectionMemoryIsBounded replays one connection carrying a
// million RSTs, and one carrying a million socket calls in its packets'
// comments, in every format, and checks the process's peak resident memory
// stays under 64 MiB and the report says what it left out. It measures the
// real binary (getrusage's ru_maxrss), runtime and all.
func TestOneConnectionMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and replays captures of 70 and 200 MB; skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "socktrace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	captures := []struct {
		name  string
		write func(io.Writer, int) error
		// what the text, diagram and HTML reports say they left out
		said string
	}{
		{"rsts", hostilecap.RSTs, "more segments with SYN, FIN or RST"},
		{"calls", hostilecap.CommentCalls, "more socket calls"},
	}
	const million = 1_000_000
	const limit = 64 << 20
	for _, c := range captures {
		path := filepath.Join(dir, c.name+".pcapng")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w := bufio.NewWriter(f)
		if err := c.write(w, million); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		for _, format := range []string{"text", "diagram", "json"} {
			html := filepath.Join(dir, c.name+"-"+format+".html")
			cmd := exec.Command(bin, "replay", "--format", format, "--html", html, path)
			var errOut bytes.Buffer
			out := &tailWriter{}
			cmd.Stdout, cmd.Stderr = out, &errOut
			resetPeakRSS(t)
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s %s: %v: %s", c.name, format, err, errOut.String())
			}
			rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
			t.Logf("%s, %s: peak RSS %.1f MiB, %d bytes out", c.name, format, float64(rss)/(1<<20), out.n)
			if rss > limit {
				t.Errorf("%s, %s: peak RSS %.1f MiB, more than 64 MiB", c.name, format, float64(rss)/(1<<20))
			}
			page, err := os.ReadFile(html)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > 4<<20 {
				t.Errorf("%s, %s: the HTML page is %d bytes", c.name, format, len(page))
			}
			switch {
			case format == "json" && c.name == "calls":
				if !bytes.Contains(out.tail, []byte(`"calls_omitted":`)) {
					t.Errorf("calls, json: the summary does not count the calls left out: %s", out.tail)
				}
			case format != "json":
				if !bytes.Contains(out.all, []byte(c.said)) && !bytes.Contains(out.all, []byte("more calls not drawn")) {
					t.Errorf("%s, %s: the report does not say %q", c.name, format, c.said)
				}
				if out.n > 4<<20 {
					t.Errorf("%s, %s: %d bytes of report", c.name, format, out.n)
				}
			}
			if format != "json" && !bytes.Contains(page, []byte(c.said)) && c.name == "rsts" {
				t.Errorf("%s: the HTML page does not say %q", c.name, c.said)
			}
		}
	}
}

// resetPeakRSS lowers this process's peak RSS to what it uses now. A child's
// ru_maxrss includes the peak of the process it was forked from (Linux
// carries the old memory's high-water mark across exec), so without this
// the capture generated in this process would be counted as socktrace's.
func resetPeakRSS(t *testing.T) {
	runtime.GC()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Logf("cannot reset the peak RSS (%v): the figures include the test's own", err)
	}
}

// tailWriter counts what is written, keeps the first 4 MiB (a bounded
// report fits) and the last 4 KiB.
type tailWriter struct {
	n    int
	all  []byte
	tail []byte
}

func (w *tailWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if room := 4<<20 - len(w.all); room > 0 {
		w.all = append(w.all, p[:min(room, len(p))]...)
	}
	w.tail = append(w.tail, p...)
	if len(w.tail) > 4096 {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-4096:]...)
	}
	return len(p), nil
}

// TestFilterErrors: a filter too large for classic BPF is a usage error in
// replay too (it used to match nothing, silently), and an error quotes
// only a short excerpt of a long token.
func TestFilterErrors(t *testing.T) {
	var ports []string
	for p := 1; p < 1500; p++ {
		ports = append(ports, "port "+strconv.Itoa(p))
	}
	tests := []struct {
		name, filter, want string
	}{
		{"too large", strings.Join(ports, " or "), "more than the kernel's limit of 4096"},
		{"long name", "host " + strings.Repeat("a", 100_000), `unsupported name "aaaa`},
		{"long number", "port " + strings.Repeat("9", 100_000), "invalid number"},
		{"long address", "host 1.2.3." + strings.Repeat("4", 100_000), "invalid IPv4 address"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run([]string{"socktrace", "replay", "testdata/handshake.pcap", tt.filter}, &out, &errOut)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2 (usage)", tt.name, code)
		}
		if !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%s: stderr %q lacks %q", tt.name, errOut.String(), tt.want)
		}
		if n := errOut.Len(); n > 400 {
			t.Errorf("%s: a %d-byte error message", tt.name, n)
		}
		if out.Len() != 0 {
			t.Errorf("%s: a usage error writes on stdout: %q", tt.name, out.String())
		}
	}
}

// TestExtremeTimestampsReplay replays files whose if_tsoffset puts the
// packets before year 1 or after year 9999: no format prints a negative
// year or an invalid date, and stderr says, naming the file, that the
// timestamps were out of range.
func TestExtremeTimestampsReplay(t *testing.T) {
	dir := t.TempDir()
	files := []struct {
		name   string
		offset int64
		ts     uint64
	}{
		{"future.pcapng", 1 << 62, 1},
		{"past.pcapng", -1 << 62, 0},
		{"wrap.pcapng", 1<<63 - 1, 1 << 63},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		var b bytes.Buffer
		if err := hostilecap.ExtremeTimestamps(&b, f.offset, f.ts); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, format := range []string{"text", "diagram", "json"} {
			html := filepath.Join(dir, f.name+"-"+format+".html")
			var out, errOut bytes.Buffer
			if code := run([]string{"socktrace", "replay", "--format", format, "--html", html, path}, &out, &errOut); code != 0 {
				t.Fatalf("%s, %s: exit %d: %s", f.name, format, code, errOut.String())
			}
			if !strings.Contains(errOut.String(), f.name) || !strings.Contains(errOut.String(), "out of range") {
				t.Errorf("%s, %s: stderr does not say the timestamps are out of range: %q", f.name, format, errOut.String())
			}
			page, _ := os.ReadFile(html)
			for _, s := range []string{out.String(), string(page)} {
				if strings.Contains(s, `"-`) || strings.Contains(s, "292277") || !strings.Contains(out.String(), "connection") && !strings.Contains(out.String(), "Connection") {
					t.Errorf("%s, %s: an invalid date or no connection:\n%s", f.name, format, s[:min(len(s), 2000)])
				}
			}
			if format == "json" {
				for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
					var v struct{ Time, Start string }
					if err := json.Unmarshal([]byte(line), &v); err != nil {
						t.Fatalf("%s: %v: %s", f.name, err, line)
					}
					for _, ts := range []string{v.Time, v.Start} {
						if ts == "" {
							continue
						}
						if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
							t.Errorf("%s: %q is not a valid time: %v", f.name, ts, err)
						}
					}
				}
			}
		}
	}
}

// TestOneBadFileAmongSeveral: a damaged file in the middle of a replay is
// reported, naming it, and the files after it are still read; the replay
// exits 1 at the end.
func TestOneBadFileAmongSeveral(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pcap")
	if err := os.WriteFile(bad, []byte("this is not a capture file at all, but it is long enough"), 0o644); err != nil {
		t.Fatal(err)
	}
	badHeader := filepath.Join(dir, "badheader.pcapng")
	if err := os.WriteFile(badHeader, []byte("\x0a\x0d\x0d\x0a\xff\xff\xff\x7f\x4d\x3c\x2b\x1a"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	code := run([]string{"socktrace", "replay", "--format", "json", "testdata/handshake.pcap", bad, badHeader, "testdata/abort.pcap"}, &out, &errOut)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, name := range []string{bad, badHeader} {
		if !strings.Contains(errOut.String(), name) {
			t.Errorf("stderr does not name %s: %q", name, errOut.String())
		}
	}
	if n := strings.Count(out.String(), `"type":"connection"`); n < 2 {
		t.Errorf("%d connections: the files after the bad ones were not read\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), `"type":"summary"`) {
		t.Errorf("no summary")
	}
}

// TestCtrlCEndsStalledFIFO replays a FIFO whose writer sends one packet and
// then stalls, keeping it open; Ctrl-C must end the replay at once with
// the packet explained and exit 0. A second run sends Ctrl-C before the
// writer has written anything (socktrace blocked opening the FIFO).
func TestCtrlCEndsStalledFIFO(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "socktrace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	var capture bytes.Buffer
	if err := hostilecap.SYNRetransmits(&capture, 1); err != nil {
		t.Fatal(err)
	}
	for _, writes := range []bool{true, false} {
		fifo := filepath.Join(dir, fmt.Sprintf("fifo-%v", writes))
		if err := syscall.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "replay", "--format", "json", fifo)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		if writes {
			// Opening for writing waits for socktrace to open for reading.
			w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close() // the writer stalls: open until the end
			if _, err := w.Write(capture.Bytes()); err != nil {
				t.Fatal(err)
			}
			// Wait until socktrace has read it all: it is then blocked
			// reading a pipe that has nothing more.
			for deadline := time.Now().Add(10 * time.Second); ; {
				n, err := unix.IoctlGetInt(int(w.Fd()), unix.TIOCINQ)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("socktrace did not read the FIFO: %d bytes left", n)
				}
				time.Sleep(5 * time.Millisecond)
			}
		} else {
			// socktrace blocks in open(2) until a writer comes; wait
			// until it is there (its signal handler is set by then).
			waitForOpen(t, cmd.Process.Pid, fifo)
		}
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("writes=%v: %v: %s", writes, err, errOut.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("writes=%v: still running 10 s after Ctrl-C", writes)
		}
		want := `"packets":0`
		if writes {
			want = `"packets":1`
		}
		if !strings.Contains(out.String(), `"type":"summary"`) || !strings.Contains(out.String(), want) {
			t.Errorf("writes=%v: no summary with %s:\n%s", writes, want, out.String())
		}
	}
}

// waitForOpen waits until process pid is in the middle of opening path:
// /proc/PID/syscall shows openat(2) (number 257 on amd64, 56 on arm64) and
// nothing has opened the FIFO yet. It gives up after 10 s.
func waitForOpen(t *testing.T, pid int, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, task.Name()))
			if err == nil && (strings.HasPrefix(string(b), "257 ") || strings.HasPrefix(string(b), "56 ")) {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("socktrace never opened %s", path)
}

// TestHostileNamesOnStderr: a file name, an output path or a command chosen
// by someone else (socktrace replay * in their directory) reaches stderr
// escaped in every message that quotes it — the error line, the per-file
// error of a replay of several files, the out-of-range timestamps note —
// and stdout stays clean too.
func TestHostileNamesOnStderr(t *testing.T) {
	dir := t.TempDir()
	evil := "\x1b]0;pwned\x07\u202e\x9b"
	name := func(s string) string { return filepath.Join(dir, s+evil) }
	if err := os.Mkdir(name("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name("junk"), []byte("this is not a capture file at all, but it is long enough"), 0o644); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := hostilecap.ExtremeTimestamps(&b, 1<<62, 1); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name("future"), b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"missing file", []string{"replay", name("nope")}, 1},
		{"directory", []string{"replay", name("dir")}, 1},
		{"not a capture", []string{"replay", name("junk")}, 1},
		{"one of several", []string{"replay", name("junk"), name("dir"), "testdata/handshake.pcap"}, 1},
		{"timestamps out of range", []string{"replay", name("future")}, 0},
		{"bad --html path", []string{"replay", "--html", filepath.Join(name("nodir"), "x.html"), "testdata/handshake.pcap"}, 1},
		{"bad --write path", []string{"replay", "-w", filepath.Join(name("nodir"), "x.pcapng"), "testdata/handshake.pcap"}, 1},
		{"flag", []string{"replay", "--" + evil, "testdata/handshake.pcap"}, 2},
		{"command", []string{"run", "--", name("cmd")}, 127},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"socktrace"}, tt.args...), &out, &errOut)
			if code != tt.code {
				t.Errorf("exit %d, want %d: %s", code, tt.code, errOut.String())
			}
			for stream, got := range map[string]string{"stdout": out.String(), "stderr": errOut.String()} {
				if bad, ok := unsafeRune(got, false); !ok {
					t.Errorf("%s carries %q raw:\n%q", stream, bad, got)
				}
			}
			if !strings.Contains(errOut.String(), `\x1b]0;pwned\x07\u202e`) {
				t.Errorf("stderr does not show the name escaped: %q", errOut.String())
			}
		})
	}
}

// TestProgressLineEscapesName: the progress line a long replay shows on a
// terminal names the file, escaped.
func TestProgressLineEscapesName(t *testing.T) {
	line := progressLine("a\x1b[2Jb\u202e.pcap", capture.FileStats{Size: 100, BytesRead: 50}, 10, time.Second)
	if bad, ok := unsafeRune(line, false); !ok || !strings.Contains(line, `a\x1b[2Jb\u202e.pcap`) {
		t.Errorf("progress line %q carries %q raw or lacks the escaped name", line, bad)
	}
}

// TestRunLeftRunningRenamed: when the traced command exits and leaves a
// process running that renamed itself to an escape sequence, the line
// saying what is still traced shows its name escaped, under both tracers
// (the eBPF recorder reads the name from /proc as it is).
func TestRunLeftRunningRenamed(t *testing.T) {
	needCapture(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "renamed")
	if out, err := exec.Command("go", "build", "-o", bin, "./calls/testdata/renamed").CombinedOutput(); err != nil {
		t.Fatalf("build the test program: %v\n%s", err, out)
	}
	for _, tracer := range []string{"ebpf", "ptrace"} {
		t.Run(tracer, func(t *testing.T) {
			ready, release := filepath.Join(dir, "ready-"+tracer), filepath.Join(dir, "release-"+tracer)
			for _, fifo := range []string{ready, release} {
				if err := syscall.Mkfifo(fifo, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// The shell starts the program, waits until it has renamed
			// itself, and exits; the program stays until socktrace has
			// said it is still traced (or 30 s have passed: the test
			// then fails rather than hang), then exits too.
			errOut := &watchedWriter{want: "still tracing what it left running", seen: make(chan struct{})}
			go func() {
				select {
				case <-errOut.seen:
				case <-time.After(30 * time.Second):
				}
				if w, err := os.OpenFile(release, os.O_WRONLY, 0); err == nil {
					w.Close()
				}
			}()
			var out bytes.Buffer
			code := run([]string{"socktrace", "run", "--tracer", tracer, "--", "sh", "-c", `"$0" -linger "$1" "$2" & read -r x < "$1"`, bin, ready, release}, &out, errOut)
			got := errOut.String()
			if code != 0 {
				t.Fatalf("exit %d: %s", code, got)
			}
			if strings.Contains(got, "not permitted") || strings.Contains(got, "eBPF unavailable") {
				t.Skipf("%s cannot trace here: %s", tracer, got)
			}
			if bad, ok := unsafeRune(got, false); !ok {
				t.Errorf("stderr carries %q raw:\n%q", bad, got)
			}
			if !strings.Contains(got, `still tracing what it left running: \x1b]0;pwned\x07[`) {
				t.Errorf("stderr does not name the program left running, escaped: %q", got)
			}
		})
	}
}

// watchedWriter is a stderr that closes seen when want is written.
type watchedWriter struct {
	mu   sync.Mutex
	b    bytes.Buffer
	want string
	seen chan struct{}
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	had := strings.Contains(w.b.String(), w.want)
	w.b.Write(p)
	if !had && strings.Contains(w.b.String(), w.want) {
		close(w.seen)
	}
	return len(p), nil
}

func (w *watchedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestWriteManyInterfaces: replay -w of a pcapng file that describes 4096
// interfaces, with a packet on each, writes them all and allocates little:
// looking up each new interface's name copied every interface the file
// described (FileReader.Interfaces), quadratic — 2.7 GB allocated and
// 1.7 s here, 6 minutes at the 65536 interfaces a file may describe.
func TestWriteManyInterfaces(t *testing.T) {
	const n = 4096
	dir := t.TempDir()
	in, out := filepath.Join(dir, "many.pcapng"), filepath.Join(dir, "out.pcapng")
	writeManyInterfaces(t, in, n)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var stdout, errOut bytes.Buffer
	if code := run([]string{"socktrace", "replay", "-w", out, in}, &stdout, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Errorf("replay -w allocated %d MB for %d interfaces", alloc>>20, n)
	}
	packets, ifs := readAll(t, out)
	if packets != n || len(ifs) != n || ifs[n-1].Name != manyName(n-1) {
		t.Errorf("the written file has %d packets on %d interfaces, want %d on %d, named", packets, len(ifs), n, n)
	}
}

// TestWriteInterfacesPastTheBound: replay -w of two files of 40000
// interfaces each, a packet on each, writes a file socktrace replays
// whole: at most capture.MaxInterfaces interfaces (it wrote 80000, and
// replay of its own file stopped at the 65537th: "more than 65536
// interfaces").
func TestWriteInterfacesPastTheBound(t *testing.T) {
	if testing.Short() {
		t.Skip("writes and reads 80000 interfaces; skipped with -short")
	}
	const n = 40000
	dir := t.TempDir()
	in, out := filepath.Join(dir, "many.pcapng"), filepath.Join(dir, "out.pcapng")
	writeManyInterfaces(t, in, n)
	var stdout, errOut bytes.Buffer
	if code := run([]string{"socktrace", "replay", "-w", out, in, in}, &stdout, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	packets, ifs := readAll(t, out)
	if packets != 2*n || len(ifs) != capture.MaxInterfaces {
		t.Errorf("the written file has %d packets on %d interfaces, want %d on %d", packets, len(ifs), 2*n, capture.MaxInterfaces)
	}
	stdout.Reset()
	if code := run([]string{"socktrace", "replay", "--format", "json", out}, &stdout, &errOut); code != 0 || !strings.Contains(stdout.String(), `"packets":80000,`) {
		t.Errorf("replay of the written file: exit %d: %s", code, errOut.String())
	}
}

// manyName is long, within the 128 bytes a name is kept to.
func manyName(i int) string { return fmt.Sprintf("if%d-%s", i, strings.Repeat("n", 100)) }

// writeManyInterfaces writes a pcapng file of n raw-IP interfaces with
// long names, then a SYN from a different address on each.
func writeManyInterfaces(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := capture.NewPcapngWriter(f, capture.PcapngWriterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := w.AddInterface(capture.Interface{Name: manyName(i), Description: strings.Repeat("d", 250), LinkType: layers.LinkTypeRaw}); err != nil {
			t.Fatal(err)
		}
	}
	syn := []byte{0x45, 0, 0, 40, 0, 0, 0, 0, 64, 6, 0, 0, 10, 1, 0, 0, 10, 0, 0, 2,
		0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0}
	for i := range n {
		syn[13], syn[14], syn[15] = byte(i>>16), byte(i>>8), byte(i)
		p := capture.Packet{Timestamp: hostilecap.Start.Add(time.Duration(i) * time.Microsecond), LinkType: layers.LinkTypeRaw,
			Data: syn, Length: len(syn), InterfaceIndex: i}
		if err := w.WritePacket(&p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// readAll reads a capture file to its end, which must come without an
// error, and returns its packet count and interfaces.
func readAll(t *testing.T, path string) (int, []capture.Interface) {
	t.Helper()
	r, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var p capture.Packet
	packets := 0
	for {
		err := r.ReadPacket(&p)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: after %d packets: %v", path, packets, err)
		}
		packets++
	}
	return packets, r.Interfaces()
}
