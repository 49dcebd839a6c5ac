package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socktrace/socktrace/capture"
)

// These tests run the real socktrace binary, built once per test run, and
// check its stdout, stderr and exit code.

// socktraceBin is the socktrace binary, built once for all tests.
func socktraceBin(t *testing.T) string { return socktraceBinary(t) }

type result struct {
	stdout, stderr string
	code           int
}

// socktrace runs the binary with args and returns what it printed.
func socktrace(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(socktraceBin(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out.String(), errOut.String(), code}
}

// TestUsageErrors: every usage error exits 2 with one line on stderr that
// starts with "socktrace:", and nothing on stdout. Each case is a flag that
// does not apply where it is given, a bad value, or a repeated flag.
func TestUsageErrors(t *testing.T) {
	h := "testdata/handshake.pcap"
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"replay", "--bogus", h}, "--bogus is not a flag here (socktrace replay --help"},
		{[]string{"watch", "--bogus"}, "--bogus is not a flag here (socktrace watch --help"},
		{[]string{"run", "--bogus", "--", "true"}, "--bogus is not a flag here (socktrace run --help"},
		{[]string{"--bogus"}, "--bogus is not a flag here (socktrace --help"},
		{[]string{"watch", "--iface", "lo", "--duration", "banana"}, `invalid value "banana"`},
		{[]string{"--iface", "lo", "--port", "70000"}, "--port 70000 is not a port"},
		{[]string{"--iface", "lo", "--port", "-1"}, "--port -1 is not a port"},
		{[]string{"run", "--pid", "-5"}, "--pid -5 is not a process ID"},
		{[]string{"-r", h, "--scenario", "abort"}, "--scenario does not apply to -r FILE"},
		{[]string{"-r", h, "--iface", "lo"}, "--iface does not apply to -r FILE"},
		{[]string{"replay", "--iface", "lo", h}, "--iface is not a flag here"},
		{[]string{"run", "-r", h, "--", "true"}, "-r is not a flag here"},
		{[]string{"replay", h, "--duration", "5s"}, "--duration is not a flag here"},
		{[]string{"-r", h, "-r", h}, "-r given twice"},
		{[]string{"replay", "-r", h, h}, "-r is not a flag here"},
		{[]string{"watch", "--iface", "lo", "-c", "-1"}, "positive"},
		{[]string{"--scenario", "abort"}, "--scenario applies to the demo: add --iface lo"},
		{[]string{"--iface", "lo", "--filter", "port 80"}, "--filter does not apply to the demo"},
		{[]string{"nosuchcommand"}, `unknown command "nosuchcommand"; the commands are run, watch, scenarios, replay`},
		{[]string{"help", "nosuchcommand"}, `unknown command "nosuchcommand"`},
		{[]string{"scenarios", "extra"}, "scenarios takes no arguments"},
		{[]string{"replay"}, "replay needs a capture file"},
		{[]string{"replay", "--format", "xml", h}, `unknown format "xml"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := socktrace(t, tt.args...)
			if r.code != 2 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 ||
				!strings.HasPrefix(r.stderr, "socktrace: ") || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2, no stdout, one line with %q", r.code, r.stdout, r.stderr, tt.want)
			}
			if strings.Contains(r.stderr, "try: socktrace help") {
				t.Errorf("the message points at itself: %q", r.stderr)
			}
		})
	}
}

// TestHelp: each command's --help lists only the flags it honours, states
// each default once, and the main help mentions run --pid and help.
func TestHelp(t *testing.T) {
	tests := []struct {
		args          []string
		want, notWant []string
	}{
		{[]string{"--help"}, []string{"run --pid PID", "socktrace help [COMMAND]", "--scenario", "--read", "--version"}, []string{"--pid", "--duration", "--output"}},
		{[]string{"help"}, []string{"run --pid PID", "--scenario"}, nil},
		{[]string{"replay", "--help"}, []string{"--format", "--write", "--filter", "--force", "tcpdump -r IN -w OUT FILTER"}, []string{"--iface", "--duration", "--scenario", "--pid", "--read", "--count"}},
		{[]string{"help", "replay"}, []string{"--filter"}, []string{"--iface"}},
		{[]string{"watch", "--help"}, []string{"--iface", "--count", "--duration", "--write", "--html", "--filter", "--pid PID", "--comm NAME", "--processes"}, []string{"--scenario", "--read", "--output"}},
		{[]string{"run", "--help"}, []string{"--pid", "--output", "--iface", "--write"}, []string{"--filter", "--scenario", "--read", "--duration", "--count"}},
		// The language comes from the same variables for every command.
		{[]string{"scenarios", "--help"}, []string{"--lang", "$LC_ALL, $LC_MESSAGES or $LANG"}, []string{"--format", "--iface"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := socktrace(t, tt.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("help lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, line := range strings.Split(r.stdout, "\n") {
				line = strings.TrimSpace(line)
				for _, w := range tt.notWant {
					if strings.HasPrefix(line, w+" ") || strings.HasPrefix(line, w+",") {
						t.Errorf("help lists %s, which does not apply here: %q", w, line)
					}
				}
			}
			for _, line := range strings.Split(r.stdout, "\n") {
				if strings.Count(line, "default") > 1 || strings.Contains(line, "(default: false)") || strings.Contains(line, `(default: "`) {
					t.Errorf("a default stated twice, or urfave/cli's own: %q", line)
				}
			}
		})
	}
}

