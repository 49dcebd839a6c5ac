package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/internal/netnstest"
)

// TestRunTracesAProgram runs a real program (calls/testdata/blocking: a
// server and a client in one process, blocking raw syscalls) under
// `socktrace run` and checks that its calls land on its connection, seen,
// in causal order with the packets.
func TestRunTracesAProgram(t *testing.T) {
	needCapture(t)
	bin := filepath.Join(t.TempDir(), "blocking")
	if out, err := exec.Command("go", "build", "-o", bin, "./calls/testdata/blocking").CombinedOutput(); err != nil {
		t.Fatalf("build the test program: %v\n%s", err, out)
	}
	var out, errOut bytes.Buffer
	// The program exits 3 on purpose: its exit code becomes socktrace's.
	if code := run([]string{"socktrace", "run", "--iface", "lo", "--format", "json", "--", bin}, &out, &errOut); code != 3 {
		t.Fatalf("exit %d, want the program's 3: %s", code, errOut.String())
	}
	if strings.Contains(errOut.String(), "ptrace") {
		t.Skipf("ptrace is not permitted here: %s", errOut.String())
	}
	r := parseReport(t, out.Bytes())
	if len(r.conns) != 1 {
		t.Fatalf("%d connections, want 1", len(r.conns))
	}
	c := r.conns[0]
	if c.Handshake != "three-way" || c.Close != "graceful" {
		t.Errorf("handshake %s close %s, want three-way graceful", c.Handshake, c.Close)
	}
	seen := map[string]int{}
	for _, call := range c.Calls {
		if !call.Inferred {
			seen[call.Side+" "+call.Call]++
		}
	}
	for _, want := range []string{"client connect", "server accept", "client close", "server close", "server listen", "server bind"} {
		if seen[want] == 0 {
			t.Errorf("no %s() seen on the connection; calls: %v", want, seen)
		}
	}
	checkCausality(t, c, r.segments)
}

// TestRunDefaultAny: run without --iface captures on every interface
// (any), where each loopback packet still appears once: the connection
// has exactly one SYN (checkCausality) and its calls.
func TestRunDefaultAny(t *testing.T) {
	needCapture(t)
	bin := filepath.Join(t.TempDir(), "blocking")
	if out, err := exec.Command("go", "build", "-o", bin, "./calls/testdata/blocking").CombinedOutput(); err != nil {
		t.Fatalf("build the test program: %v\n%s", err, out)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"socktrace", "run", "--format", "json", "--", bin}, &out, &errOut); code != 3 {
		t.Fatalf("exit %d, want the program's 3: %s", code, errOut.String())
	}
	r := parseReport(t, out.Bytes())
	if len(r.conns) != 1 || r.conns[0].Handshake != "three-way" || r.conns[0].Close != "graceful" {
		t.Fatalf("connections %+v; want one three-way graceful", r.conns)
	}
	checkCausality(t, r.conns[0], r.segments)
}

// TestRunExitCodes: a command that cannot be found exits 127; a failing
// command's exit code becomes socktrace's.
func TestRunExitCodes(t *testing.T) {
	needCapture(t)
	tests := []struct {
		argv []string
		code int
		want string
	}{
		{[]string{"no-such-command-xyz"}, 127, "no-such-command-xyz"},
		{[]string{"sh", "-c", "exit 3"}, 3, "status 3"},
		{[]string{"true"}, 0, ""},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(append([]string{"socktrace", "run", "--iface", "lo", "--"}, tt.argv...), &out, &errOut)
		if code != tt.code || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("run %v: exit %d, stderr %q; want %d and %q", tt.argv, code, errOut.String(), tt.code, tt.want)
		}
	}
}

