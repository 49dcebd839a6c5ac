package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/internal/freeport"
)

func TestMain(m *testing.M) {
	// The first use of package net opens the runtime's poller fds for
	// good; do it now so that the fd counts the tests compare are not
	// thrown off by it.
	if ln, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
	}
	os.Exit(m.Run())
}

// openSockets lists this process's open socket descriptors ("fd
// socket:[inode]"). The demo opens nothing but sockets, so a socket is
// what can leak; other descriptors (the runtime's, the test framework's)
// come and go on their own and are not counted.
func openSockets(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("listing open fds: %v", err)
	}
	var socks []string
	for _, e := range ents {
		link, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(link, "socket:") {
			socks = append(socks, e.Name()+" "+link)
		}
	}
	return socks
}

// checkNoLeak fails the test if it ends with more sockets open than now,
// and names them.
func checkNoLeak(t *testing.T) {
	t.Helper()
	before := openSockets(t)
	t.Cleanup(func() {
		if after := openSockets(t); len(after) != len(before) {
			t.Errorf("%d sockets open before the run, %d after: a socket leaked (before %q, after %q)", len(before), len(after), before, after)
		}
	})
}

// record runs a scenario and returns its events in order of entry.
func record(t *testing.T, name string, opts Options) ([]calls.Event, error) {
	t.Helper()
	var mu sync.Mutex
	var evs []calls.Event
	opts.Calls = func(ev calls.Event) {
		mu.Lock()
		evs = append(evs, ev)
		mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := Run(ctx, name, opts)
	mu.Lock()
	defer mu.Unlock()
	sortByEnter(evs)
	return evs, err
}

func sortByEnter(evs []calls.Event) {
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].Enter.Before(evs[j-1].Enter); j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
}

// find returns the events of side and call, in order of entry.
func find(evs []calls.Event, side calls.Side, call calls.Call) []calls.Event {
	var out []calls.Event
	for _, ev := range evs {
		if ev.Side == side && ev.Call == call {
			out = append(out, ev)
		}
	}
	return out
}

// one returns the only event of side and call, failing otherwise.
func one(t *testing.T, evs []calls.Event, side calls.Side, call calls.Call) calls.Event {
	t.Helper()
	got := find(evs, side, call)
	if len(got) != 1 {
		t.Fatalf("want one %s %s, got %d:\n%s", side, call, len(got), dump(evs))
	}
	return got[0]
}

// closeOf returns side's close of fd.
func closeOf(t *testing.T, evs []calls.Event, side calls.Side, fd int) calls.Event {
	t.Helper()
	for _, ev := range find(evs, side, calls.Close) {
		if ev.FD == fd {
			return ev
		}
	}
	t.Fatalf("no %s close of fd %d:\n%s", side, fd, dump(evs))
	return calls.Event{}
}

func dump(evs []calls.Event) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s %-6s %-10s fd=%d %v->%v =%d errno=%v %q\n",
			ev.Enter.Format("05.000000"), ev.Side, ev.Call, ev.FD, ev.Local, ev.Remote, ev.Result, ev.Errno, ev.Detail)
	}
	return b.String()
}

// checkCommon checks what holds for every scenario: who made the calls,
// sane times, every socket closed, and the client connecting only after
// the server's listen returned.
func checkCommon(t *testing.T, name string, evs []calls.Event) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events")
	}
	pid := os.Getpid()
	open := map[int]bool{}
	for _, ev := range evs {
		if ev.Scenario != name || ev.PID != pid || ev.TID == 0 || ev.Comm == "" || ev.Inferred {
			t.Errorf("bad identity on %s %s: scenario %q pid %d tid %d comm %q inferred %v",
				ev.Side, ev.Call, ev.Scenario, ev.PID, ev.TID, ev.Comm, ev.Inferred)
		}
		if ev.Side != calls.Client && ev.Side != calls.Server {
			t.Errorf("%s: side %q", ev.Call, ev.Side)
		}
		if ev.Enter.IsZero() || ev.Exit.Before(ev.Enter) {
			t.Errorf("%s %s: enter %v exit %v", ev.Side, ev.Call, ev.Enter, ev.Exit)
		}
		if ev.Errno != 0 && ev.Result != -1 {
			t.Errorf("%s %s: errno %v with result %d", ev.Side, ev.Call, ev.Errno, ev.Result)
		}
		switch ev.Call {
		case calls.Socket, calls.Accept:
			if ev.Errno == 0 {
				open[ev.Result] = true
			}
		case calls.Close:
			if !open[ev.FD] {
				t.Errorf("%s closed fd %d, which it never opened", ev.Side, ev.FD)
			}
			delete(open, ev.FD)
		}
	}
	if len(open) > 0 {
		t.Errorf("fds never closed: %v\n%s", open, dump(evs))
	}
	listens := find(evs, calls.Server, calls.Listen)
	connects := find(evs, calls.Client, calls.Connect)
	if len(listens) == 1 && len(connects) > 0 && connects[0].Enter.Before(listens[0].Exit) {
		t.Errorf("the client connected at %v, before listen returned at %v", connects[0].Enter, listens[0].Exit)
	}
}

