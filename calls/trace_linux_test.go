//go:build linux && (amd64 || arm64)

package calls

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The tests trace real programs: Go programs from testdata/ built into a
// temporary directory, and python3 when it is installed. They need root
// (or CAP_SYS_PTRACE) and a kernel that lets us ptrace; they skip, saying
// why, otherwise.

// testProgram builds testdata/name into a temporary directory and returns
// the binary's path.
func testProgram(t testing.TB, name string) string {
	t.Helper()
	return testProgramArch(t, name, "")
}

// testProgramArch builds testdata/name for goarch ("": this one).
func testProgramArch(t testing.TB, name, goarch string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name+goarch)
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/"+name)
	if goarch != "" {
		cmd.Env = append(os.Environ(), "GOARCH="+goarch)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./testdata/%s: %v\n%s", name, err, out)
	}
	return bin
}

func requireTracing(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("tracing tests need root (ptrace and pidfd_getfd of the traced programs)")
	}
	if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil && strings.TrimSpace(string(b)) == "3" {
		t.Skip("kernel.yama.ptrace_scope is 3: ptrace is disabled")
	}
}

// run traces argv to the end and returns its events and exit code, and the
// lines it printed.
type traced struct {
	events []Event
	lines  []string
	code   int
	err    error
	tracer *Tracer
}

func runTraced(t *testing.T, ctx context.Context, argv []string, onLine func(string)) *traced {
	t.Helper()
	requireTracing(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	res := &traced{}
	var mu sync.Mutex
	tr, err := Trace(ctx, argv, TraceOptions{
		Events: func(e Event) {
			mu.Lock()
			res.events = append(res.events, e)
			mu.Unlock()
		},
		Stdout: w,
	})
	w.Close()
	if errors.Is(err, ErrPtraceNotPermitted) {
		r.Close()
		t.Skipf("ptrace not available here: %v", err)
	}
	if err != nil {
		r.Close()
		t.Fatalf("Trace(%q): %v", argv, err)
	}
	lines := make(chan []string)
	go func() {
		var ls []string
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ls = append(ls, sc.Text())
			if onLine != nil {
				onLine(sc.Text())
			}
		}
		r.Close()
		lines <- ls
	}()
	res.code, res.err = tr.Wait()
	res.lines = <-lines
	res.tracer = tr
	for _, e := range res.events {
		t.Logf("%-8s fd=%-3d %-22s %-22s res=%-4d errno=%-12v side=%-6s pid=%d tid=%d comm=%s %s %v",
			e.Call, e.FD, e.Local, e.Remote, e.Result, e.Errno, e.Side, e.PID, e.TID, e.Comm, e.Detail, e.Duration())
	}
	t.Logf("output: %q; exit %d, err %v; stats %+v", res.lines, res.code, res.err, tr.Stats())
	return res
}

// addr finds "key ADDR" in the program's output.
func (r *traced) addr(t *testing.T, key string) netip.AddrPort {
	t.Helper()
	for _, l := range r.lines {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			ap, err := netip.ParseAddrPort(v)
			if err != nil {
				t.Fatalf("%q: %v", l, err)
			}
			return ap
		}
	}
	t.Fatalf("no %q line in output %q", key, r.lines)
	return netip.AddrPort{}
}

// find returns the events for which match is true.
func (r *traced) find(match func(*Event) bool) []Event {
	var out []Event
	for i := range r.events {
		if match(&r.events[i]) {
			out = append(out, r.events[i])
		}
	}
	return out
}

// one returns the single event for which match is true.
func (r *traced) one(t *testing.T, what string, match func(*Event) bool) Event {
	t.Helper()
	es := r.find(match)
	if len(es) != 1 {
		t.Fatalf("%s: want 1 event, got %d: %+v", what, len(es), es)
	}
	return es[0]
}

func TestTraceBlocking(t *testing.T) {
	prog := testProgram(t, "blocking")
	requireTracing(t)
	stopCapture := captureLoopback(t)
	r := runTraced(t, context.Background(), []string{prog}, nil)
	pkts := stopCapture()
	if r.err != nil || r.code != 3 {
		t.Fatalf("Wait = %d, %v; want 3, nil (the program's own exit code)", r.code, r.err)
	}
	defer func() {
		if t.Failed() {
			return
		}
		checkBlockingCausality(t, r, conversation(pkts, r.addr(t, "server"), r.addr(t, "client")))
	}()
	srv, cli := r.addr(t, "server"), r.addr(t, "client")
	pid := r.events[0].PID
	for _, e := range r.events {
		if e.PID != pid || e.Comm != "blocking" || e.TID == 0 {
			t.Errorf("event %+v: want pid %d, comm blocking", e, pid)
		}
		if e.Enter.IsZero() || e.Exit.Before(e.Enter) {
			t.Errorf("event %+v: bad times", e)
		}
	}
	if n := len(r.find(func(e *Event) bool { return e.Call == Socket })); n != 2 {
		t.Errorf("%d socket events, want 2", n)
	}
	bind := r.one(t, "bind", func(e *Event) bool { return e.Call == Bind })
	if bind.Local != netip.MustParseAddrPort("127.0.0.1:0") || bind.Detail != "bound to "+srv.String() || bind.Errno != 0 {
		t.Errorf("bind: %+v", bind)
	}
	listen := r.one(t, "listen", func(e *Event) bool { return e.Call == Listen })
	if listen.Local != srv || listen.Side != Server || listen.FD != bind.FD {
		t.Errorf("listen: %+v", listen)
	}
	connect := r.one(t, "connect", func(e *Event) bool { return e.Call == Connect })
	if connect.Remote != srv || connect.Local != cli || connect.Errno != 0 || connect.Side != Client {
		t.Errorf("connect: %+v", connect)
	}
	accept := r.one(t, "accept", func(e *Event) bool { return e.Call == Accept })
	if accept.Local != srv || accept.Remote != cli || accept.FD != listen.FD || accept.Result < 0 || accept.Side != Server {
		t.Errorf("accept: %+v", accept)
	}
	if accept.TID == connect.TID {
		t.Errorf("accept and connect on the same thread %d", accept.TID)
	}
	// Causality: the server's accept returns after the client's connect
	// entered (the handshake needs the SYN connect sends).
	if !accept.Exit.After(connect.Enter) {
		t.Errorf("accept returned at %v, before connect entered at %v", accept.Exit, connect.Enter)
	}
	shut := r.one(t, "shutdown", func(e *Event) bool { return e.Call == Shutdown })
	if shut.Detail != "SHUT_WR" || shut.Local != cli || shut.Remote != srv || shut.Side != Client || shut.FD != connect.FD {
		t.Errorf("shutdown: %+v", shut)
	}
	closes := r.find(func(e *Event) bool { return e.Call == Close })
	if len(closes) != 3 {
		t.Fatalf("%d close events, want 3 (client, accepted, listener; not the file): %+v", len(closes), closes)
	}
	var sawServer, sawClient, sawListener bool
	for _, c := range closes {
		switch {
		case c.FD == accept.Result && c.Local == srv && c.Remote == cli && c.Side == Server:
			sawServer = true
		case c.FD == connect.FD && c.Local == cli && c.Remote == srv && c.Side == Client:
			sawClient = true
			if !c.Enter.After(shut.Exit) {
				t.Errorf("client close entered before shutdown returned")
			}
		case c.FD == listen.FD && c.Local == srv && !c.Remote.IsValid():
			sawListener = true
		}
	}
	if !sawServer || !sawClient || !sawListener {
		t.Errorf("close events: server %v, client %v, listener %v: %+v", sawServer, sawClient, sawListener, closes)
	}
}

