package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/decode"
)

// Tests of watch naming processes: connections that existed before it
// started (sock_diag and /proc), --pid and --comm, and the process
// comments of --write. The processes are python3 helpers, each waiting on
// its stdin for the test's word, so that every step waits on an event.

// holdScript opens a listener and a connection to it, prints the
// listener's port, and on a line from stdin exchanges a few bytes and
// closes: the connection exists before the test starts watching.
const holdScript = `import socket, sys
ln = socket.socket(); ln.bind(("127.0.0.1", 0)); ln.listen()
c = socket.create_connection(ln.getsockname())
s, _ = ln.accept()
print(ln.getsockname()[1], flush=True)
sys.stdin.readline()
c.sendall(b"ping\n"); s.recv(16); s.sendall(b"pong\n"); c.recv(16)
c.close(); s.recv(16); s.close()
`

// clientScript connects to the port in argv[1], sends a line, prints its
// own port, and closes on a line from stdin.
const clientScript = `import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
c.sendall(b"hello\n")
print(c.getsockname()[1], flush=True)
sys.stdin.readline()
c.close()
`

// helper is a python3 process the test drives through its stdin.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	comm  string
}

// startHelper runs script with python3 under the name comm (a symlink to
// the interpreter: the kernel names a process after the file it ran).
func startHelper(t *testing.T, comm, script string, args ...string) *helper {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is needed for the helper processes")
	}
	real, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	dir := t.TempDir()
	exe := filepath.Join(dir, comm)
	if err := os.Symlink(strings.TrimSpace(string(real)), exe); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{"-c", script}, args...)...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), comm: comm}
	t.Cleanup(func() { h.cmd.Process.Kill(); h.cmd.Wait() })
	return h
}

// line reads the helper's next line of output.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	s, err := h.out.ReadString('\n')
	if err != nil {
		t.Fatalf("helper %s: %v", h.comm, err)
	}
	return strings.TrimSpace(s)
}

// finish tells the helper to go on and waits for it to exit.
func (h *helper) finish(t *testing.T) {
	t.Helper()
	io.WriteString(h.stdin, "go\n")
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper %s: %v", h.comm, err)
	}
}

// watchWhile runs `socktrace watch args...` and, once it captures, act;
// it returns the exit code, stdout and stderr.
func watchWhile(t *testing.T, args []string, act func()) (int, []byte, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := -1
	before := boundPacketSockets()
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		code = run(append([]string{"socktrace", "watch"}, args...), &out, &errOut)
	}()
	// A test that fails in act must not leave watch capturing into the
	// next test.
	t.Cleanup(func() { <-exited })
	waitWatchCapturing(t, before, exited, &errOut)
	act()
	<-exited
	return code, out.Bytes(), errOut.String()
}

// TestWatchPreExistingConnection: a connection opened before watch
// started is named (pid, comm, user) on both sides and marked as older
// than the watch, with its state then; its server is the listener's end; --write puts the process on every
// packet as a comment, which a replay of the file does not take for a
// call. (By hand, once: `tshark -r F -T fields -e frame.comment` on such a
// file prints, per packet, "socktrace process: python3[8657] (user root)
// sent it from 127.0.0.1:33086; the connection existed before watch
// started (ESTABLISHED then),socktrace process: python3[8657] (user root)
// received it at 127.0.0.1:41913; ..." — tshark joins a packet's comments
// with commas.)
func TestWatchPreExistingConnection(t *testing.T) {
	needCapture(t)
	retryWhenEventsLost(t, func(last bool) bool { return watchPreExisting(t, last) })
}