func TestScenarios(t *testing.T) {
	tests := []struct {
		name  string
		check func(t *testing.T, evs []calls.Event)
	}{
		{"handshake", func(t *testing.T, evs []calls.Event) {
			conn := one(t, evs, calls.Client, calls.Connect)
			acc := one(t, evs, calls.Server, calls.Accept)
			if conn.Errno != 0 || acc.Errno != 0 {
				t.Fatalf("connect errno %v, accept errno %v", conn.Errno, acc.Errno)
			}
			if conn.Local != acc.Remote || conn.Remote != acc.Local {
				t.Errorf("4-tuples differ: connect %v->%v, accept %v<-%v", conn.Local, conn.Remote, acc.Local, acc.Remote)
			}
			cc := closeOf(t, evs, calls.Client, conn.FD)
			sc := closeOf(t, evs, calls.Server, acc.Result)
			if !cc.Exit.Before(sc.Enter) {
				t.Errorf("the client must close first: client close %v, server close %v", cc.Enter, sc.Enter)
			}
			if got := len(find(evs, calls.Client, calls.Write)) + len(find(evs, calls.Server, calls.Write)); got != 2 {
				t.Errorf("want one request and one reply, got %d writes", got)
			}
		}},
		{"refused", func(t *testing.T, evs []calls.Event) {
			conn := one(t, evs, calls.Client, calls.Connect)
			if conn.Errno != unix.ECONNREFUSED || conn.Result != -1 {
				t.Errorf("connect returned %d, errno %v; want ECONNREFUSED", conn.Result, conn.Errno)
			}
			if len(find(evs, calls.Server, calls.Listen)) != 0 {
				t.Error("the server called listen")
			}
			bind := one(t, evs, calls.Server, calls.Bind)
			if conn.Remote != bind.Local {
				t.Errorf("connected to %v, but the port bound is %v", conn.Remote, bind.Local)
			}
			if conn.Local.Port() == 0 || !conn.Local.Addr().IsLoopback() {
				t.Errorf("connect's local address %v: want the loopback address and the SYN's port", conn.Local)
			}
		}},
		{"abort", func(t *testing.T, evs []calls.Event) {
			conn := one(t, evs, calls.Client, calls.Connect)
			opt := one(t, evs, calls.Client, calls.SetSockOpt)
			cc := closeOf(t, evs, calls.Client, conn.FD)
			if opt.Detail != "SO_LINGER 0" || opt.FD != conn.FD || opt.Errno != 0 {
				t.Errorf("want SO_LINGER 0 on fd %d, got %q on fd %d errno %v", conn.FD, opt.Detail, opt.FD, opt.Errno)
			}
			if !opt.Exit.Before(cc.Enter) {
				t.Error("SO_LINGER was not set before close")
			}
			reads := find(evs, calls.Server, calls.Read)
			if last := reads[len(reads)-1]; last.Errno != unix.ECONNRESET {
				t.Errorf("the server's last read: errno %v, want ECONNRESET", last.Errno)
			}
		}},
		{"half-close", func(t *testing.T, evs []calls.Event) {
			sh := one(t, evs, calls.Client, calls.Shutdown)
			if sh.Detail != "SHUT_WR" || sh.Errno != 0 {
				t.Errorf("shutdown %q errno %v, want SHUT_WR", sh.Detail, sh.Errno)
			}
			w := one(t, evs, calls.Server, calls.Write)
			if !sh.Exit.Before(w.Enter) {
				t.Error("the server's reply must come after the client's shutdown")
			}
			var sawEOF bool
			for _, r := range find(evs, calls.Server, calls.Read) {
				if r.Result == 0 && r.Exit.Before(w.Enter) {
					sawEOF = true
				}
			}
			if !sawEOF {
				t.Error("the server did not read EOF before it replied")
			}
			if cr := find(evs, calls.Client, calls.Read); cr[len(cr)-1].Result != 0 {
				t.Error("the client's last read is not EOF")
			}
		}},
		{"server-closes-first", func(t *testing.T, evs []calls.Event) {
			conn := one(t, evs, calls.Client, calls.Connect)
			acc := one(t, evs, calls.Server, calls.Accept)
			cc := closeOf(t, evs, calls.Client, conn.FD)
			sc := closeOf(t, evs, calls.Server, acc.Result)
			if !sc.Exit.Before(cc.Enter) {
				t.Error("the server must close first")
			}
		}},
		{"unread-data-close", func(t *testing.T, evs []calls.Event) {
			acc := one(t, evs, calls.Server, calls.Accept)
			if len(find(evs, calls.Server, calls.Read)) != 0 {
				t.Error("the server read; it must close with the data unread")
			}
			w := one(t, evs, calls.Client, calls.Write)
			sc := closeOf(t, evs, calls.Server, acc.Result)
			if !w.Exit.Before(sc.Enter) {
				t.Error("the server closed before the client's request was written")
			}
			if r := one(t, evs, calls.Client, calls.Read); r.Errno != unix.ECONNRESET {
				t.Errorf("the client's read: errno %v, want ECONNRESET", r.Errno)
			}
		}},
		{"late-accept", func(t *testing.T, evs []calls.Event) {
			conn := one(t, evs, calls.Client, calls.Connect)
			acc := one(t, evs, calls.Server, calls.Accept)
			if d := acc.Enter.Sub(conn.Exit); d < 150*time.Millisecond {
				t.Errorf("accept entered %v after connect returned, want >= 150ms", d)
			}
			// Generous, for a loaded machine: what matters is that
			// accept did not wait the way it would for a handshake.
			if d := acc.Duration(); d > 100*time.Millisecond {
				t.Errorf("accept blocked %v; the connection was already queued", d)
			}
		}},
		{"self-connect", func(t *testing.T, evs []calls.Event) {
			conn := one(t, evs, calls.Client, calls.Connect)
			if conn.Errno != 0 {
				t.Fatalf("connect: %v", conn.Errno)
			}
			if !conn.Local.IsValid() || conn.Local != conn.Remote {
				t.Errorf("connect: local %v, remote %v; want the same", conn.Local, conn.Remote)
			}
			if len(find(evs, calls.Server, calls.Listen)) != 0 {
				t.Error("self-connect has no listener")
			}
		}},
		{"shared-port", func(t *testing.T, evs []calls.Event) {
			listen := one(t, evs, calls.Server, calls.Listen)
			accs := find(evs, calls.Server, calls.Accept)
			if len(accs) != 3 {
				t.Fatalf("want 3 accepts, got %d", len(accs))
			}
			remotes := map[netip.AddrPort]bool{}
			fds := map[int]bool{}
			for _, a := range accs {
				if a.Errno != 0 || a.FD != listen.FD {
					t.Errorf("accept on fd %d errno %v; want fd %d", a.FD, a.Errno, listen.FD)
				}
				if a.Local != listen.Local {
					t.Errorf("accepted socket's local %v, want the listening %v", a.Local, listen.Local)
				}
				remotes[a.Remote] = true
				fds[a.Result] = true
			}
			if len(remotes) != 3 || len(fds) != 3 {
				t.Errorf("want 3 distinct remotes and fds, got %v and %v", remotes, fds)
			}
		}},
		{"port-in-use", checkPortInUse},
		{"reuseport", checkReusePort},
		{"backlog-full", checkBacklogFull},
		{"send-buffer", checkSendBuffer},
		{"udp", checkUDP},
	}
	if len(tests) != len(Scenarios()) {
		t.Fatalf("%d scenarios, %d tested", len(Scenarios()), len(tests))
	}
	for _, ipv6 := range []bool{false, true} {
		for _, tt := range tests {
			fam := "ipv4"
			if ipv6 {
				fam = "ipv6"
			}
			t.Run(fam+"/"+tt.name, func(t *testing.T) {
				if ipv6 && !haveIPv6Loopback() {
					t.Skip("no ::1 on this machine")
				}
				checkNoLeak(t)
				evs, err := record(t, tt.name, Options{IPv6: ipv6})
				if err != nil {
					t.Fatalf("Run: %v\n%s", err, dump(evs))
				}
				checkCommon(t, tt.name, evs)
				loop := "127.0.0.1"
				if ipv6 {
					loop = "::1"
				}
				for _, ev := range evs {
					if ev.Local.IsValid() && ev.Local.Addr().String() != loop {
						t.Errorf("%s %s: local %v, want %s", ev.Side, ev.Call, ev.Local, loop)
					}
				}
				tt.check(t, evs)
				if t.Failed() {
					t.Logf("events:\n%s", dump(evs))
				}
			})
		}
	}
}