func TestTraceNonBlocking(t *testing.T) {
	prog := testProgram(t, "nonblocking")
	requireTracing(t)
	stopCapture := captureLoopback(t)
	r := runTraced(t, context.Background(), []string{prog}, nil)
	pkts := stopCapture()
	if r.err != nil || r.code != 0 {
		t.Fatalf("Wait = %d, %v", r.code, r.err)
	}
	srv, cli := r.addr(t, "server"), r.addr(t, "client")
	pkts = conversation(pkts, srv, cli)
	connects := r.find(func(e *Event) bool { return e.Call == Connect })
	if len(connects) != 2 {
		t.Fatalf("want the EINPROGRESS connect and its completion, got %+v", connects)
	}
	c, done := connects[0], connects[1]
	if c.Errno != syscall.EINPROGRESS || c.Local != cli || c.Remote != srv || c.Side != Client {
		t.Errorf("connect: %+v; want EINPROGRESS %v -> %v", c, cli, srv)
	}
	if done.Detail != "completed" || done.Errno != 0 || done.Result != 0 || done.Local != cli || done.Remote != srv ||
		done.FD != c.FD || !done.Enter.Equal(c.Enter) || done.Exit.Before(c.Exit) || done.Comm != "nonblocking" {
		t.Errorf("completion: %+v", done)
	}
	// Go's accept loop: accept4 fails with EAGAIN until the connection
	// is queued, then succeeds.
	accepts := r.find(func(e *Event) bool { return e.Call == Accept && e.Errno == 0 })
	if len(accepts) != 1 {
		t.Fatalf("successful accepts: %+v", accepts)
	}
	a := accepts[0]
	if a.Local != srv || a.Remote != cli || !strings.Contains(a.Detail, "SOCK_NONBLOCK") {
		t.Errorf("accept: %+v", a)
	}
	if !a.Exit.After(c.Enter) {
		t.Errorf("accept returned before connect entered")
	}
	for _, e := range r.find(func(e *Event) bool { return e.Call == Accept && e.Errno != 0 }) {
		if e.Errno != syscall.EAGAIN || e.Local != srv {
			t.Errorf("failed accept: %+v", e)
		}
	}
	shut := r.one(t, "shutdown", func(e *Event) bool { return e.Call == Shutdown })
	if shut.Local != cli || shut.Remote != srv || shut.Detail != "SHUT_WR" {
		t.Errorf("shutdown: %+v", shut)
	}
	// Go probes for IPv6 support with sockets of its own; ours are IPv4
	// ("tcp4"), non-blocking and close-on-exec.
	socks := r.find(func(e *Event) bool { return e.Call == Socket && e.FD == c.FD && e.Exit.Before(c.Enter) })
	if len(socks) == 0 || socks[len(socks)-1].Detail != "AF_INET SOCK_STREAM|SOCK_NONBLOCK|SOCK_CLOEXEC" {
		t.Errorf("client socket: %+v", socks)
	}
	r.one(t, "client close", func(e *Event) bool {
		return e.Call == Close && e.Local == cli && e.Remote == srv && e.Side == Client && e.FD == c.FD
	})
	r.one(t, "server close", func(e *Event) bool {
		return e.Call == Close && e.Local == srv && e.Remote == cli && e.Side == Server && e.FD == a.Result
	})
	r.one(t, "listener close", func(e *Event) bool {
		return e.Call == Close && e.Local == srv && !e.Remote.IsValid() && e.Side == Server
	})

	// With the packets: the EINPROGRESS connect entered before the SYN
	// (and returned with the handshake under way or done); the
	// completion was seen after the SYN-ACK arrived; accept returned
	// after the handshake's ACK.
	syn := first(t, pkts, cli, tcpSYN, tcpACK, "SYN")
	synack := first(t, pkts, srv, tcpSYN|tcpACK, 0, "SYN-ACK")
	ack := first(t, pkts, cli, tcpACK, tcpSYN|tcpFIN, "ACK")
	before(t, c.Enter, "connect enter", syn.t, "SYN")
	before(t, syn.t, "SYN", c.Exit, "connect (EINPROGRESS) exit")
	before(t, synack.t, "SYN-ACK", done.Exit, "connect completed")
	before(t, ack.t, "handshake ACK", a.Exit, "accept exit")
	before(t, shut.Enter, "shutdown enter", first(t, pkts, cli, tcpFIN, 0, "client FIN").t, "client FIN")
}