// TestVersion: --version prints the module version and, when the build
// recorded one, the VCS revision, from the binary's build information.
func TestVersion(t *testing.T) {
	r := socktrace(t, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "socktrace version ") || !strings.Contains(r.stdout, "go1.") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	info, err := exec.Command("go", "version", "-m", socktraceBin(t)).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		if rev, ok := strings.CutPrefix(strings.TrimSpace(line), "build\tvcs.revision="); ok && !strings.Contains(r.stdout, rev) {
			t.Errorf("--version %q lacks the revision %s", r.stdout, rev)
		}
	}
}

// TestMissingFileNoSummary: a file that does not exist ends the replay
// before any output, the summary included.
func TestMissingFileNoSummary(t *testing.T) {
	r := socktrace(t, "replay", filepath.Join(t.TempDir(), "nope.pcap"))
	if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "no such file") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, nothing on stdout", r.code, r.stdout, r.stderr)
	}
}

// TestReplayWrite: replay -w writes the packets that pass the filter, as
// tcpdump -r IN -w OUT FILTER does, and the file replays to the same
// connections.
func TestReplayWrite(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.pcapng")
	// shared-port.pcap has three connections; the filter keeps one.
	all := socktrace(t, "replay", "--format", "json", "testdata/shared-port.pcap")
	conns := parseReport(t, []byte(all.stdout)).conns
	if len(conns) != 3 {
		t.Fatalf("%d connections in shared-port.pcap, want 3", len(conns))
	}
	_, port, _ := strings.Cut(conns[1].Client, ":")
	filter := "tcp port " + port
	want := socktrace(t, "replay", "--format", "json", "testdata/shared-port.pcap", filter)
	r := socktrace(t, "replay", "--format", "json", "-w", out, "testdata/shared-port.pcap", filter)
	if r.code != 0 || r.stdout != want.stdout {
		t.Fatalf("replay -w: exit %d, stderr %q; its report differs from the one without -w", r.code, r.stderr)
	}
	again := socktrace(t, "replay", "--format", "json", out)
	a, b := parseReport(t, []byte(want.stdout)), parseReport(t, []byte(again.stdout))
	if again.code != 0 || len(b.conns) != 1 || b.conns[0].Client != conns[1].Client || b.summary["packets"] != a.summary["packets"] {
		t.Errorf("the written file replays to %d connections (%v), %v packets; want 1 (%s), %v packets: %s",
			len(b.conns), b.conns, b.summary["packets"], conns[1].Client, a.summary["packets"], again.stderr)
	}
	if _, err := os.Stat(out + ".partial"); err == nil {
		t.Errorf("%s.partial left behind", out)
	}
}

// TestOutputFileSafety: outputs that would destroy an input, an existing
// file or a symlink's target are refused before any work; --force
// replaces the file itself (never a symlink's target); an unwritable path
// fails before anything is read.
func TestOutputFileSafety(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "in.pcap")
	orig, err := os.ReadFile("testdata/handshake.pcap")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(input, orig, 0o644)
	existing := filepath.Join(dir, "existing.pcapng")
	os.WriteFile(existing, []byte("keep me"), 0o644)
	target := filepath.Join(dir, "target")
	os.WriteFile(target, []byte("precious"), 0o644)
	link := filepath.Join(dir, "link.pcapng")
	os.Symlink(target, link)
	linkToInput := filepath.Join(dir, "in-link.pcap")
	os.Symlink(input, linkToInput)

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"html is the input", []string{"replay", input, "--html", input}, 2, "is the input file"},
		{"write is the input", []string{"replay", input, "-w", input}, 2, "is the input file"},
		{"write is the input through a link", []string{"replay", input, "-w", linkToInput, "--force"}, 2, "is the input file"},
		{"write is the input (-r)", []string{"-r", input, "-w", input}, 2, "is the input file"},
		{"write and html the same", []string{"replay", input, "-w", filepath.Join(dir, "x"), "--html", filepath.Join(dir, "x")}, 2, "name the same file"},
		{"existing file", []string{"replay", input, "-w", existing}, 2, "exists; add --force"},
		{"symlink", []string{"replay", input, "--html", link}, 2, "exists; add --force"},
		{"unwritable", []string{"replay", input, "-w", filepath.Join(dir, "nodir", "x.pcapng")}, 1, "no such file or directory"},
		{"directory", []string{"replay", input, "--html", dir}, 2, "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := socktrace(t, tt.args...)
			if r.code != tt.code || r.stdout != "" || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no output, %q", r.code, r.stdout, r.stderr, tt.code, tt.want)
			}
		})
	}
	if b, _ := os.ReadFile(input); !bytes.Equal(b, orig) {
		t.Error("the input file was changed")
	}
	if b, _ := os.ReadFile(existing); string(b) != "keep me" {
		t.Error("the existing file was changed")
	}
	// --force replaces the link itself, not what it points to.
	r := socktrace(t, "replay", input, "--html", link, "--force")
	if r.code != 0 {
		t.Fatalf("--force: exit %d: %s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Error("--force wrote through the symlink into its target")
	}
	if st, err := os.Lstat(link); err != nil || !st.Mode().IsRegular() {
		t.Errorf("--force left %s as %v, want a regular file", link, st.Mode())
	}
	if b, _ := os.ReadFile(link); !bytes.Contains(b, []byte("<html")) {
		t.Error("--force did not write the HTML report")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.partial")); len(m) > 0 {
		t.Errorf("temporary files left behind: %v", m)
	}
}