func haveIPv6Loopback() bool {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.Bind(fd, &unix.SockaddrInet6{Addr: netip.IPv6Loopback().As16()}) == nil
}

func TestLookup(t *testing.T) {
	for _, s := range Scenarios() {
		got, ok := Lookup(s.Name)
		if !ok || got.Name != s.Name || got.Summary == "" || got.SummaryKo == "" || (got.Connections < 1 && !got.Datagrams) {
			t.Errorf("Lookup(%q) = %+v, %v", s.Name, got, ok)
		}
	}
	if Scenarios()[0].Name != "handshake" {
		t.Errorf("the first scenario is %q, want the default, handshake", Scenarios()[0].Name)
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup found an unknown scenario")
	}
	err := Run(context.Background(), "nope", Options{})
	if err == nil || !strings.Contains(err.Error(), "half-close") {
		t.Errorf("Run of an unknown scenario: %v; want an error listing the known ones", err)
	}
}

// TestCancel cancels runs at different moments, most while a call is
// blocked (accept, read, or the pause of late-accept), and checks that Run
// returns promptly, says it was cancelled and leaves nothing open.
func TestCancel(t *testing.T) {
	for _, name := range []string{"handshake", "late-accept", "half-close", "shared-port", "refused", "port-in-use", "reuseport", "backlog-full", "send-buffer"} {
		for _, after := range []time.Duration{0, 100 * time.Microsecond, 300 * time.Microsecond, 600 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 10 * time.Millisecond, 45 * time.Millisecond, 100 * time.Millisecond} {
			t.Run(fmt.Sprintf("%s/%v", name, after), func(t *testing.T) {
				checkNoLeak(t)
				ctx, cancel := context.WithCancel(context.Background())
				var cancelled atomic.Int64
				timer := time.AfterFunc(after, func() {
					cancelled.Store(time.Now().UnixNano())
					cancel()
				})
				defer timer.Stop()
				err := Run(ctx, name, Options{})
				returned := time.Now()
				cancel()
				at := cancelled.Load()
				if at == 0 {
					// It finished before the cancel fired: fine.
					if err != nil {
						t.Fatalf("Run: %v", err)
					}
					return
				}
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Errorf("Run: %v; want an error wrapping context.Canceled", err)
				}
				// Generous, for a loaded machine; TestWake checks
				// that blocked calls are really woken.
				if d := returned.Sub(time.Unix(0, at)); d > time.Second {
					t.Errorf("Run returned %v after the cancel", d)
				}
			})
		}
	}
}