func TestTraceThreadedServer(t *testing.T) {
	prog := testProgram(t, "threaded")
	const n = 20
	r := runTraced(t, context.Background(), []string{prog, strconv.Itoa(n)}, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("Wait = %d, %v", r.code, r.err)
	}
	srv := r.addr(t, "server")
	clients := make(map[netip.AddrPort]bool)
	acceptTIDs := make(map[int]int) // from the program's own output
	for _, l := range r.lines {
		if v, ok := strings.CutPrefix(l, "client "); ok {
			clients[netip.MustParseAddrPort(v)] = true
		}
		if f := strings.Fields(l); len(f) == 3 && f[0] == "accepted" {
			tid, _ := strconv.Atoi(f[1])
			port, _ := strconv.Atoi(f[2])
			acceptTIDs[port] = tid
		}
	}
	if len(clients) != n {
		t.Fatalf("%d clients in output, want %d", len(clients), n)
	}
	accepts := r.find(func(e *Event) bool {
		return e.Call == Accept && e.Errno == 0 && e.Remote.IsValid() && clients[e.Remote]
	})
	if len(accepts) != n {
		t.Fatalf("%d accepts of our clients, want %d", len(accepts), n)
	}
	tids := make(map[int]bool)
	for _, a := range accepts {
		if a.Local != srv || a.Side != Server {
			t.Errorf("accept: %+v", a)
		}
		if want := acceptTIDs[int(a.Remote.Port())]; a.TID != want {
			t.Errorf("accept of %v on thread %d, the program says %d", a.Remote, a.TID, want)
		}
		tids[a.TID] = true
		conn := r.one(t, "connect from "+a.Remote.String(), func(e *Event) bool {
			return e.Call == Connect && e.Local == a.Remote && e.Detail == ""
		})
		if !a.Exit.After(conn.Enter) {
			t.Errorf("accept of %v returned before its connect entered", a.Remote)
		}
		r.one(t, "server close of "+a.Remote.String(), func(e *Event) bool {
			return e.Call == Close && e.TID == a.TID && e.FD == a.Result && e.Remote == a.Remote
		})
	}
	if len(tids) < 2 {
		t.Logf("all accepts on one thread (scheduling); want several, not required")
	}
	if r.one(t, "listener shutdown", func(e *Event) bool { return e.Call == Shutdown }).Detail != "SHUT_RDWR" {
		t.Errorf("listener shutdown detail")
	}
}

func TestTraceForkingServer(t *testing.T) {
	prog := testProgram(t, "forking")
	r := runTraced(t, context.Background(), []string{prog}, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("Wait = %d, %v", r.code, r.err)
	}
	srv, cli := r.addr(t, "server"), r.addr(t, "client")
	var child int
	for _, l := range r.lines {
		if v, ok := strings.CutPrefix(l, "child "); ok {
			child, _ = strconv.Atoi(v)
		}
	}
	accept := r.one(t, "accept", func(e *Event) bool { return e.Call == Accept && e.Errno == 0 })
	if accept.Remote != cli || accept.Local != srv {
		t.Errorf("accept: %+v", accept)
	}
	// The child process answers on the inherited socket and closes it.
	shut := r.one(t, "child shutdown", func(e *Event) bool { return e.Call == Shutdown })
	cclose := r.one(t, "child close", func(e *Event) bool { return e.Call == Close && e.PID == child })
	for _, e := range []Event{shut, cclose} {
		if e.PID != child || e.PID == accept.PID || e.FD != 3 || e.Local != srv || e.Remote != cli || e.Comm != "forking" {
			t.Errorf("child's %s: %+v (child pid %d)", e.Call, e, child)
		}
	}
	if shut.Side != Server {
		t.Errorf("shutdown of an accepted socket in a child: side %q, want server", shut.Side)
	}
	// The parent closed its copies before the child finished.
	r.one(t, "client close", func(e *Event) bool { return e.Call == Close && e.Local == cli })
}

func TestTracePython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	// A one-request HTTP server (what python3 -m http.server runs,
	// bound to port 0 so the test can run anywhere).
	script := `
import http.server, socketserver, sys
class H(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass
with socketserver.TCPServer(("127.0.0.1", 0), H) as s:
    print("server 127.0.0.1:%d" % s.server_address[1], flush=True)
    s.handle_request()
`
	var client netip.AddrPort
	var clientErr error
	got := make(chan struct{})
	r := runTraced(t, context.Background(), []string{py, "-c", script}, func(line string) {
		v, ok := strings.CutPrefix(line, "server ")
		if !ok {
			return
		}
		defer close(got)
		c, err := net.Dial("tcp4", v)
		if err != nil {
			clientErr = err
			return
		}
		defer c.Close()
		client = netip.MustParseAddrPort(c.LocalAddr().String())
		fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
		resp, _ := io.ReadAll(c) // all of it: closing early would reset
		if !strings.HasPrefix(string(resp), "HTTP/1.0 200") {
			clientErr = fmt.Errorf("response %.40q", resp)
		}
	})
	<-got
	if clientErr != nil {
		t.Fatal(clientErr)
	}
	if r.err != nil || r.code != 0 {
		t.Fatalf("Wait = %d, %v", r.code, r.err)
	}
	srv := r.addr(t, "server")
	for _, call := range []Call{Socket, Bind, Listen} {
		r.one(t, string(call), func(e *Event) bool { return e.Call == call && e.Errno == 0 })
	}
	a := r.one(t, "accept", func(e *Event) bool { return e.Call == Accept })
	if a.Local != srv || a.Remote != client || a.Comm != "python3" || a.Side != Server {
		t.Errorf("accept: %+v, want %v <- %v by python3", a, srv, client)
	}
	// socketserver shuts the connection down, then closes it.
	s := r.one(t, "shutdown", func(e *Event) bool { return e.Call == Shutdown })
	c := r.one(t, "close of the connection", func(e *Event) bool { return e.Call == Close && e.FD == a.Result })
	if s.Remote != client || c.Remote != client || s.Exit.After(c.Enter) {
		t.Errorf("shutdown %+v, close %+v", s, c)
	}
}

