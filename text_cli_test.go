package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// socktraceBinary builds socktrace once for the tests that run the real
// binary, as a user would: its own environment, stdout, stderr, exit code.
func socktraceBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "socktrace-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "socktrace")
		if out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput(); err != nil {
			binErr = &exec.Error{Name: string(out), Err: err}
		}
	})
	if binErr != nil {
		t.Fatalf("build socktrace: %v", binErr)
	}
	return binPath
}

// runBinary runs socktrace with args in an environment of its own (only
// PATH and env), and returns stdout, stderr and the exit code.
func runBinary(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(socktraceBinary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// columns is the display width of a line: Hangul takes two columns.
func columns(line string) int {
	n := 0
	for _, r := range line {
		switch {
		case r >= 0x1100 && r <= 0x115f, r >= 0x2e80 && r <= 0xa4cf, r >= 0xac00 && r <= 0xd7a3, r >= 0xff00 && r <= 0xff60:
			n += 2
		default:
			n++
		}
	}
	return n
}

// TestOutputWidth: the report keeps to $COLUMNS (no terminal here), 100
// without it, never below 80, in both languages and both formats.
func TestOutputWidth(t *testing.T) {
	for _, c := range []struct {
		columns string
		want    int
	}{{"", 100}, {"80", 80}, {"90", 90}, {"40", 80}, {"300", 100}} {
		for _, lang := range []string{"en", "ko"} {
			for _, format := range []string{"text", "diagram"} {
				env := []string{}
				if c.columns != "" {
					env = append(env, "COLUMNS="+c.columns)
				}
				out, errOut, code := runBinary(t, env, "replay", "--lang", lang, "--format", format, "report/testdata/run-edges.pcapng")
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				widest := 0
				for _, line := range strings.Split(out, "\n") {
					widest = max(widest, columns(line))
				}
				if widest > c.want || widest < c.want-10 {
					t.Errorf("COLUMNS=%q %s %s: widest line %d columns, want at most %d (and close to it)", c.columns, lang, format, widest, c.want)
				}
			}
		}
	}
}

// TestASCIIOnly: --ascii prints no byte outside ASCII in any format, and
// refuses Korean, which has no ASCII spelling; a Korean locale then gives
// English.
func TestASCIIOnly(t *testing.T) {
	for _, format := range []string{"text", "diagram"} {
		out, errOut, code := runBinary(t, []string{"LANG=ko_KR.UTF-8"}, "replay", "--ascii", "--format", format, "report/testdata/calls-all-scenarios.pcapng")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for i, line := range strings.Split(out, "\n") {
			if strings.IndexFunc(line, func(r rune) bool { return r >= utf8.RuneSelf }) >= 0 {
				t.Fatalf("%s: line %d is not ASCII: %q", format, i+1, line)
			}
		}
		if !strings.Contains(out, "Summary") {
			t.Errorf("%s: no English summary under --ascii with a Korean locale", format)
		}
	}
	_, errOut, code := runBinary(t, nil, "replay", "--ascii", "--lang", "ko", "testdata/handshake.pcap")
	if code != 2 || !strings.Contains(errOut, "--ascii") {
		t.Errorf("--ascii --lang ko: exit %d, stderr %q; want exit 2 naming --ascii", code, errOut)
	}
}

// TestLocaleOrder: LC_ALL overrides LC_MESSAGES, which overrides LANG.
func TestLocaleOrder(t *testing.T) {
	for _, c := range []struct {
		env    []string
		korean bool
	}{
		{[]string{"LANG=ko_KR.UTF-8"}, true},
		{[]string{"LANG=ko_KR.UTF-8", "LC_MESSAGES=en_US.UTF-8"}, false},
		{[]string{"LANG=en_US.UTF-8", "LC_MESSAGES=ko_KR.UTF-8"}, true},
		{[]string{"LC_ALL=en_US.UTF-8", "LC_MESSAGES=ko_KR.UTF-8", "LANG=ko_KR.UTF-8"}, false},
		{[]string{"LC_ALL=ko_KR.UTF-8", "LANG=C"}, true},
		{nil, false},
	} {
		out, errOut, code := runBinary(t, c.env, "replay", "testdata/handshake.pcap")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if got := strings.Contains(out, "요약"); got != c.korean {
			t.Errorf("%v: Korean %v, want %v", c.env, got, c.korean)
		}
	}
}

// TestReplayEphemeralUnknown: a replayed file may come from another
// machine, so this machine's ephemeral range is not stated as the
// capture's.
func TestReplayEphemeralUnknown(t *testing.T) {
	out, errOut, code := runBinary(t, nil, "replay", "testdata/handshake.pcap")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	flat := strings.Join(strings.Fields(out), " ") // undo the wrapping
	if !strings.Contains(flat, "the capturing host's own range is not known") || strings.Contains(flat, "(here ") {
		t.Errorf("replay states an ephemeral range as the capture's:\n%s", out[:min(len(out), 1200)])
	}
}

// TestRunFailedConnect runs a real program under `socktrace run`: a Go
// client (non-blocking connect) to a port nobody listens on. The connect()
// is explained once, as a failure with ECONNREFUSED (it was "returns 0:
// the SYN-ACK arrived", printed twice, with "errno": null in JSON), and the
// client's close() is not a listening socket's.
func TestRunFailedConnect(t *testing.T) {
	needCapture(t)
	prog := filepath.Join(t.TempDir(), "nonblocking")
	if out, err := exec.Command("go", "build", "-o", prog, "./calls/testdata/nonblocking").CombinedOutput(); err != nil {
		t.Fatalf("build the test program: %v\n%s", err, out)
	}
	out, errOut, code := runBinary(t, nil, "run", "--iface", "lo", "--lang", "en", "--", prog, "refused")
	if strings.Contains(errOut, "ptrace") {
		t.Skipf("ptrace is not permitted here: %s", errOut)
	}
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "connect() fails: ECONNREFUSED") || !strings.Contains(out, "The non-blocking connect() has failed") {
		t.Errorf("the failed connect() is not explained as a failure:\n%s", out)
	}
	// The program's own listener, closed before it connects, is
	// explained under "Calls on no connection"; the connection's block
	// holds the client's calls.
	conn, _, _ := strings.Cut(out, "Calls on no connection")
	for _, wrong := range []string{"connect() returns 0", "close() of the listening socket"} {
		if strings.Contains(conn, wrong) {
			t.Errorf("the connection's block says %q:\n%s", wrong, conn)
		}
	}
	if !strings.Contains(conn, "close() releases the descriptor of a socket whose connect() failed") {
		t.Errorf("the client's close() is not explained as the close of a failed socket:\n%s", conn)
	}
	if n := strings.Count(out, "connect(") - strings.Count(out, "connect() fails") - strings.Count(out, "connect() returns") - strings.Count(out, " connect()"); n > 1 {
		t.Errorf("the connect() call is written %d times:\n%s", n, out)
	}
	js, errOut, code := runBinary(t, nil, "run", "--iface", "lo", "--format", "json", "--", prog, "refused")
	if code != 0 {
		t.Fatalf("json: exit %d: %s", code, errOut)
	}
	if !strings.Contains(js, `"result":-1,"errno":"ECONNREFUSED"`) {
		t.Errorf("no connect() with errno ECONNREFUSED in the JSON:\n%s", js)
	}
}

// TestKoreanCommandLine: in a Korean locale (or with --lang ko) --help and
// socktrace's own error messages are Korean; --lang en and --ascii keep
// them English.
func TestKoreanCommandLine(t *testing.T) {
	out, _, code := runBinary(t, []string{"LANG=ko_KR.UTF-8"}, "--help")
	if code != 0 || !strings.Contains(out, "사용법:") || !strings.Contains(out, "전역 옵션:") ||
		!strings.Contains(out, "출력 형식 FORMAT") || strings.Contains(out, "GLOBAL OPTIONS") {
		t.Errorf("Korean --help: exit %d:\n%s", code, out)
	}
	out, _, _ = runBinary(t, nil, "replay", "--lang", "ko", "--help")
	if !strings.Contains(out, "pcap 또는 pcapng 파일의 모든 TCP 연결을 설명합니다") {
		t.Errorf("replay --lang ko --help is not Korean:\n%s", out)
	}
	for _, c := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"LANG=ko_KR.UTF-8"}, []string{"replay", "--bogus", "x"}, "--bogus는 여기서 쓸 수 있는 플래그가 아닙니다"},
		{[]string{"LANG=ko_KR.UTF-8"}, []string{"replay", "--format", "xx", "testdata/handshake.pcap"}, `알 수 없는 형식 "xx"`},
		{nil, []string{"replay", "--lang", "ko"}, "replay에는 캡처 파일이 필요합니다"},
		{[]string{"LANG=ko_KR.UTF-8"}, []string{"replay", "--lang", "en", "--format", "xx", "testdata/handshake.pcap"}, `unknown format "xx"`},
		{[]string{"LC_ALL=ko_KR.UTF-8"}, []string{"replay", "--ascii", "--format", "xx", "testdata/handshake.pcap"}, `unknown format "xx"`},
	} {
		_, errOut, code := runBinary(t, c.env, c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v %v: exit %d, stderr %q; want exit 2 and one line with %q", c.env, c.args, code, errOut, c.want)
		}
	}
}

// TestTermWidthFromTerminal: on a terminal the width is the terminal's
// (TIOCGWINSZ on a real pseudo-terminal), ahead of $COLUMNS, kept within
// 80–100.
func TestTermWidthFromTerminal(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock the pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	tty, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pty: %v", err)
	}
	defer tty.Close()
	t.Setenv("COLUMNS", "100")
	for _, c := range []struct{ cols, want int }{{85, 85}, {80, 80}, {60, 80}, {200, 100}} {
		if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: uint16(c.cols)}); err != nil {
			t.Fatalf("set the window size: %v", err)
		}
		if got := termWidth(tty); got != c.want {
			t.Errorf("terminal of %d columns: width %d, want %d", c.cols, got, c.want)
		}
	}
	t.Setenv("COLUMNS", "90")
	if got := termWidth(io.Discard); got != 90 {
		t.Errorf("no terminal, COLUMNS=90: width %d, want 90", got)
	}
}