func watchPreExisting(t *testing.T, last bool) (lost bool) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, "stwhold", holdScript)
	port := h.line(t)
	pid := h.cmd.Process.Pid
	file := filepath.Join(t.TempDir(), "old.pcapng")
	code, out, stderr := watchWhile(t, []string{"--iface", "lo", "--format", "json", "-c", "1", "--duration", "60s", "-w", file, "tcp port " + port},
		func() { h.finish(t) })
	if watchAttemptLost(t, last, code, stderr) {
		return true
	}
	r := parseReport(t, out)
	if len(r.conns) != 1 {
		t.Fatalf("%d connections, want 1: %s", len(r.conns), out)
	}
	c := r.conns[0]
	// The handshake was not seen, but the listener was: the roles are
	// known, whichever port is lower.
	if c.Server != "127.0.0.1:"+port {
		t.Errorf("server %s, want the listener's address 127.0.0.1:%s", c.Server, port)
	}
	for _, side := range []string{"client", "server"} {
		o := c.Processes[side]
		if o == nil {
			t.Errorf("%s: no process named: %s", side, out)
			continue
		}
		if o.PID != pid || o.Comm != "stwhold" || o.User != me.Username || strconv.Itoa(o.UID) != me.Uid || !o.BeforeStart || o.StateAtStart != "ESTABLISHED" {
			t.Errorf("%s process %+v; want stwhold[%d], user %s (%s), before the watch, ESTABLISHED", side, *o, pid, me.Username, me.Uid)
		}
	}

	// Every packet names both ends' process in its comments.
	src, err := capture.OpenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	want := "socktrace process: stwhold[" + strconv.Itoa(pid) + "] (user " + me.Username + ")"
	packets := 0
	for {
		var p capture.Packet
		if err := src.ReadPacket(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		packets++
		if len(p.Comments) != 2 || !strings.HasPrefix(p.Comments[0], want+" sent it from 127.0.0.1:") ||
			!strings.HasPrefix(p.Comments[1], want+" received it at 127.0.0.1:") ||
			!strings.HasSuffix(p.Comments[0], "; the connection existed before watch started (ESTABLISHED then)") {
			t.Errorf("packet %d: comments %q; want the sender's and the receiver's process, %q", packets, p.Comments, want)
		}
	}
	if packets != c.Packets {
		t.Errorf("the file has %d packets, the report %d", packets, c.Packets)
	}
	// A replay reads the same connection and takes no comment for a call.
	var rout, rerr bytes.Buffer
	if code := run([]string{"socktrace", "replay", "--format", "json", file}, &rout, &rerr); code != 0 {
		t.Fatalf("replay: exit %d: %s", code, rerr.String())
	}
	rr := parseReport(t, rout.Bytes())
	if len(rr.conns) != 1 || rr.conns[0].Packets != c.Packets {
		t.Fatalf("replay: %d connections; want the one of %d packets", len(rr.conns), c.Packets)
	}
	for _, call := range rr.conns[0].Calls {
		if !call.Inferred {
			t.Errorf("replay took a comment for a call: %+v", call)
		}
	}
	return false
}