// TestRunCaptureModes runs the same program (calls/testdata/conns: 20
// connections carrying 1 KiB each way, more than the in-kernel capture's
// 128 bytes) with run's two captures, in the kernel (--capture ebpf) and
// with a packet socket (--capture afpacket), and checks they tell the
// same story: the same connections, each with the same bytes, its ten
// or so packets, a whole history and states, its calls, and each SYN inside its
// connect() (checkCausality). (TestRecordPackets, in calls, compares the
// segments themselves.)
func TestRunCaptureModes(t *testing.T) {
	needCapture(t)
	bin := filepath.Join(t.TempDir(), "conns")
	if out, err := exec.Command("go", "build", "-o", bin, "./calls/testdata/conns").CombinedOutput(); err != nil {
		t.Fatalf("build the test program: %v\n%s", err, out)
	}
	stories := make(map[string][]string)
	for _, how := range []string{"ebpf", "afpacket"} {
		var out, errOut bytes.Buffer
		code := run([]string{"socktrace", "run", "--tracer", "ebpf", "--capture", how, "--format", "json", "--", bin, "20", "data"}, &out, &errOut)
		if strings.Contains(errOut.String(), "eBPF") && code != 0 {
			t.Skipf("eBPF not available here: %s", errOut.String())
		}
		if code != 0 {
			t.Fatalf("--capture %s: exit %d: %s", how, code, errOut.String())
		}
		if strings.Contains(errOut.String(), "lost") || strings.Contains(errOut.String(), "dropped") {
			t.Errorf("--capture %s lost something: %s", how, errOut.String())
		}
		r := parseReport(t, out.Bytes())
		for _, c := range r.conns {
			// Which side closes first, and whether an ACK waits to
			// ride on data, are the program's and the kernel's races,
			// not the capture's: the packets, history and states are
			// checked for shape, the rest compared.
			stories[how] = append(stories[how], fmt.Sprintf("%s/%s bytes %d/%d", c.Handshake, c.Close, c.BytesC2S, c.BytesS2C))
			if c.Packets < 10 || c.Packets > 12 || !strings.HasPrefix(c.History, "ShADad") || len(c.States["client"]) != 6 || len(c.States["server"]) != 6 || len(c.Calls) < 10 {
				t.Errorf("--capture %s: connection %s: %d packets, history %s, states %v, %d calls", how, c.Client, c.Packets, c.History, c.States, len(c.Calls))
			}
			checkCausality(t, c, r.segments)
		}
		slices.Sort(stories[how])
	}
	if len(stories["ebpf"]) != 20 || !slices.Equal(stories["ebpf"], stories["afpacket"]) {
		t.Errorf("the captures disagree:\nebpf:     %q\nafpacket: %q", stories["ebpf"], stories["afpacket"])
	}
	for _, s := range stories["ebpf"] {
		if !strings.Contains(s, "bytes 1024/1024") {
			t.Errorf("connection %s: want 1024 bytes each way", s)
			break
		}
	}
}

// TestRunRefusedConnect: a blocking connect() refused by a RST (the seed
// note's "connection refused") is a connection of its own under both
// tracers: its SYN and the RST are kept although the kernel takes the
// socket's local address back when the handshake fails (the call then
// names it 0.0.0.0:PORT: ownFilter.unbound), and under eBPF the connect()
// is on it (the recorder gives it the address its last state change had).
func TestRunRefusedConnect(t *testing.T) {
	needCapture(t)
	bin := filepath.Join(t.TempDir(), "blocking")
	if out, err := exec.Command("go", "build", "-o", bin, "./calls/testdata/blocking").CombinedOutput(); err != nil {
		t.Fatalf("build the test program: %v\n%s", err, out)
	}
	for _, tracer := range []string{"ebpf", "ptrace"} {
		t.Run(tracer, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run([]string{"socktrace", "run", "--tracer", tracer, "--format", "json", "--", bin, "refused"}, &out, &errOut); code != 0 {
				if strings.Contains(errOut.String(), "eBPF") || strings.Contains(errOut.String(), "ptrace") {
					t.Skipf("%s not available here: %s", tracer, errOut.String())
				}
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			r := parseReport(t, out.Bytes())
			if len(r.conns) != 1 || r.conns[0].Handshake != "refused" || r.conns[0].Packets != 2 || r.conns[0].History != "Sr" {
				t.Fatalf("connections %+v; want one refused, SYN and RST", r.conns)
			}
			if tracer != "ebpf" {
				// The calls are on no connection (their address is
				// 0.0.0.0:PORT): the close() after the failed connect()
				// is said to be that, not a listener's (socket() and
				// close() have no side, connect() has).
				var text, errText bytes.Buffer
				if code := run([]string{"socktrace", "run", "--tracer", tracer, "--", bin, "refused"}, &text, &errText); code != 0 {
					t.Fatalf("exit %d: %s", code, errText.String())
				}
				if s := text.String(); !strings.Contains(s, "whose connect() failed") || strings.Contains(s, "close() of the listening socket") {
					t.Errorf("the close() after the refused connect() is not explained as such:\n%s", s)
				}
				return
			}
			var connect *jsonCall
			for i, c := range r.conns[0].Calls {
				if c.Call == "connect" && !c.Inferred {
					connect = &r.conns[0].Calls[i]
				}
			}
			if connect == nil {
				t.Fatalf("no connect() seen on the connection: %+v", r.conns[0].Calls)
			}
			checkCausality(t, r.conns[0], r.segments)
		})
	}
}

