package demo

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
)

// checkPortInUse: the second bind fails while the first socket listens,
// the bind after the close fails without SO_REUSEADDR (TIME_WAIT holds the
// port) and succeeds with it; the server's FIN comes first.
func checkPortInUse(t *testing.T, evs []calls.Event) {
	listen := one(t, evs, calls.Server, calls.Listen)
	binds := find(evs, calls.Server, calls.Bind)
	if len(binds) != 4 {
		t.Fatalf("want 4 binds (listener, second server, without and with SO_REUSEADDR), got %d:\n%s", len(binds), dump(evs))
	}
	for i, want := range []unix.Errno{0, unix.EADDRINUSE, unix.EADDRINUSE, 0} {
		if binds[i].Errno != want || binds[i].Local != listen.Local {
			t.Errorf("bind %d: %v errno %v, want %v errno %v", i+1, binds[i].Local, binds[i].Errno, listen.Local, want)
		}
	}
	if binds[1].Enter.Before(listen.Exit) {
		t.Errorf("the second bind ran before listen returned")
	}
	lclose := closeOf(t, evs, calls.Server, listen.FD)
	if !binds[1].Exit.Before(lclose.Enter) || !binds[2].Enter.After(lclose.Exit) {
		t.Errorf("want the second bind while listening, the third after the listener's close")
	}
	// Only the last socket sets SO_REUSEADDR after the listener's.
	var reuse []calls.Event
	for _, ev := range find(evs, calls.Server, calls.SetSockOpt) {
		if ev.Detail == "SO_REUSEADDR" {
			reuse = append(reuse, ev)
		}
	}
	if len(reuse) != 2 || reuse[1].FD != binds[3].FD || !reuse[1].Exit.Before(binds[3].Enter) {
		t.Errorf("want SO_REUSEADDR on the listener and on the last bind's socket, got %d:\n%s", len(reuse), dump(evs))
	}
	sd := one(t, evs, calls.Server, calls.Shutdown)
	cc := one(t, evs, calls.Client, calls.Close)
	if sd.Detail != "SHUT_WR" || !sd.Exit.Before(cc.Enter) {
		t.Errorf("the server must shut down writing before the client closes: %v, %v", sd.Enter, cc.Enter)
	}
}

// checkReusePort: two listeners on one address, each with SO_REUSEPORT;
// every client accepted exactly once, on one of them.
func checkReusePort(t *testing.T, evs []calls.Event) {
	listens := find(evs, calls.Server, calls.Listen)
	if len(listens) != 2 || listens[0].Local != listens[1].Local || listens[0].FD == listens[1].FD {
		t.Fatalf("want two listeners on one address, got:\n%s", dump(evs))
	}
	ports := 0
	for _, ev := range find(evs, calls.Server, calls.SetSockOpt) {
		if ev.Detail == "SO_REUSEPORT" && ev.Errno == 0 {
			ports++
		}
	}
	if ports != 2 {
		t.Errorf("%d SO_REUSEPORT, want 2", ports)
	}
	connects := find(evs, calls.Client, calls.Connect)
	accs := find(evs, calls.Server, calls.Accept)
	if len(connects) != reusePortClients || len(accs) != reusePortClients {
		t.Fatalf("%d connects, %d accepts; want %d each", len(connects), len(accs), reusePortClients)
	}
	byRemote := map[string]int{}
	for _, a := range accs {
		if a.Errno != 0 || (a.FD != listens[0].FD && a.FD != listens[1].FD) || a.Local != listens[0].Local {
			t.Errorf("accept on fd %d (%v), errno %v; want one of the listeners", a.FD, a.Local, a.Errno)
		}
		byRemote[a.Remote.String()]++
	}
	for _, c := range connects {
		if byRemote[c.Local.String()] != 1 {
			t.Errorf("client %v accepted %d times, want once", c.Local, byRemote[c.Local.String()])
		}
	}
}