// TestWatchProcessFilter: two processes connect at once to a listener of
// the test; --pid and --comm keep one process's connection and count the
// other's as left out.
func TestWatchProcessFilter(t *testing.T) {
	needCapture(t)
	for _, tc := range []struct {
		name string
		flag func(a, b *helper) []string
		keep int // 0: the first helper (stwfirst), 1: the second (stwsecond)
	}{
		{"pid", func(a, b *helper) []string { return []string{"--pid", strconv.Itoa(a.cmd.Process.Pid)} }, 0},
		{"comm", func(a, b *helper) []string { return []string{"--comm", "stwsecond"} }, 1},
		{"comm list", func(a, b *helper) []string { return []string{"--comm", "nosuchprocess,stwfirst"} }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			retryWhenEventsLost(t, func(last bool) bool {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
				// The helpers start first, waiting to be told the port:
				// the filter needs their pids and names.
				portScript := "import sys\nport = sys.stdin.readline()\nsys.argv = [sys.argv[0], port]\n" + clientScript
				hs := []*helper{startHelper(t, "stwfirst", portScript), startHelper(t, "stwsecond", portScript)}
				kept, other := hs[tc.keep], hs[1-tc.keep]
				file := filepath.Join(t.TempDir(), "one.pcapng")
				args := append([]string{"--iface", "lo", "--format", "json", "-c", "1", "--duration", "60s", "-w", file}, tc.flag(hs[0], hs[1])...)
				ports := make(map[*helper]string)
				code, out, stderr := watchWhile(t, append(args, "tcp port "+port), func() {
					// The server echoes nothing: it reads each client's
					// line, then to its end, and closes.
					served := make(chan error, 2)
					for range 2 {
						go func() {
							c, err := ln.Accept()
							if err != nil {
								served <- err
								return
							}
							defer c.Close()
							_, err = io.Copy(io.Discard, c)
							served <- err
						}()
					}
					for _, h := range hs { // both connect at once
						io.WriteString(h.stdin, port+"\n")
					}
					for _, h := range hs {
						ports[h] = h.line(t) // connected, line sent
					}
					other.finish(t)
					if err := <-served; err != nil {
						t.Error(err)
					}
					kept.finish(t)
					if err := <-served; err != nil {
						t.Error(err)
					}
				})
				if watchAttemptLost(t, last, code, stderr) {
					return true
				}
				r := parseReport(t, out)
				if len(r.conns) != 1 {
					t.Fatalf("%d connections, want only %s's: %s", len(r.conns), kept.comm, out)
				}
				o := r.conns[0].Processes["client"]
				if o == nil || o.PID != kept.cmd.Process.Pid || o.Comm != kept.comm || o.BeforeStart {
					t.Errorf("client process %+v, want %s[%d], new", o, kept.comm, kept.cmd.Process.Pid)
				}
				if r.conns[0].BytesC2S != 6 {
					t.Errorf("%d bytes client→server, want 6", r.conns[0].BytesC2S)
				}
				if n, _ := r.summary["left_out"].(float64); n != 1 {
					t.Errorf("summary: left_out %v, want 1 (%s's connection)", r.summary["left_out"], other.comm)
				}
				if n, _ := r.summary["connections"].(float64); n != 1 {
					t.Errorf("summary: %v connections, want the 1 shown", r.summary["connections"])
				}
				// The --write file is a capture of the kept process: its
				// connection's packets only, each naming it.
				client := "127.0.0.1:" + ports[kept]
				if r.conns[0].Client != client {
					t.Errorf("client %s, want %s", r.conns[0].Client, client)
				}
				src, err := capture.OpenFile(file)
				if err != nil {
					t.Fatal(err)
				}
				defer src.Close()
				packets := 0
				var seg decode.Segment
				for {
					var p capture.Packet
					if err := src.ReadPacket(&p); err == io.EOF {
						break
					} else if err != nil {
						t.Fatal(err)
					}
					packets++
					if err := decode.Decode(&p, &seg); err != nil || seg.Src.String() != client && seg.Dst.String() != client {
						t.Errorf("packet %d (%v → %v) is not of %s's connection", packets, seg.Src, seg.Dst, kept.comm)
					}
					want := processCommentPrefix + kept.comm + "[" + strconv.Itoa(kept.cmd.Process.Pid) + "]"
					if !strings.Contains(strings.Join(p.Comments, "\n"), want) {
						t.Errorf("packet %d: comments %q lack %q", packets, p.Comments, want)
					}
				}
				if packets != r.conns[0].Packets {
					t.Errorf("the file has %d packets, the connection %d", packets, r.conns[0].Packets)
				}
				return false
			})
		})
	}
}

// TestWatchProcessFilterUsage: --pid and --comm given in ways that cannot
// work are usage errors, said before anything is captured.
func TestWatchProcessFilterUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--pid", strconv.Itoa(os.Getpid()), "--processes=false"}, "--pid and --comm need the processes of the connections: leave out --processes=false"},
		{[]string{"--comm", "curl", "--processes=false"}, "--pid and --comm need the processes of the connections"},
		{[]string{"--pid", "0"}, "--pid 0 is not a process ID"},
		{[]string{"--pid", "-4"}, "--pid -4 is not a process ID"},
		{[]string{"--pid", "2147483647"}, "--pid 2147483647: no such process"},
		{[]string{"--comm", "curl,,python3"}, `--comm "curl,,python3" has an empty name`},
		{[]string{"--comm", "averyveryverylongname"}, `give the first 15: "averyveryverylo"`},
		{[]string{"--pid", "x"}, "invalid value"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(append([]string{"socktrace", "watch", "--iface", "lo"}, tc.args...), &out, &errOut)
			if code != exitUsage || !strings.Contains(errOut.String(), tc.want) || strings.Count(errOut.String(), "\n") != 1 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line with %q", code, errOut.String(), exitUsage, tc.want)
			}
		})
	}
}