// TestRunCloseNotLast: a close() that is not the last descriptor of its
// socket sends nothing, and is not explained as ending the connection.
// calls/testdata/forking is a forking server's shape: the parent accepts,
// takes a dup of the connection (File()), closes both its descriptors
// (close(9), close(11)) and hands the socket to a child, which answers
// and shuts it down. Before, every close() was said to end the
// connection ("FIN if all received data was read, RST otherwise"),
// although the FIN came from the child's shutdown() long after; tcpdump
// -i lo shows no segment at the parent's closes. Under both tracers.
func TestRunCloseNotLast(t *testing.T) {
	needCapture(t)
	bin := filepath.Join(t.TempDir(), "forking")
	if out, err := exec.Command("go", "build", "-o", bin, "./calls/testdata/forking").CombinedOutput(); err != nil {
		t.Fatalf("build the test program: %v\n%s", err, out)
	}
	for _, tracer := range []string{"ebpf", "ptrace"} {
		t.Run(tracer, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run([]string{"socktrace", "run", "--tracer", tracer, "--lang", "en", "--color", "never", "--", bin}, &out, &errOut); code != 0 {
				if strings.Contains(errOut.String(), "eBPF") || strings.Contains(errOut.String(), "ptrace") {
					t.Skipf("%s not available here: %s", tracer, errOut.String())
				}
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			// The explanations wrap: compare with the words joined.
			text := strings.Join(strings.Fields(out.String()), " ")
			// The parent's two closes, before the child was started.
			if n := strings.Count(text, "close() releases descriptor"); n != 2 {
				t.Errorf("%d close() calls explained as releasing one descriptor of several, want the parent's 2:\n%s", n, out.String())
			}
			// Only the client's close() ends its side of the connection.
			if n := strings.Count(text, "the kernel ends the connection: FIN"); n != 1 {
				t.Errorf("%d close() calls explained as ending the connection, want the client's 1:\n%s", n, out.String())
			}
		})
	}
}

// TestRunCallNeverReturned: a call the process was still in when it
// exited (calls/testdata/sockops blockedexit: a thread blocked in
// accept(); strace -f shows "accept4(5, ... <unfinished ...>" and then
// the exit) never returned and has no result. Under ptrace the tracer
// reports it without an exit; it was written "accept(5) → 0 (0 µs)", a
// descriptor 0 returned in no time. (The eBPF recorder reports a call at
// its exit only: such a call is not in its report at all.)
func TestRunCallNeverReturned(t *testing.T) {
	needCapture(t)
	bin := filepath.Join(t.TempDir(), "sockops")
	if out, err := exec.Command("go", "build", "-o", bin, "./calls/testdata/sockops").CombinedOutput(); err != nil {
		t.Fatalf("build the test program: %v\n%s", err, out)
	}
	returned := regexp.MustCompile(`accept\(\d+\) → 0 \(`)
	never := regexp.MustCompile(`accept\(\d+\) … never returned`)
	for _, tracer := range []string{"ebpf", "ptrace"} {
		t.Run(tracer, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run([]string{"socktrace", "run", "--tracer", tracer, "--lang", "en", "--color", "never", "--", bin, "blockedexit"}, &out, &errOut); code != 0 {
				if strings.Contains(errOut.String(), "eBPF") || strings.Contains(errOut.String(), "ptrace") {
					t.Skipf("%s not available here: %s", tracer, errOut.String())
				}
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			if returned.Match(out.Bytes()) {
				t.Errorf("an accept() that never returned is shown returning 0:\n%s", out.String())
			}
			if tracer == "ptrace" && !never.Match(out.Bytes()) {
				t.Errorf("the accept() still blocked at the exit is not shown as never returning:\n%s", out.String())
			}
		})
	}
}