// listeners counts the sockets listening on port in /proc/net/tcp and
// /proc/net/tcp6.
func listeners(t *testing.T, port int) int {
	t.Helper()
	n := 0
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 4 || fields[3] != "0A" { // 0A: TCP_LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && int(p) == port {
				n++
			}
		}
		f.Close()
	}
	return n
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	for _, name := range []string{"handshake", "refused", "self-connect", "shared-port"} {
		t.Run(name, func(t *testing.T) {
			checkNoLeak(t)
			start := time.Now()
			err := Run(context.Background(), name, Options{Port: port})
			var inUse *PortInUseError
			if !errors.As(err, &inUse) || !errors.Is(err, unix.EADDRINUSE) {
				t.Fatalf("Run: %v; want a *PortInUseError wrapping EADDRINUSE", err)
			}
			want := fmt.Sprintf("port %d is already in use on 127.0.0.1; choose another with --port or omit it", port)
			if err.Error() != want {
				t.Errorf("message %q\nwant    %q", err, want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v to fail", d)
			}
			if n := listeners(t, port); n != 1 {
				t.Errorf("%d sockets listen on port %d after the run, want 1 (the other program's)", n, port)
			}
		})
	}
}

// TestSecondRunSamePort starts a second run on the port a first run is
// listening on: the second fails with the clear message, the first is not
// disturbed.
func TestSecondRunSamePort(t *testing.T) {
	checkNoLeak(t)
	// Below the ephemeral range: see internal/freeport.
	port, err := freeport.Below("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}

	listening := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		var once sync.Once
		first <- Run(context.Background(), "late-accept", Options{Port: port, Calls: func(ev calls.Event) {
			if ev.Call == calls.Listen {
				once.Do(func() { close(listening) })
			}
		}})
	}()
	<-listening
	err = Run(context.Background(), "handshake", Options{Port: port})
	want := fmt.Sprintf("port %d is already in use on 127.0.0.1; choose another with --port or omit it", port)
	if err == nil || err.Error() != want {
		t.Errorf("second run: %v\nwant: %s", err, want)
	}
	if err := <-first; err != nil {
		t.Errorf("first run: %v", err)
	}
}