// TestOwnerLookupWithoutRecorder: with nothing learnt from the recorder
// (eBPF unavailable, or its call still on the way), --pid and --comm find
// a connection's process at once through sock_diag and /proc; a
// connection of another process is left out.
func TestOwnerLookupWithoutRecorder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	me := strings.TrimSpace(string(comm))
	for _, tc := range []struct {
		name   string
		filter procFilter
		keep   bool
	}{
		{"this pid", procFilter{pid: os.Getpid()}, true},
		{"this name", procFilter{comms: map[string]bool{me: true}}, true},
		{"another pid", procFilter{pid: 1}, false},
		{"another name", procFilter{comms: map[string]bool{"nosuchprocess": true}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newOwnerHandler(discard{}, newOwnerTable(), &tc.filter)
			c := &decode.Connection{ID: 1, Client: client.LocalAddr().(*net.TCPAddr).AddrPort(), Server: client.RemoteAddr().(*net.TCPAddr).AddrPort()}
			if got := h.decide(c); got != tc.keep {
				t.Fatalf("decide = %v, want %v", got, tc.keep)
			}
			if !tc.keep {
				return
			}
			o := c.Owner(decode.Client)
			if o.PID != os.Getpid() || o.Comm != me || o.Before {
				t.Errorf("client owner %+v, want %s[%d]", o, me, os.Getpid())
			}
		})
	}
}

// discard is a report that keeps nothing.
type discard struct{}

func (discard) Segment(*decode.Connection, *decode.Step) {}
func (discard) Ended(*decode.Connection)                 {}

// retryWhenEventsLost runs attempt up to three times while it reports
// (from watch's stderr, before asserting anything) that the eBPF ring
// buffer overflowed: watch records every process's calls, and a storm of
// connections elsewhere on the machine (another test package's) can then
// take the events that name this test's processes, a loss watch says
// (TestWatchReportsLostEvents) and no test can rule out.
func retryWhenEventsLost(t *testing.T, attempt func(last bool) (lost bool)) {
	t.Helper()
	for i := 1; attempt(i == 3); i++ {
		t.Logf("attempt %d: the eBPF ring buffer overflowed (a storm elsewhere on the machine); again", i)
	}
}

// eventsLost says whether watch's stderr reports a ring buffer overflow.
func eventsLost(stderr string) bool { return strings.Contains(stderr, "kernel events lost") }

// watchAttemptLost says whether an attempt of retryWhenEventsLost should
// be made again (watch lost events, and it was not the last); otherwise
// it fails the test if watch did, and has watch's stderr logged if the
// test fails later.
func watchAttemptLost(t *testing.T, last bool, code int, stderr string) bool {
	t.Helper()
	if !last && eventsLost(stderr) {
		return true
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("watch's stderr: %s", stderr)
		}
	})
	if code != 0 {
		t.Fatalf("watch: exit %d: %s", code, stderr)
	}
	return false
}

// TestWatchReportsLostEvents: when the eBPF ring buffer overflows, watch
// says on stderr how many kernel events were lost (it records every
// process, and a storm elsewhere can fill it): never silent. As in
// TestRunReportsLostEvents, the ring is one page and the reader is held
// at the storm program's first call until it has made 500 connections
// and exited.
func TestWatchReportsLostEvents(t *testing.T) {
	needCapture(t)
	bin := filepath.Join(t.TempDir(), "stwstorm")
	if out, err := exec.Command("go", "build", "-o", bin, "./calls/testdata/storm").CombinedOutput(); err != nil {
		t.Fatalf("build the storm program: %v\n%s", err, out)
	}
	watchRingBufferSize = os.Getpagesize()
	var held sync.Once
	watchEventsHook = func(ev calls.Event) {
		if ev.Comm == "stwstorm" {
			held.Do(func() { waitProcessExit(t, ev.PID) })
		}
	}
	defer func() { watchRingBufferSize, watchEventsHook = 0, nil }()
	code, out, stderr := watchWhile(t, []string{"--iface", "lo", "--format", "json", "-c", "1", "--duration", "60s", "tcp"}, func() {
		if out, err := exec.Command(bin, "500", "2").CombinedOutput(); err != nil {
			t.Errorf("storm: %v\n%s", err, out)
		}
	})
	if code != 0 {
		if strings.Contains(stderr, "eBPF recording unavailable") {
			t.Skip(stderr)
		}
		t.Fatalf("watch: exit %d: %s", code, stderr)
	}
	if !eventsLost(stderr) {
		t.Errorf("a one-page ring, its reader held while a program made 500 connections, and stderr does not say events were lost: %s", stderr)
	}
	if r := parseReport(t, out); r.summary == nil {
		t.Errorf("no summary")
	}
}