func TestTraceNotFound(t *testing.T) {
	_, err := Trace(context.Background(), []string{"socktrace-no-such-command"}, TraceOptions{})
	var ee *ExecError
	if !errors.As(err, &ee) || ee.ExitCode() != 127 || !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Trace(missing) = %v, want *ExecError with exit code 127", err)
	}
}

func TestTraceExecFails(t *testing.T) {
	requireTracing(t)
	// Found by LookPath (it has an x bit) but execve fails: not a
	// binary, and no #! line.
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte{0, 1, 2, 3}, 0o755); err != nil {
		t.Fatal(err)
	}
	tr, err := Trace(context.Background(), []string{bad}, TraceOptions{})
	if errors.Is(err, ErrPtraceNotPermitted) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	code, err := tr.Wait()
	var ee *ExecError
	if !errors.As(err, &ee) || code != 126 || code != ee.ExitCode() || !errors.Is(err, syscall.ENOEXEC) {
		t.Fatalf("Wait = %d, %v; want 126 and an *ExecError (ENOEXEC)", code, err)
	}

	// Found, but its interpreter is not: execve fails with ENOENT, and
	// the shell's answer to that is 127.
	noInterp := filepath.Join(t.TempDir(), "nointerp")
	if err := os.WriteFile(noInterp, []byte("#!/nonexistent/interpreter\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tr, err = Trace(context.Background(), []string{noInterp}, TraceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	code, err = tr.Wait()
	if !errors.As(err, &ee) || code != 127 || !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("Wait = %d, %v; want 127 and an *ExecError (not found)", code, err)
	}
}

func TestTraceExitCode(t *testing.T) {
	requireTracing(t)
	for _, tc := range []struct {
		argv []string
		code int
	}{
		{[]string{"sh", "-c", "exit 0"}, 0},
		{[]string{"sh", "-c", "exit 42"}, 42},
		{[]string{"sh", "-c", "kill -TERM $$"}, 128 + 15},
	} {
		tr, err := Trace(context.Background(), tc.argv, TraceOptions{})
		if errors.Is(err, ErrPtraceNotPermitted) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		code, err := tr.Wait()
		if code != tc.code || err != nil {
			t.Errorf("%q: Wait = %d, %v; want %d, nil", tc.argv, code, err, tc.code)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func TestTraceCancelKillsTree(t *testing.T) {
	requireTracing(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// A shell with a child and a grandchild, all sleeping; each prints
	// its pid.
	tr, err := Trace(ctx, []string{"sh", "-c", `echo $$; sh -c 'echo $$; sleep 1000 & echo $!; wait'`}, TraceOptions{Stdout: w})
	w.Close()
	if errors.Is(err, ErrPtraceNotPermitted) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	sc := bufio.NewScanner(r)
	for len(pids) < 3 && sc.Scan() {
		pid, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 3 {
		t.Fatalf("pids: %v", pids)
	}
	cancel()
	code, err := tr.Wait()
	if !errors.Is(err, context.Canceled) || code != 128+9 {
		t.Errorf("Wait = %d, %v; want 137, context.Canceled", code, err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still alive after cancel", pid)
		}
	}
}

// tracerPids returns, for each thread of pid, its TracerPid and state.
func threadStates(t *testing.T, pid int) map[int]string {
	t.Helper()
	tids, err := listTasks(pid)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int]string)
	for _, tid := range tids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
		if err != nil {
			continue
		}
		var state, tracer string
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "State:"); ok {
				state = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "TracerPid:"); ok {
				tracer = strings.TrimSpace(v)
			}
		}
		out[tid] = state + " tracer=" + tracer
	}
	return out
}