// stuck is a scenario that never ends on its own: the server waits in
// accept() for a client that never comes, and the client waits in read()
// on a connection to a second listener that never accepts nor writes.
// Only the watchdog can end it.
func stuck(r *runner) error {
	ready := make(chan netip.AddrPort, 1)
	return r.together(
		server(func(a *actor) error {
			ls, err := a.listenOn(r.serverAddr())
			if err != nil {
				return err
			}
			other, err := a.listenOn(r.serverAddr())
			if err != nil {
				return err
			}
			ready <- other.local
			_, err = a.accept(ls)
			return err
		}),
		client(func(a *actor) error {
			addr, err := await(a, ready)
			if err != nil {
				return err
			}
			c, err := a.dial(addr)
			if err != nil {
				return err
			}
			return a.receive(c, reply)
		}),
	)
}

// runStuck runs stuck the way Run runs a scenario, and returns its
// events and error.
func runStuck(ctx context.Context) ([]calls.Event, error) {
	var mu sync.Mutex
	var evs []calls.Event
	r := newRunner(ctx, "stuck", Options{Calls: func(ev calls.Event) {
		mu.Lock()
		evs = append(evs, ev)
		mu.Unlock()
	}})
	err := r.run(stuck)
	mu.Lock()
	defer mu.Unlock()
	return evs, err
}