// bigInput is the port-reuse capture given n times: a report of several
// megabytes.
func bigInput(n int) []string {
	args := []string{"replay"}
	for range n {
		args = append(args, "testdata/port-reuse.pcap")
	}
	return args
}

// TestClosedPipe: replay big | head -1 ends quietly with exit 0.
func TestClosedPipe(t *testing.T) {
	cmd := exec.Command(socktraceBin(t), bigInput(20)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line == "" {
		t.Fatalf("first line: %q, %v", line, err)
	}
	stdout.Close() // as head -1 does
	err = cmd.Wait()
	if err != nil || errOut.Len() != 0 {
		t.Errorf("after the reader went away: %v, stderr %q; want exit 0 and nothing on stderr", err, errOut.String())
	}
}

// TestOutputFull: a failed write of the report (stdout on /dev/full)
// stops the work at once — the pcapng file written beside holds only the
// packets read until then — and is called an output error, exit 1.
func TestOutputFull(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	pcap := filepath.Join(t.TempDir(), "w.pcapng")
	args := append(bigInput(20), "--format", "json", "-w", pcap)
	cmd := exec.Command(socktraceBin(t), args...)
	var errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = full, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v; want 1", err)
	}
	if msg := errOut.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "output error") || !strings.Contains(msg, "no space left") || strings.Contains(msg, "input ended") {
		t.Errorf("stderr %q; want one line calling it an output error", msg)
	}
	f, err := capture.OpenFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p capture.Packet
	n := 0
	for f.ReadPacket(&p) == nil {
		n++
	}
	// 20 × 3000 packets were there to read.
	if n >= 20*3000/2 {
		t.Errorf("%d packets were read after the output failed; want it to stop at once", n)
	}
}

// waitBound waits until the process pid has a packet socket bound to
// an interface: by then socktrace handles its stop signals and captures.
func waitBound(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		inodes := map[string]bool{}
		if b, err := os.ReadFile("/proc/net/packet"); err == nil {
			for _, line := range strings.Split(string(b), "\n")[1:] {
				// sk RefCnt Type Proto Iface R Rmem User Inode: socktrace
				// opens the socket with protocol 0, attaches its filter,
				// then binds it with ETH_P_ALL (Proto 0003) to the
				// interface, or to all of them (-i any: Iface 0).
				// Only then does it capture.
				if f := strings.Fields(line); len(f) == 9 && f[3] != "0000" {
					inodes[f[len(f)-1]] = true
				}
			}
		}
		fds, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
		for _, fd := range fds {
			l, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + fd.Name())
			if ino, ok := strings.CutPrefix(l, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("process %d opened no packet socket in 20 s", pid)
}

// waitFor polls cond (an observable event: a file's contents, a line on
// stderr) until it holds, failing after 60 s (a bound for a machine
// loaded many times over, as under go test -count=5 beside another go
// test ./...; a passing run waits only for the event).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after 60 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer a test can read while a process writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// started is a socktrace process the test signals.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	exited         chan struct{} // closed when the process has exited
	err            error         // Wait's, once exited is closed
}

func start(t *testing.T, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.Command(socktraceBin(t), args...), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	// A group of its own, so that what it runs (run -- CMD) can be killed
	// with it: a program left behind by a SIGKILLed socktrace keeps the
	// output pipes open, and Wait would wait for it (a "sleep 60" once
	// made a test take a minute). WaitDelay bounds that wait anyway.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s.cmd.WaitDelay = 10 * time.Second
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.killAll()
		<-s.exited
	})
	return s
}

// killAll kills socktrace and every process it started (its process
// group) with SIGKILL.
func (s *started) killAll() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	s.cmd.Process.Kill()
}

// wait waits for the process to exit and returns its exit code.
func (s *started) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.exited:
		err := s.err
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Fatalf("killed by %v; stderr %q", ws.Signal(), s.stderr.String())
			}
			return exit.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(90 * time.Second):
		t.Fatalf("still running 90 s later; stderr %q", s.stderr.String())
	}
	return -1
}

func connections(t *testing.T, path string) int {
	var out, errOut bytes.Buffer
	if code := run([]string{"socktrace", "replay", "--format", "json", path}, &out, &errOut); code != 0 {
		return -1
	}
	return len(parseReport(t, out.Bytes()).conns)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

var _ = io.Discard