func TestAttachDetach(t *testing.T) {
	requireTracing(t)
	prog := testProgram(t, "server")
	cmd := exec.Command(prog)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("server printed nothing")
	}
	srv := netip.MustParseAddrPort(strings.TrimPrefix(sc.Text(), "server "))

	dial := func() netip.AddrPort {
		t.Helper()
		c, err := net.Dial("tcp4", srv.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var buf [2]byte
		if _, err := c.Read(buf[:]); err != nil || string(buf[:]) != "hi" {
			t.Fatalf("read %q, %v", buf, err)
		}
		return netip.MustParseAddrPort(c.LocalAddr().String())
	}

	var mu sync.Mutex
	var events []Event
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr, err := Attach(ctx, cmd.Process.Pid, TraceOptions{Events: func(e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	if errors.Is(err, ErrPtraceNotPermitted) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for tid, st := range threadStates(t, cmd.Process.Pid) {
		if strings.HasSuffix(st, "tracer=0") {
			t.Errorf("thread %d not traced after Attach: %s", tid, st)
		}
	}
	cli := dial()
	// The server closes after writing; wait until its close is seen.
	deadline := time.Now().Add(5 * time.Second)
	var accept, closed *Event
	for time.Now().Before(deadline) && (accept == nil || closed == nil) {
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		for i := range events {
			e := &events[i]
			if e.Call == Accept && e.Remote == cli {
				accept = e
			}
			if e.Call == Close && e.Remote == cli {
				closed = e
			}
		}
		mu.Unlock()
	}
	if accept == nil || closed == nil {
		t.Fatalf("accept %v, close %v of %v not seen in %+v", accept, closed, cli, events)
	}
	if accept.Local != srv || accept.PID != cmd.Process.Pid || accept.Comm != "server" || closed.Side != Server {
		t.Errorf("accept %+v, close %+v", accept, closed)
	}

	cancel()
	code, err := tr.Wait()
	if !errors.Is(err, context.Canceled) || code != 0 {
		t.Errorf("Wait = %d, %v; want 0, context.Canceled", code, err)
	}
	// Detached, running, and still serving.
	for tid, st := range threadStates(t, cmd.Process.Pid) {
		if !strings.HasSuffix(st, "tracer=0") || strings.HasPrefix(st, "t") || strings.HasPrefix(st, "T") {
			t.Errorf("thread %d after detach: %s", tid, st)
		}
	}
	dial()
	t.Logf("stats %+v", tr.Stats())
}

func TestAttachErrors(t *testing.T) {
	requireTracing(t)
	if _, err := Attach(context.Background(), 0x3fffffff, TraceOptions{}); err == nil || !strings.Contains(err.Error(), "no such process") {
		t.Errorf("Attach(no such pid) = %v", err)
	}
}

// TestPtraceNotPermitted runs itself again in a child process whose
// seccomp filter makes ptrace(2) fail with EPERM, as yama's ptrace_scope=3
// or a container's policy would, and checks that Trace and Attach say so
// with ErrPtraceNotPermitted and leave no process behind.
func TestPtraceNotPermitted(t *testing.T) {
	requireTracing(t)
	if os.Getenv("SOCKTRACE_TEST_NO_PTRACE") == "1" {
		ptraceDeniedChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestPtraceNotPermitted$", "-test.v")
	cmd.Env = append(os.Environ(), "SOCKTRACE_TEST_NO_PTRACE=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestPtraceNotPermitted") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

func ptraceDeniedChild(t *testing.T) {
	// ld nr; jeq SYS_PTRACE ? errno(EPERM) : allow — on every thread
	// (TSYNC), the tracer thread included.
	prog := []unix.SockFilter{
		{Code: bpfLdWAbs, K: seccompArc},
		{Code: bpfJeqK, Jt: 1, Jf: 0, K: traceArches[0].arch},
		{Code: bpfRetK, K: unix.SECCOMP_RET_ALLOW},
		{Code: bpfLdWAbs, K: seccompNr},
		{Code: bpfJeqK, Jt: 0, Jf: 1, K: unix.SYS_PTRACE},
		{Code: bpfRetK, K: unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)},
		{Code: bpfRetK, K: unix.SECCOMP_RET_ALLOW},
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		t.Fatal(err)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		t.Skipf("cannot install the test's seccomp filter: %v", errno)
	}

	_, err := Trace(context.Background(), []string{"true"}, TraceOptions{})
	if !errors.Is(err, ErrPtraceNotPermitted) {
		t.Errorf("Trace = %v, want ErrPtraceNotPermitted", err)
	}
	t.Logf("Trace: %v", err)
	sleeper := exec.Command("sleep", "100")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	_, err = Attach(context.Background(), sleeper.Process.Pid, TraceOptions{})
	if !errors.Is(err, ErrPtraceNotPermitted) {
		t.Errorf("Attach = %v, want ErrPtraceNotPermitted", err)
	}
	t.Logf("Attach: %v", err)
	sleeper.Process.Kill()
	sleeper.Wait()
	// The exec helper Trace started must be gone, reaped.
	tids, _ := listTasks(os.Getpid())
	for _, tid := range tids {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", os.Getpid(), tid))
		if s := strings.TrimSpace(string(b)); s != "" {
			t.Errorf("children left behind: %s", s)
		}
	}
}

// TestTraceStopContinue checks that a traced program stopped by SIGSTOP
// stays stopped (group-stop, as without a tracer) and goes on when
// continued: the tracer neither swallows the stop nor leaves it stuck.
func TestTraceStopContinue(t *testing.T) {
	requireTracing(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tr, err := Trace(context.Background(), []string{"sh", "-c", `echo $$; kill -STOP $$; echo resumed`}, TraceOptions{Stdout: w})
	w.Close()
	if errors.Is(err, ErrPtraceNotPermitted) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		t.Fatal("no pid")
	}
	pid, _ := strconv.Atoi(sc.Text())
	stopped := false
	for i := 0; i < 200 && !stopped; i++ {
		time.Sleep(10 * time.Millisecond)
		stopped = strings.HasPrefix(threadStates(t, pid)[pid], "t")
	}
	if !stopped {
		t.Fatalf("not stopped: %v", threadStates(t, pid))
	}
	syscall.Kill(pid, syscall.SIGCONT)
	if !sc.Scan() || sc.Text() != "resumed" {
		t.Fatalf("after SIGCONT: %q", sc.Text())
	}
	if code, err := tr.Wait(); code != 0 || err != nil {
		t.Fatalf("Wait = %d, %v", code, err)
	}
}

// TestTraceProcFallback traces the blocking program resolving sockets
// through /proc instead of pidfd_getfd, as in a container that refuses
// pidfd_getfd.
func TestTraceProcFallback(t *testing.T) {
	prog := testProgram(t, "blocking")
	testHookNoGetfd = true
	defer func() { testHookNoGetfd = false }()
	r := runTraced(t, context.Background(), []string{prog}, nil)
	if r.err != nil || r.code != 3 {
		t.Fatalf("Wait = %d, %v", r.code, r.err)
	}
	srv, cli := r.addr(t, "server"), r.addr(t, "client")
	r.one(t, "listen", func(e *Event) bool { return e.Call == Listen && e.Local == srv })
	r.one(t, "accept", func(e *Event) bool { return e.Call == Accept && e.Local == srv && e.Remote == cli })
	r.one(t, "connect", func(e *Event) bool { return e.Call == Connect && e.Local == cli && e.Remote == srv })
	r.one(t, "shutdown", func(e *Event) bool { return e.Call == Shutdown && e.Local == cli && e.Remote == srv })
	r.one(t, "server close", func(e *Event) bool { return e.Call == Close && e.Local == srv && e.Remote == cli })
}

func TestParseProcAddr(t *testing.T) {
	for in, want := range map[string]string{
		"0100007F:1F90":                         "127.0.0.1:8080",
		"00000000:0000":                         "0.0.0.0:0",
		"00000000000000000000000001000000:0050": "[::1]:80",
		"0000000000000000FFFF00000100007F:A2F8": "127.0.0.1:41720", // v4-mapped, unmapped
	} {
		got, ok := parseProcAddr(in)
		if !ok || got.String() != want {
			t.Errorf("parseProcAddr(%q) = %v, %v; want %s", in, got, ok, want)
		}
	}
}

func TestTraceFilter(t *testing.T) {
	prog, err := traceFilter()
	if err != nil {
		t.Fatal(err)
	}
	// Run the program on seccomp_data built by hand: a small classic BPF
	// interpreter for the instructions traceFilter uses.
	run := func(arch uint32, nr uint32, a0 uint64, rest ...uint64) uint32 {
		args := append([]uint64{a0}, rest...)
		for len(args) < 4 {
			args = append(args, 0)
		}
		var acc uint32
		for pc := 0; pc < len(prog); pc++ {
			in := prog[pc]
			switch in.Code {
			case bpfLdWAbs:
				switch in.K {
				case seccompNr:
					acc = nr
				case seccompArc:
					acc = arch
				case seccompA0:
					acc = uint32(args[0])
				case seccompA1:
					acc = uint32(args[1])
				case seccompA2:
					acc = uint32(args[2])
				case seccompA3:
					acc = uint32(args[3])
				default:
					t.Fatalf("load at %d", in.K)
				}
			case bpfJeqK:
				if acc == in.K {
					pc += int(in.Jt)
				} else {
					pc += int(in.Jf)
				}
			case bpfJsetK:
				if acc&in.K != 0 {
					pc += int(in.Jt)
				} else {
					pc += int(in.Jf)
				}
			case bpfAndK:
				acc &= in.K
			case bpfRetK:
				return in.K
			default:
				t.Fatalf("opcode %#x", in.Code)
			}
		}
		t.Fatal("fell off the end")
		return 0
	}
	for _, tab := range traceArches {
		for nr, kind := range tab.calls {
			if kind == callSocketcall {
				for sub := range socketcallKinds {
					if got := run(tab.arch, nr, uint64(sub)); got != unix.SECCOMP_RET_TRACE {
						t.Errorf("arch %#x socketcall(%d): %#x", tab.arch, sub, got)
					}
				}
				if got := run(tab.arch, nr, 9 /* SYS_SEND */); got != unix.SECCOMP_RET_ALLOW {
					t.Errorf("arch %#x socketcall(send): %#x", tab.arch, got)
				}
				continue
			}
			if got := run(tab.arch, nr, 0); got != unix.SECCOMP_RET_TRACE {
				t.Errorf("arch %#x nr %d: %#x, want trace", tab.arch, nr, got)
			}
			if tab.x32Bit != 0 {
				if got := run(tab.arch, nr|tab.x32Bit, 0); got != unix.SECCOMP_RET_TRACE {
					t.Errorf("arch %#x x32 nr %d: %#x, want trace", tab.arch, nr, got)
				}
			}
		}
		for _, nr := range []uint32{0, 1, 39, 44, 45, 1000} { // read, write, getpid, sendto, recvfrom
			if tab.calls[nr] != callNone {
				continue
			}
			if got := run(tab.arch, nr, 0); got != unix.SECCOMP_RET_ALLOW {
				t.Errorf("arch %#x nr %d: %#x, want allow", tab.arch, nr, got)
			}
		}
	}
	for _, tab := range traceArches {
		if tab.setsockopt == 0 {
			continue
		}
		if got := run(tab.arch, tab.setsockopt, 3, unix.SOL_SOCKET, unix.SO_LINGER); got != unix.SECCOMP_RET_TRACE {
			t.Errorf("arch %#x setsockopt(SO_LINGER): %#x, want trace", tab.arch, got)
		}
		if got := run(tab.arch, tab.setsockopt, 3, unix.IPPROTO_TCP, unix.TCP_NODELAY); got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("arch %#x setsockopt(TCP_NODELAY): %#x, want allow", tab.arch, got)
		}
		if got := run(tab.arch, tab.setsockopt, 3, unix.SOL_SOCKET, unix.SO_KEEPALIVE); got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("arch %#x setsockopt(SO_KEEPALIVE): %#x, want allow", tab.arch, got)
		}
	}
	// Sends stop only with MSG_FASTOPEN: sendto's flags are its fourth
	// argument, sendmsg's its third.
	for _, tab := range traceArches {
		if tab.sendto != 0 {
			if got := run(tab.arch, tab.sendto, 3, 0, 4, unix.MSG_FASTOPEN|unix.MSG_NOSIGNAL); got != unix.SECCOMP_RET_TRACE {
				t.Errorf("arch %#x sendto(MSG_FASTOPEN): %#x, want trace", tab.arch, got)
			}
			if got := run(tab.arch, tab.sendto, 3, 0, 4, unix.MSG_NOSIGNAL); got != unix.SECCOMP_RET_ALLOW {
				t.Errorf("arch %#x sendto: %#x, want allow", tab.arch, got)
			}
		}
		if tab.sendmsg != 0 {
			if got := run(tab.arch, tab.sendmsg, 3, 0, unix.MSG_FASTOPEN); got != unix.SECCOMP_RET_TRACE {
				t.Errorf("arch %#x sendmsg(MSG_FASTOPEN): %#x, want trace", tab.arch, got)
			}
			if got := run(tab.arch, tab.sendmsg, 3, 0, unix.MSG_DONTWAIT); got != unix.SECCOMP_RET_ALLOW {
				t.Errorf("arch %#x sendmsg: %#x, want allow", tab.arch, got)
			}
		}
	}
	if got := run(0x12345678, 0, 0); got != unix.SECCOMP_RET_TRACE {
		t.Errorf("unknown arch: %#x, want trace", got)
	}
}

// TestTraceExecFromThread: a non-leader thread execs; the tracer must
// follow the tid change and report the new program's exit code.
func TestTraceExecFromThread(t *testing.T) {
	prog := testProgram(t, "execthread")
	r := runTraced(t, context.Background(), []string{prog}, nil)
	if r.err != nil || r.code != 5 {
		t.Fatalf("Wait = %d, %v; want 5, nil", r.code, r.err)
	}
	if len(r.find(func(e *Event) bool { return e.Call == Connect })) == 0 {
		t.Errorf("no connect before the exec")
	}
}

// checkBlockingCausality checks the calls of the blocking program against
// the packets they caused, as decode will align them: connect enters
// before its SYN and returns after the handshake's ACK; accept returns
// after that ACK; shutdown and close enter before the FIN each causes.
func checkBlockingCausality(t *testing.T, r *traced, pkts []tcpPacket) {
	srv, cli := r.addr(t, "server"), r.addr(t, "client")
	connect := r.one(t, "connect", func(e *Event) bool { return e.Call == Connect })
	accept := r.one(t, "accept", func(e *Event) bool { return e.Call == Accept })
	shut := r.one(t, "shutdown", func(e *Event) bool { return e.Call == Shutdown })
	srvClose := r.one(t, "server close", func(e *Event) bool { return e.Call == Close && e.FD == accept.Result })

	syn := first(t, pkts, cli, tcpSYN, tcpACK, "SYN")
	synack := first(t, pkts, srv, tcpSYN|tcpACK, 0, "SYN-ACK")
	ack := first(t, pkts, cli, tcpACK, tcpSYN|tcpFIN, "ACK")
	cliFin := first(t, pkts, cli, tcpFIN, 0, "client FIN")
	srvFin := first(t, pkts, srv, tcpFIN, 0, "server FIN")
	t.Logf("SYN %v, SYN-ACK %v, ACK %v after connect entered", syn.t.Sub(connect.Enter), synack.t.Sub(connect.Enter), ack.t.Sub(connect.Enter))

	before(t, connect.Enter, "connect enter", syn.t, "SYN")
	before(t, ack.t, "handshake ACK", connect.Exit, "connect exit")
	before(t, ack.t, "handshake ACK", accept.Exit, "accept exit")
	before(t, shut.Enter, "shutdown(SHUT_WR) enter", cliFin.t, "client FIN")
	before(t, srvClose.Enter, "server close enter", srvFin.t, "server FIN")
}

func TestTraceNonBlockingRefused(t *testing.T) {
	prog := testProgram(t, "nonblocking")
	r := runTraced(t, context.Background(), []string{prog, "refused"}, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("Wait = %d, %v", r.code, r.err)
	}
	srv := r.addr(t, "server")
	connects := r.find(func(e *Event) bool { return e.Call == Connect && e.Remote == srv })
	if len(connects) == 1 && connects[0].Errno == syscall.ECONNREFUSED {
		return // refused within the call itself: nothing to complete
	}
	if len(connects) != 2 || connects[0].Errno != syscall.EINPROGRESS ||
		connects[1].Detail != "failed" || connects[1].Result != -1 {
		t.Fatalf("want EINPROGRESS then failed, got %+v", connects)
	}
}

// TestTraceConcurrent runs two tracers at once: each must see its own
// program's calls only, and reap only its own children.
func TestTraceConcurrent(t *testing.T) {
	requireTracing(t)
	progs := []string{testProgram(t, "blocking"), testProgram(t, "nonblocking")}
	want := []int{3, 0}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	var wg sync.WaitGroup
	for i, prog := range progs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pids := make(map[int]bool)
			tr, err := Trace(context.Background(), []string{prog}, TraceOptions{
				Stdout: devnull,
				Events: func(e Event) { pids[e.PID] = true },
			})
			if err != nil {
				t.Error(err)
				return
			}
			code, err := tr.Wait()
			if code != want[i] || err != nil {
				t.Errorf("%s: Wait = %d, %v; want %d", filepath.Base(prog), code, err, want[i])
			}
			if len(pids) != 1 {
				t.Errorf("%s: events from pids %v, want one process", filepath.Base(prog), pids)
			}
		}()
	}
	wg.Wait()
}