// TestWake checks that cancelling wakes calls blocked in accept() and
// read() that nothing else would ever wake, closes every socket, and
// reports the shutdowns that did it.
func TestWake(t *testing.T) {
	checkNoLeak(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	done := make(chan struct{})
	var err error
	var evs []calls.Event
	go func() {
		evs, err = runStuck(ctx)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a cancelled run is still blocked after 5 s")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("run: %v; want context.Canceled", err)
	}
	sortByEnter(evs)
	var wakes int
	for _, ev := range evs {
		if ev.Call == calls.Shutdown && strings.Contains(ev.Detail, "stopping the run") {
			wakes++
		}
	}
	// Three sockets are open when the run stops: the two listeners and
	// the client's. The connection the kernel completed on the second
	// listener was never accepted, so it is no fd of ours.
	if wakes != 3 {
		t.Errorf("%d wake-up shutdowns, want 3:\n%s", wakes, dump(evs))
	}
	checkCommon(t, "stuck", evs)
}

// TestRunTimeout shortens the bound on a run and checks that a run that
// would never end is stopped with a clear error.
func TestRunTimeout(t *testing.T) {
	checkNoLeak(t)
	defer func(d time.Duration) { runTimeout = d }(runTimeout)
	runTimeout = 50 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := runStuck(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not finish within 50ms") {
			t.Errorf("run: %v; want a timeout error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run is still blocked 5 s after its 50 ms timeout")
	}
}

// TestFixedPortRerun runs scenarios twice on one fixed port, as a user
// does with --port: the first run leaves connections in TIME_WAIT on it
// (server-closes-first leaves the server's), which must not stop the
// second.
func TestFixedPortRerun(t *testing.T) {
	// Below the ephemeral range: see internal/freeport.
	port, err := freeport.Below("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"server-closes-first", "server-closes-first", "handshake", "refused"} {
		checkNoLeak(t)
		evs, err := record(t, name, Options{Port: port})
		if err != nil {
			t.Fatalf("%s on port %d: %v", name, port, err)
		}
		if b := one(t, evs, calls.Server, calls.Bind); int(b.Local.Port()) != port {
			t.Errorf("%s bound %v, want port %d", name, b.Local, port)
		}
	}
	if n := listeners(t, port); n != 0 {
		t.Errorf("%d sockets still listen on port %d", n, port)
	}
}

// TestCallsSerialized checks the promise made in Options.Calls: never two
// calls at once.
func TestCallsSerialized(t *testing.T) {
	var inside atomic.Int32
	var overlaps, n atomic.Int32
	opts := Options{Calls: func(calls.Event) {
		if inside.Add(1) > 1 {
			overlaps.Add(1)
		}
		n.Add(1)
		time.Sleep(50 * time.Microsecond) // widen the window for a race
		inside.Add(-1)
	}}
	if err := Run(context.Background(), "shared-port", opts); err != nil {
		t.Fatal(err)
	}
	if overlaps.Load() != 0 {
		t.Errorf("Calls ran concurrently %d times out of %d", overlaps.Load(), n.Load())
	}
}

func TestBadPort(t *testing.T) {
	for _, p := range []int{-1, 65536} {
		if err := Run(context.Background(), "handshake", Options{Port: p}); err == nil {
			t.Errorf("Run with port %d succeeded", p)
		}
	}
}

// TestFixedPortAllTwice runs every scenario, in the order --scenario all
// runs them, twice in a row on one fixed port, over IPv4 and IPv6: each
// run leaves connections in TIME_WAIT on the port, and every scenario
// that binds it must still succeed (issue 13, item 4: self-connect bound
// without SO_REUSEADDR and failed with EADDRINUSE).
func TestFixedPortAllTwice(t *testing.T) {
	for _, ipv6 := range []bool{false, true} {
		host, fam := "127.0.0.1", "ipv4"
		if ipv6 {
			host, fam = "::1", "ipv6"
		}
		t.Run(fam, func(t *testing.T) {
			if ipv6 && !haveIPv6Loopback() {
				t.Skip("no ::1 on this machine")
			}
			// Below the ephemeral range: see internal/freeport.
			port, err := freeport.Below(host)
			if err != nil {
				t.Fatal(err)
			}
			for round := 1; round <= 2; round++ {
				for _, name := range Names() {
					checkNoLeak(t)
					evs, err := record(t, name, Options{Port: port, IPv6: ipv6})
					if err != nil {
						t.Fatalf("round %d, %s on port %d: %v\n%s", round, name, port, err, dump(evs))
					}
					binds := 0
					for _, b := range find(evs, calls.Server, calls.Bind) {
						if int(b.Local.Port()) == port && b.Errno == 0 {
							binds++
						}
					}
					for _, b := range find(evs, calls.Client, calls.Bind) {
						if int(b.Local.Port()) == port && b.Errno == 0 {
							binds++
						}
					}
					if binds == 0 {
						t.Errorf("round %d, %s: no successful bind to port %d:\n%s", round, name, port, dump(evs))
					}
				}
			}
			if n := listeners(t, port); n != 0 {
				t.Errorf("%d sockets still listen on port %d", n, port)
			}
		})
	}
}

// TestOneHostRefusesLink: a scenario that runs on one host is refused,
// before it makes any socket, when asked to run across a slow link.
func TestOneHostRefusesLink(t *testing.T) {
	for _, sc := range Scenarios() {
		if !sc.OneHost {
			continue
		}
		checkNoLeak(t)
		err := Run(context.Background(), sc.Name, Options{ClientNS: "client", ServerNS: "server"})
		if err == nil || !strings.Contains(err.Error(), "cannot run across a slow link") {
			t.Errorf("%s across a link: %v; want a refusal", sc.Name, err)
		}
	}
	if sc, _ := Lookup("self-connect"); !sc.OneHost {
		t.Error("self-connect is not marked OneHost")
	}
}