// TestRunDataCallNames: a data call is written under the system call the
// program made, as strace -f shows it (writev, readv, sendfile, sendto,
// recvfrom), not as the write() or read() it counts as; under eBPF, which
// records the data calls (ptrace does not). calls/testdata/sockops.
func TestRunDataCallNames(t *testing.T) {
	needCapture(t)
	bin := filepath.Join(t.TempDir(), "sockops")
	if out, err := exec.Command("go", "build", "-o", bin, "./calls/testdata/sockops").CombinedOutput(); err != nil {
		t.Fatalf("build the test program: %v\n%s", err, out)
	}
	tests := []struct {
		mode string
		want []string
	}{
		{"vector", []string{"writev(", "writev() copies 4 bytes", "readv(", "readv() returns 4 bytes"}},
		{"sendfile", []string{"sendfile(", "sendfile() copies 3000 bytes"}},
		{"peek", []string{"recvfrom("}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run([]string{"socktrace", "run", "--tracer", "ebpf", "--lang", "en", "--color", "never", "--", bin, tt.mode}, &out, &errOut); code != 0 {
				if strings.Contains(errOut.String(), "eBPF") {
					t.Skipf("eBPF not available here: %s", errOut.String())
				}
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			text := strings.Join(strings.Fields(out.String()), " ")
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("no %q in the report:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestRunPeek: a recv with MSG_PEEK is shown as the look it is, not as a
// read that took the bytes, and the close after it, with the peeked bytes
// still queued, is explained by them: calls/testdata/sockops peekclose,
// whose server peeks at the 4 bytes and closes (tcpdump -i lo -nn shows
// its RST, ack 5). The report said "recvfrom() returns 4 bytes" and put
// the RST down to SO_LINGER 0 or unread data, not knowing which. Under
// eBPF, which records the data calls (ptrace does not).
func TestRunPeek(t *testing.T) {
	needCapture(t)
	bin := filepath.Join(t.TempDir(), "sockops")
	if out, err := exec.Command("go", "build", "-o", bin, "./calls/testdata/sockops").CombinedOutput(); err != nil {
		t.Fatalf("build the test program: %v\n%s", err, out)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"socktrace", "run", "--tracer", "ebpf", "--lang", "en", "--color", "never", "--", bin, "peekclose"}, &out, &errOut); code != 0 {
		if strings.Contains(errOut.String(), "eBPF") {
			t.Skipf("eBPF not available here: %s", errOut.String())
		}
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	text := strings.Join(strings.Fields(out.String()), " ")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`recvfrom\(\d+, MSG_PEEK\) → 4`),
		regexp.MustCompile(`recvfrom\(\) with MSG_PEEK copies 4 bytes that had arrived but leaves them in the receive buffer`),
		regexp.MustCompile(`the server closed with 4 of the 4 bytes it received still unread, so its kernel sends RST`),
	} {
		if !want.MatchString(text) {
			t.Errorf("no %q in the report:\n%s", want, out.String())
		}
	}
	if strings.Contains(text, "recvfrom() returns 4 bytes") {
		t.Errorf("the peek is shown as a read that took the bytes:\n%s", out.String())
	}
}

// TestRunFastOpen: a sendto(MSG_FASTOPEN) on a socket not yet connected is
// shown as the connect() it is, and its SYN-ACK says whether the server
// took the data the SYN carried: calls/testdata/sockops fastopen in a
// network namespace with net.ipv4.tcp_fastopen=3 (fastOpenNetns), whose
// three connections tcpdump -i lo -nn shows as: a SYN with a cookie
// request (length 0) and a SYN-ACK giving the cookie; a SYN with the
// cookie and 4 bytes, acknowledged by the SYN-ACK (ack 5); a SYN with the
// cookie and 4 bytes to a listener without Fast Open, whose SYN-ACK has
// ack 1, and the 4 bytes again after the handshake. The report showed a
// write() and explained each SYN as "connect() [inferred] … connect()
// blocks", the resent bytes as a retransmission "not acknowledged in
// time". socktrace runs in the namespace (its packet capture is its own
// namespace's), built and started with ip netns exec.
func TestRunFastOpen(t *testing.T) {
	needCapture(t)
	dir := t.TempDir()
	socktrace, sockops := filepath.Join(dir, "socktrace"), filepath.Join(dir, "sockops")
	for bin, pkg := range map[string]string{socktrace: ".", sockops: "./calls/testdata/sockops"} {
		if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	for _, lang := range []string{"en", "ko"} {
		t.Run(lang, func(t *testing.T) {
			ns := fastOpenNetns(t)
			var out, errOut bytes.Buffer
			cmd := exec.Command("ip", "netns", "exec", ns, socktrace, "run", "--tracer", "ebpf", "--lang", lang, "--color", "never", "--", sockops, "fastopen")
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				if strings.Contains(errOut.String(), "eBPF") {
					t.Skipf("eBPF not available here: %s", errOut.String())
				}
				t.Fatalf("%v: %s", err, errOut.String())
			}
			text := strings.Join(strings.Fields(out.String()), " ")
			want := map[string][]string{
				"en": {
					"It holds no Fast Open cookie for this server yet: the SYN asks for one",
					"a 8-byte TCP Fast Open cookie for the client to keep",
					"Its ack=5 covers the 4 bytes the SYN carried: the server accepted the Fast Open cookie",
					"Its ack=1 covers the SYN only, not the 4 bytes it carried",
					"The client's kernel sends again the 4 bytes its SYN carried",
					"sendto() returns 4: those bytes rode in the SYN",
				},
				"ko": {
					"MSG_FASTOPEN을 준 sendto(): 클라이언트가 호출 하나로 연결하고",
					"ack=5는 SYN에 실린 4바이트까지 확인합니다",
					"ack=1은 SYN만 확인할 뿐",
				},
			}[lang]
			for _, w := range want {
				if !strings.Contains(text, w) {
					t.Errorf("no %q in the report:\n%s", w, out.String())
				}
			}
			if n := len(regexp.MustCompile(`sendto\(\d+, 127\.0\.0\.1:\d+, MSG_FASTOPEN\) …`).FindAllString(text, -1)); n != 3 {
				t.Errorf("%d sendto(…, MSG_FASTOPEN) calls shown as connecting, want 3:\n%s", n, out.String())
			}
			for _, bad := range []*regexp.Regexp{
				regexp.MustCompile(`connect\(\) \[(inferred|추정)\]`),
				regexp.MustCompile(`write\(\d+\)`),
				regexp.MustCompile(`\(retransmission\)|\(재전송\)`),
			} {
				if bad.MatchString(text) {
					t.Errorf("%q in the report:\n%s", bad, out.String())
				}
			}
		})
	}
}

// fastOpenNetns makes a network namespace with lo up and
// net.ipv4.tcp_fastopen=3 (Fast Open as client and server), deleted when
// the test ends, and returns its name: the server side of Fast Open must
// not be turned on for the host. A new namespace each time: it keeps the
// cookies its connections were given. (calls' tests have the same.)
func fastOpenNetns(t *testing.T) string {
	return netnstest.New(t, "st-tfo", "net.ipv4.tcp_fastopen=3")
}
