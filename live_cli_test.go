package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

// listenLoopback listens on 127.0.0.1 port 0 and returns the listener and
// a filter for its port only (other tests make loopback traffic too).
func listenLoopback(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, "tcp port " + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

func pingPong(t *testing.T, ln net.Listener) {
	t.Helper()
	exchange(t, ln, func() (net.Conn, error) { return net.Dial("tcp", ln.Addr().String()) })
}

// TestWatchWritesFiles: watch --write streams a pcapng file that replays to
// the connection it saw, with the interface's statistics (drops included),
// and --html writes the report beside the text on stdout.
func TestWatchWritesFiles(t *testing.T) {
	needCapture(t)
	dir := t.TempDir()
	pcap, html := filepath.Join(dir, "w.pcapng"), filepath.Join(dir, "w.html")
	ln, filter := listenLoopback(t)
	s := start(t, "watch", "--iface", "lo", "-c", "1", "--write", pcap, "--html", html, filter)
	waitBound(t, s.cmd.Process.Pid)
	pingPong(t, ln)
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, s.stderr.String())
	}
	if !strings.Contains(s.stdout.String(), "Summary") {
		t.Errorf("no text summary on stdout: %q", s.stdout.String())
	}
	if n := connections(t, pcap); n != 1 {
		b, _ := exec.Command(socktraceBin(t), "replay", pcap).CombinedOutput()
		t.Errorf("the --write file replays to %d connections, want 1:\n%s", n, b)
	}
	f, err := capture.OpenFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	var p capture.Packet
	for f.ReadPacket(&p) == nil {
	}
	ifs := f.Interfaces()
	f.Close()
	if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Stats.IfDrop != 0 || ifs[0].Stats.Received <= 0 {
		t.Errorf("interfaces %+v; want lo with its statistics (0 drops)", ifs)
	}
	if b, err := os.ReadFile(html); err != nil || !strings.Contains(string(b), "<html") || !strings.Contains(string(b), "three-way") {
		t.Errorf("--html file: %v, %.200q", err, b)
	}
}

// TestLiveUnwritableOutput: an output path that cannot be written is
// refused before anything is captured or run.
func TestLiveUnwritableOutput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "nodir", "x.pcapng")
	marker := filepath.Join(dir, "ran")
	for _, args := range [][]string{
		{"watch", "--iface", "lo", "-w", bad},
		{"watch", "--iface", "lo", "--html", bad},
		{"--iface", "lo", "-w", bad},
		{"run", "-w", bad, "--", "touch", marker},
		{"run", "-o", bad, "--", "touch", marker},
	} {
		r := socktrace(t, args...)
		if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, "no such file or directory") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 at once", args, r.code, r.stdout, r.stderr)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("run ran the command although its output could not be written")
	}
}

// TestStopSignals: SIGTERM and SIGHUP end a watch as Ctrl-C does: the
// summary, the pcapng file, exit 0.
func TestStopSignals(t *testing.T) {
	needCapture(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			pcap := filepath.Join(t.TempDir(), "s.pcapng")
			ln, filter := listenLoopback(t)
			s := start(t, "watch", "--iface", "lo", "--format", "json", "--write", pcap, filter)
			waitBound(t, s.cmd.Process.Pid)
			pingPong(t, ln)
			// The connection is in the report once its segments are.
			waitFor(t, "segment on stdout", func() bool { return strings.Contains(s.stdout.String(), `"type":"segment"`) })
			s.cmd.Process.Signal(sig)
			if code := s.wait(t); code != 0 {
				t.Fatalf("exit %d after %v: %s", code, sig, s.stderr.String())
			}
			if last := lastLine(s.stdout.String()); !strings.HasPrefix(last, `{"type":"summary"`) {
				t.Errorf("last line after %v is not the summary: %q", sig, last)
			}
			if n := connections(t, pcap); n != 1 {
				t.Errorf("the pcapng file replays to %d connections, want 1", n)
			}
		})
	}
}