// checkBacklogFull: listen with backlog 1; the third client's connect
// blocks across at least one SYN retransmission (the first comes 1 s after
// the SYN) and returns only after the server accepted from the queue.
func checkBacklogFull(t *testing.T, evs []calls.Event) {
	listen := one(t, evs, calls.Server, calls.Listen)
	if listen.Detail != "backlog 1" {
		t.Errorf("listen %q, want backlog 1", listen.Detail)
	}
	connects := find(evs, calls.Client, calls.Connect)
	accs := find(evs, calls.Server, calls.Accept)
	if len(connects) != backlogFullClients || len(accs) != backlogFullClients {
		t.Fatalf("%d connects, %d accepts; want %d each", len(connects), len(accs), backlogFullClients)
	}
	for i, c := range connects {
		if c.Errno != 0 {
			t.Errorf("connect %d: %v", i+1, c.Errno)
		}
		if i < 2 && !c.Exit.Before(accs[0].Enter) {
			t.Errorf("connect %d returned at %v, after the first accept entered at %v: the kernel must complete it without accept()", i+1, c.Exit, accs[0].Enter)
		}
	}
	last := connects[2]
	if last.Exit.Before(accs[1].Exit) {
		t.Errorf("the third connect returned at %v, before the server made room at %v", last.Exit, accs[1].Exit)
	}
	// The kernel's first SYN retransmission is 1 s after the SYN
	// (TCP_TIMEOUT_INIT); the connect cannot return before it.
	if d := last.Duration(); d < 900*1e6 {
		t.Errorf("the third connect blocked %v, want at least one SYN retransmission (1 s)", d)
	}
}

// checkSendBuffer: the small write returns at once; the bulk write
// blocks until the server starts reading, and every byte arrives.
func checkSendBuffer(t *testing.T, evs []calls.Event) {
	writes := find(evs, calls.Client, calls.Write)
	if len(writes) < 2 || writes[0].Result != len(request) {
		t.Fatalf("want the request, then the bulk write:\n%s", dump(evs))
	}
	var bulkWritten, bulkRead int
	for _, w := range writes[1:] {
		bulkWritten += w.Result
	}
	var firstBulkRead *calls.Event
	reads := find(evs, calls.Server, calls.Read)
	for i := range reads {
		r := &reads[i]
		if i == 0 || r.Result <= 0 {
			continue
		}
		if r.Result > 0 && bulkRead < bulkSize {
			if firstBulkRead == nil {
				firstBulkRead = r
			}
			bulkRead += r.Result
		}
	}
	if bulkWritten != bulkSize || bulkRead != bulkSize {
		t.Errorf("bulk: %d bytes written, %d read, want %d", bulkWritten, bulkRead, bulkSize)
	}
	if firstBulkRead == nil || !writes[1].Exit.After(firstBulkRead.Enter) {
		t.Errorf("the bulk write must block until the server reads:\n%s", dump(evs))
	}
	opts := map[string]bool{}
	for _, ev := range evs {
		if ev.Call == calls.SetSockOpt && ev.Errno == 0 {
			opts[string(ev.Side)+" "+ev.Detail] = true
		}
	}
	for _, want := range []string{"server TCP_QUICKACK 0", "client SO_SNDBUF 16384", "server SO_RCVBUF 16384"} {
		if !opts[want] {
			t.Errorf("no setsockopt %s", want)
		}
	}
}

// TestSockstatTimeWait reads the TIME_WAIT count port-in-use names when
// the kernel had no room to keep its connection in TIME_WAIT (a storm of
// 200 programs making 4000 connections each filled the table's 131072).
func TestSockstatTimeWait(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		isOK bool
	}{
		{"sockets: used 18\nTCP: inuse 7 orphan 0 tw 131072 alloc 7 mem 275\nUDP: inuse 0 mem 0\n", 131072, true},
		{"TCP: inuse 7 orphan 0 tw 0 alloc 7 mem 275", 0, true},
		{"TCP6: inuse 1\nUDP: inuse 0 mem 0\n", 0, false},
		{"TCP: inuse 7 orphan 0 tw", 0, false},
		{"TCP: inuse 7 tw x", 0, false},
		{"", 0, false},
	} {
		if n, ok := sockstatTimeWait(tc.in); n != tc.n || ok != tc.isOK {
			t.Errorf("sockstatTimeWait(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.n, tc.isOK)
		}
	}
	if _, ok := sockstatTimeWait(readOrEmpty("/proc/net/sockstat")); !ok && readOrEmpty("/proc/net/sockstat") != "" {
		t.Errorf("this machine's /proc/net/sockstat has no TCP tw count: %q", readOrEmpty("/proc/net/sockstat"))
	}
}

func readOrEmpty(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}
