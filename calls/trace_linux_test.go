//go:build linux && (amd64 || arm64)

package calls

import (
	"bufio"
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The tests trace real programs: Go programs from testdata/ built into a
// temporary directory, and python3 when it is installed. They need root
// (or CAP_SYS_PTRACE) and a kernel that lets us ptrace; they skip, saying
// why, otherwise.

// testProgram builds testdata/name into a temporary directory and returns
// the binary's path.
func testProgram(t testing.TB, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/"+name).CombinedOutput()
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
	r := runTraced(t, context.Background(), []string{prog}, nil)
	if r.err != nil || r.code != 3 {
		t.Fatalf("Wait = %d, %v; want 3, nil (the program's own exit code)", r.code, r.err)
	}
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