// TestKilledWriteReplays: the pcapng file is streamed and flushed at least
// every second, so a watch killed with SIGKILL leaves FILE.partial, which
// replays to what was captured.
func TestKilledWriteReplays(t *testing.T) {
	needCapture(t)
	pcap := filepath.Join(t.TempDir(), "k.pcapng")
	ln, filter := listenLoopback(t)
	s := start(t, "watch", "--iface", "lo", "--format", "json", "--write", pcap, filter)
	waitBound(t, s.cmd.Process.Pid)
	pingPong(t, ln)
	waitFor(t, "connection in "+pcap+".partial", func() bool { return connections(t, pcap+".partial") == 1 })
	s.killAll() // socktrace and the program it runs, as when the machine stops
	<-s.exited
	if _, err := os.Stat(pcap); err == nil {
		t.Errorf("%s exists after SIGKILL: a half file under the final name", pcap)
	}
	if n := connections(t, pcap+".partial"); n != 1 {
		t.Errorf("the partial file replays to %d connections after SIGKILL, want 1", n)
	}
}

// TestRunReportApartFromProgram: a program that writes to stdout does not
// break a JSON report: without -o its stdout goes to stderr (said once);
// with -o FILE the report goes to the file and the program keeps stdout.
func TestRunReportApartFromProgram(t *testing.T) {
	needCapture(t)
	prog := []string{"sh", "-c", "echo hello from the program; echo second line"}
	r := socktrace(t, append([]string{"run", "--format", "json", "--"}, prog...)...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.HasPrefix(line, "{") {
			t.Errorf("stdout has a line that is not JSON: %q", line)
		}
	}
	if !strings.Contains(r.stderr, "hello from the program\nsecond line\n") || !strings.Contains(r.stderr, "own stdout goes to stderr") {
		t.Errorf("stderr %q; want the program's output and the notice", r.stderr)
	}

	out := filepath.Join(t.TempDir(), "report.json")
	r = socktrace(t, append([]string{"run", "--format", "json", "-o", out, "--"}, prog...)...)
	if r.code != 0 || r.stdout != "hello from the program\nsecond line\n" {
		t.Fatalf("with -o: exit %d, stdout %q, stderr %q; want the program's output alone on stdout", r.code, r.stdout, r.stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.HasPrefix(lastLine(string(b)), `{"type":"summary"`) {
		t.Errorf("-o file: %v, %q", err, b)
	}
}

// TestRunBackgroundChild: when the command exits and leaves a traced child
// running, run says so on stderr, naming it and how to stop, and goes on
// tracing it as strace -f does; Ctrl-C then ends the run with exit 0.
func TestRunBackgroundChild(t *testing.T) {
	needCapture(t)
	s := start(t, "run", "--", "sh", "-c", "sleep 60 & exit 3")
	waitFor(t, "notice of the background child", func() bool { return strings.Contains(s.stderr.String(), "still tracing") })
	msg := s.stderr.String()
	// The child is named as the kernel names it at that moment: sh, if
	// it has not yet exec'd sleep.
	if !strings.Contains(msg, "sh exited with status 3") || !regexp.MustCompile(`left running: (sh|sleep)\[[0-9]+\]`).MatchString(msg) || !strings.Contains(msg, "Ctrl-C") {
		t.Errorf("stderr %q; want it to name the status, the child as NAME[PID] and Ctrl-C", msg)
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	if code := s.wait(t); code != 0 {
		t.Errorf("exit %d after Ctrl-C; want 0: %s", code, s.stderr.String())
	}
	if !strings.Contains(s.stdout.String(), "Summary") {
		t.Errorf("no summary after Ctrl-C: %q", s.stdout.String())
	}
}

// TestRunInterruptExitsZero: Ctrl-C (or SIGTERM) on run -- CMD explains what
// was captured and exits 0, as the README says, not with the killed
// command's status.
func TestRunInterruptExitsZero(t *testing.T) {
	needCapture(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		s := start(t, "run", "--format", "json", "--", "sh", "-c", "echo started >&2; exec sleep 60")
		waitFor(t, "the command to start", func() bool { return strings.Contains(s.stderr.String(), "started") })
		s.cmd.Process.Signal(sig)
		if code := s.wait(t); code != 0 {
			t.Errorf("%v: exit %d, want 0: %s", sig, code, s.stderr.String())
		}
		if last := lastLine(s.stdout.String()); !strings.HasPrefix(last, `{"type":"summary"`) {
			t.Errorf("%v: last line %q, want the summary", sig, last)
		}
		if strings.Contains(s.stderr.String(), "exited with status") {
			t.Errorf("%v: stderr %q blames the command", sig, s.stderr.String())
		}
	}
}

// asNobody starts the socktrace binary as user nobody (uid 65534) with
// only the capabilities caps ("+net_raw", or "" for none). It runs a copy
// in a directory of its own (the process's Dir), through a symlink.
func asNobody(t *testing.T, caps string, args ...string) *started {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to user nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is needed to drop to user nobody")
	}
	dir, err := os.MkdirTemp("", "socktrace-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "socktrace")
	b, err := os.ReadFile(socktraceBin(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlink to it: the setcap hint must name the file itself.
	link := filepath.Join(dir, "st-link")
	os.Symlink(bin, link)
	pargs := []string{"--reuid=65534", "--regid=65534", "--clear-groups"}
	if caps != "" {
		pargs = append(pargs, "--inh-caps="+caps, "--ambient-caps="+caps)
	}
	s := &started{cmd: exec.Command(setpriv, append(append(pargs, link), args...)...), stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.stdout, s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.exited
	})
	return s
}

// TestCapabilityMessage: without CAP_NET_RAW the message names exactly
// that capability (CAP_NET_ADMIN is not needed) and the setcap command
// for the binary's real path; with CAP_NET_RAW alone, capture works.
func TestCapabilityMessage(t *testing.T) {
	needCapture(t)
	s := asNobody(t, "", "watch", "--iface", "lo", "--duration", "1s")
	if code := s.wait(t); code != 1 {
		t.Fatalf("without capabilities: exit %d, want 1: %s", code, s.stderr.String())
	}
	msg := s.stderr.String()
	bin := filepath.Join(s.cmd.Dir, "socktrace")
	if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "needs CAP_NET_RAW") || strings.Contains(msg, "NET_ADMIN") ||
		!strings.Contains(msg, "setcap cap_net_raw+ep "+bin+"\n") {
		t.Errorf("stderr %q; want one line naming CAP_NET_RAW alone and: setcap cap_net_raw+ep %s", msg, bin)
	}

	ln, filter := listenLoopback(t)
	s = asNobody(t, "+net_raw", "watch", "--iface", "lo", "--format", "json", "-c", "1", filter)
	waitBound(t, s.cmd.Process.Pid)
	pingPong(t, ln)
	if code := s.wait(t); code != 0 {
		t.Fatalf("with CAP_NET_RAW alone: exit %d: %s", code, s.stderr.String())
	}
	if n := len(parseReport(t, []byte(s.stdout.String())).conns); n != 1 {
		t.Errorf("with CAP_NET_RAW alone: %d connections, want 1", n)
	}
}

// TestRunPidOtherUser: run --pid of another user's process says that this
// is why it cannot be traced, and goes on with the packets until Ctrl-C.
func TestRunPidOtherUser(t *testing.T) {
	needCapture(t)
	sleeper := exec.Command("sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sleeper.Process.Kill()
		sleeper.Wait()
	})
	s := asNobody(t, "+net_raw", "run", "--pid", strconv.Itoa(sleeper.Process.Pid))
	waitFor(t, "the reason on stderr", func() bool { return strings.Contains(s.stderr.String(), "going on with the packets only") })
	if msg := s.stderr.String(); !strings.Contains(msg, "belongs to user root and socktrace runs as nobody") {
		t.Errorf("stderr %q; want it to say the process is another user's", msg)
	}
	s.cmd.Process.Signal(syscall.SIGINT)
	if code := s.wait(t); code != 0 {
		t.Errorf("exit %d after Ctrl-C: %s", code, s.stderr.String())
	}
}

// TestWatchAnyLoopbackOnce: --iface any (cooked LINUX_SLL2, as tcpdump -i
// any) sees each loopback packet once: the outgoing copies are dropped.
func TestWatchAnyLoopbackOnce(t *testing.T) {
	needCapture(t)
	ln, filter := listenLoopback(t)
	pcap := filepath.Join(t.TempDir(), "any.pcapng")
	s := start(t, "watch", "--iface", "any", "--format", "json", "-c", "1", "-w", pcap, filter)
	waitBound(t, s.cmd.Process.Pid)
	pingPong(t, ln)
	if code := s.wait(t); code != 0 {
		t.Fatalf("exit %d: %s", code, s.stderr.String())
	}
	r := parseReport(t, []byte(s.stdout.String()))
	if len(r.conns) != 1 {
		t.Fatalf("%d connections, want 1", len(r.conns))
	}
	// 3 handshake + 2 data + 2 ACKs of data + FIN, ACK, FIN, ACK: 10
	// or 11 segments (the server's ACK of the FIN may ride its FIN);
	// duplicates would double them.
	c := r.conns[0]
	if c.Packets < 9 || c.Packets > 11 || c.Handshake != "three-way" || c.Close != "graceful" {
		t.Errorf("connection %+v; want one three-way, graceful connection of 9–11 packets, each once", c)
	}
	checkCausality(t, c, r.segments)
	f, err := capture.OpenFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p capture.Packet
	if err := f.ReadPacket(&p); err != nil || p.LinkType != layers.LinkTypeLinuxSLL2 {
		t.Errorf("first packet: %v, link type %v; want LINUX_SLL2 (276)", err, p.LinkType)
	}
}

// TestWatchAnyVeth: --iface any captures a connection over a veth pair
// between two namespaces (not loopback: its outgoing frames are kept).
func TestWatchAnyVeth(t *testing.T) {
	needCapture(t)
	vethCase(t, "any")
}

// TestRunKilledWriteReplays: run -w streams the packets and calls as they
// come, flushed at least every second, so that a run killed with SIGKILL
// leaves FILE.partial, which replays to the connection with its calls.
func TestRunKilledWriteReplays(t *testing.T) {
	needCapture(t)
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is needed for its /dev/tcp")
	}
	ln, _ := listenLoopback(t)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hello\n"))
			defer c.Close()
			c.Read(make([]byte, 16))
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	pcap := filepath.Join(t.TempDir(), "run.pcapng")
	s := start(t, "run", "--iface", "lo", "-w", pcap, "--", bash, "-c", "exec 3<>/dev/tcp/127.0.0.1/"+port+"; read line <&3; echo got $line >&2; exec sleep 60")
	onPort := func() jsonReport {
		var out, errOut bytes.Buffer
		run([]string{"socktrace", "replay", "--format", "json", pcap + ".partial", "port " + port}, &out, &errOut)
		return parseReport(t, out.Bytes())
	}
	waitFor(t, "the connection in "+pcap+".partial", func() bool {
		if !strings.Contains(s.stderr.String(), "got hello") {
			return false
		}
		r := onPort()
		for _, c := range r.conns {
			for _, call := range c.Calls {
				if call.Call == "connect" && !call.Inferred {
					return true
				}
			}
		}
		return false
	})
	s.killAll() // socktrace and the program it runs, as when the machine stops
	<-s.exited
	if _, err := os.Stat(pcap); err == nil {
		t.Errorf("%s exists after SIGKILL: a half file under the final name", pcap)
	}
	r := onPort()
	if len(r.conns) != 1 {
		t.Fatalf("%d connections on port %s in the partial file, want 1", len(r.conns), port)
	}
	seen := false
	for _, c := range r.conns[0].Calls {
		seen = seen || (c.Call == "connect" && !c.Inferred)
	}
	if !seen {
		t.Errorf("the partial file lost the calls: %+v", r.conns[0].Calls)
	}
}