// TestTracePythonHTTPServer traces python3 -m http.server itself (a
// threading server: each request is handled on a new thread), makes a
// request, and stops it by cancelling: the server is killed and reaped.
func TestTracePythonHTTPServer(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	requireTracing(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var mu sync.Mutex
	var events []Event
	tr, err := Trace(ctx, []string{py, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", t.TempDir()},
		TraceOptions{Stdout: w, Stderr: w, Events: func(e Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		}})
	w.Close()
	if errors.Is(err, ErrPtraceNotPermitted) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(r)
	var srv netip.AddrPort
	for sc.Scan() {
		// "Serving HTTP on 127.0.0.1 port 43567 (http://127.0.0.1:43567/) ..."
		if f := strings.Fields(sc.Text()); len(f) >= 6 && f[0] == "Serving" {
			port, _ := strconv.Atoi(f[5])
			srv = netip.AddrPortFrom(netip.MustParseAddr(f[3]), uint16(port))
			break
		}
	}
	if !srv.IsValid() {
		t.Fatal("http.server did not say where it serves")
	}
	go io.Copy(io.Discard, r) // its request log

	c, err := net.Dial("tcp4", srv.String())
	if err != nil {
		t.Fatal(err)
	}
	cli := netip.MustParseAddrPort(c.LocalAddr().String())
	fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
	resp, _ := io.ReadAll(c)
	c.Close()
	if !strings.HasPrefix(string(resp), "HTTP/1.0 200") {
		t.Fatalf("response %.40q", resp)
	}
	// The handler thread closes the connection after answering; wait
	// for that close before stopping the server.
	var accept, closed Event
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && closed.Call == "" {
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		for _, e := range events {
			if e.Call == Accept && e.Remote == cli {
				accept = e
			}
			if e.Call == Close && e.Remote == cli {
				closed = e
			}
		}
		mu.Unlock()
	}
	cancel()
	code, err := tr.Wait()
	if !errors.Is(err, context.Canceled) || code != 128+9 {
		t.Errorf("Wait = %d, %v; want 137, context.Canceled", code, err)
	}
	if accept.Call == "" || closed.Call == "" {
		t.Fatalf("accept %+v / close %+v of %v not seen", accept, closed, cli)
	}
	if accept.Local != srv || accept.Comm != "python3" || closed.Side != Server {
		t.Errorf("accept %+v, close %+v", accept, closed)
	}
	if accept.TID == closed.TID {
		t.Logf("accept and close on the same thread %d (expected the handler thread to close)", accept.TID)
	}
	if alive(accept.PID) {
		t.Errorf("python3 (pid %d) still alive after cancel", accept.PID)
	}
	mu.Lock()
	for _, e := range events {
		t.Logf("%-8s fd=%-3d %-22s %-22s res=%-4d errno=%v side=%s tid=%d %s", e.Call, e.FD, e.Local, e.Remote, e.Result, e.Errno, e.Side, e.TID, e.Detail)
	}
	mu.Unlock()
}

// TestTraceI386 traces the blocking program built for 386: its socket
// calls go through int 0x80 with i386 numbers, and Go's 386 port makes
// them through the socketcall multiplexer. A 32-bit program must not slip
// past the filter, and its calls must decode the same.
func TestTraceI386(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("i386 compat is an amd64 matter")
	}
	requireTracing(t)
	prog := testProgramArch(t, "blocking", "386")
	if out, err := exec.Command(prog).CombinedOutput(); err != nil && !strings.Contains(string(out), "server") {
		t.Skipf("this kernel does not run 386 binaries: %v", err)
	}
	r := runTraced(t, context.Background(), []string{prog}, nil)
	if r.err != nil || r.code != 3 {
		t.Fatalf("Wait = %d, %v", r.code, r.err)
	}
	srv, cli := r.addr(t, "server"), r.addr(t, "client")
	r.one(t, "bind", func(e *Event) bool { return e.Call == Bind && e.Detail == "bound to "+srv.String() })
	r.one(t, "listen", func(e *Event) bool { return e.Call == Listen && e.Local == srv })
	r.one(t, "connect", func(e *Event) bool { return e.Call == Connect && e.Local == cli && e.Remote == srv })
	r.one(t, "accept", func(e *Event) bool { return e.Call == Accept && e.Local == srv && e.Remote == cli })
	r.one(t, "shutdown", func(e *Event) bool { return e.Call == Shutdown && e.Detail == "SHUT_WR" })
	if n := len(r.find(func(e *Event) bool { return e.Call == Close })); n != 3 {
		t.Errorf("%d close events, want 3", n)
	}
	if n := len(r.find(func(e *Event) bool { return e.Call == Socket })); n != 2 {
		t.Errorf("%d socket events, want 2", n)
	}
}

// TestTraceWithoutFilter: when the helper cannot install the seccomp
// filter, the tracer stops at every syscall instead and reports the same
// calls.
func TestTraceWithoutFilter(t *testing.T) {
	requireTracing(t)
	prog := testProgram(t, "blocking")
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	var mu sync.Mutex
	var events []Event
	tr, err := Trace(context.Background(), []string{prog}, TraceOptions{
		Env:    append(os.Environ(), helperNoFilterEnv+"=1"),
		Stdout: devnull,
		Events: func(e Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	code, err := tr.Wait()
	if code != 3 || err != nil {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	st := tr.Stats()
	if st.SeccompStops != 0 || st.SyscallStops < 100 {
		t.Errorf("stats %+v: want syscall stops only, many", st)
	}
	count := make(map[Call]int)
	for _, e := range events {
		count[e.Call]++
	}
	want := map[Call]int{Socket: 2, Bind: 1, Listen: 1, Connect: 1, Accept: 1, Shutdown: 1, Close: 3}
	for c, n := range want {
		if count[c] != n {
			t.Errorf("%d %s events, want %d (all: %v)", count[c], c, n, count)
		}
	}
}

// TestTraceLingerAbort: setsockopt(SO_LINGER 0) is reported (and no
// other option), and the close after it comes before the RST it causes.
func TestTraceLingerAbort(t *testing.T) {
	prog := testProgram(t, "abort")
	requireTracing(t)
	stopCapture := captureLoopback(t)
	r := runTraced(t, context.Background(), []string{prog}, nil)
	pkts := stopCapture()
	if r.err != nil || r.code != 0 {
		t.Fatalf("Wait = %d, %v", r.code, r.err)
	}
	srv, cli := r.addr(t, "server"), r.addr(t, "client")
	opt := r.one(t, "setsockopt", func(e *Event) bool { return e.Call == SetSockOpt })
	if opt.Detail != "SO_LINGER 0" || opt.Local != cli || opt.Remote != srv || opt.Side != Client || opt.Errno != 0 {
		t.Errorf("setsockopt: %+v", opt)
	}
	cl := r.one(t, "client close", func(e *Event) bool { return e.Call == Close && e.Local == cli })
	before(t, opt.Exit, "setsockopt exit", cl.Enter, "close enter")
	rst := first(t, conversation(pkts, srv, cli), cli, tcpRST, 0, "RST")
	before(t, cl.Enter, "close enter", rst.t, "RST")
}

// TestAttachUntilExit: an attached process that exits ends the trace with
// its exit code. (It is not a child of the test: a tracer in the parent's
// own process reaps its tracee, see Attach.)
func TestAttachUntilExit(t *testing.T) {
	requireTracing(t)
	out, err := exec.Command("sh", "-c", "(sleep 0.5; exit 7) >/dev/null 2>&1 & echo $!").Output()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Attach(context.Background(), pid, TraceOptions{})
	if errors.Is(err, ErrPtraceNotPermitted) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	code, err := tr.Wait()
	if code != 7 || err != nil {
		t.Errorf("Wait = %d, %v; want 7, nil", code, err)
	}
}

// TestTraceFastOpen: the ptrace tracer stops on a send only with
// MSG_FASTOPEN (the seccomp filter tests the flag), and makes it the
// connect it is, as the eBPF recorder does (TestRecordDataCallFlags):
// sendto's address from its arguments, sendmsg's from its msghdr.
func TestTraceFastOpen(t *testing.T) {
	prog := testProgram(t, "sockops")
	ns := fastOpenNetns(t)
	r := runTraced(t, context.Background(), []string{"ip", "netns", "exec", ns, prog, "fastopen"}, nil)
	if r.err != nil || r.code != 0 {
		t.Fatalf("Wait = %d, %v", r.code, r.err)
	}
	checkFastOpen(t, r.events)
}
