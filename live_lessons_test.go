package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestLessonScenariosLive runs the scenarios that teach the seed note's
// claims (issue 15) over IPv4 and IPv6, captured for real, and checks
// what each is there to show in its calls, errors and packets and their
// order.
func TestLessonScenariosLive(t *testing.T) {
	needCapture(t)
	for _, ipv6 := range []bool{false, true} {
		args := []string{"socktrace", "--iface", "lo", "--scenario", "port-in-use,reuseport,backlog-full,send-buffer", "--format", "json"}
		name := "ipv4"
		if ipv6 {
			args = append(args, "--ipv6")
			name = "ipv6"
		}
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(args, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			r := parseReport(t, out.Bytes())
			byScenario := map[string][]jsonConn{}
			for _, c := range r.conns {
				byScenario[c.Scenario] = append(byScenario[c.Scenario], c)
			}
			segsOf := func(c jsonConn) []jsonSegment {
				var segs []jsonSegment
				for _, s := range r.segments {
					if s.Conn == c.ID {
						segs = append(segs, s)
					}
				}
				return segs
			}
			checkPortInUseLive(t, byScenario["port-in-use"], out.Bytes())
			checkReusePortLive(t, byScenario["reuseport"])
			checkBacklogFullLive(t, byScenario["backlog-full"], segsOf)
			checkSendBufferLive(t, byScenario["send-buffer"], segsOf)
		})
	}
}

// checkPortInUseLive: the server's side ends in TIME_WAIT, and the failed
// binds are reported (as calls on no connection) with EADDRINUSE.
func checkPortInUseLive(t *testing.T, conns []jsonConn, out []byte) {
	if len(conns) != 1 {
		t.Fatalf("port-in-use: %d connections, want 1", len(conns))
	}
	if str(conns[0].TimeWait) != "server" {
		t.Errorf("port-in-use: TIME_WAIT on the %s, want the server (it holds the port)", str(conns[0].TimeWait))
	}
	if n := bytes.Count(out, []byte(`"call":"bind"`)); n < 4 {
		t.Errorf("port-in-use: %d bind calls in the report, want 4", n)
	}
	if n := bytes.Count(out, []byte(`"errno":"EADDRINUSE"`)); n != 2 {
		t.Errorf("port-in-use: %d EADDRINUSE, want 2 (while listening, and in TIME_WAIT without SO_REUSEADDR)", n)
	}
}

// checkReusePortLive: every connection accepted on one of two listening
// sockets on the same port.
func checkReusePortLive(t *testing.T, conns []jsonConn) {
	if len(conns) != 4 {
		t.Fatalf("reuseport: %d connections, want 4", len(conns))
	}
	listeners := map[int]int{}
	server := conns[0].Server
	for _, c := range conns {
		if c.Server != server {
			t.Errorf("reuseport: server %s, want %s for every connection", c.Server, server)
		}
		accepts := 0
		for _, call := range c.Calls {
			if call.Call == "accept" && !call.Inferred && call.FD != nil {
				listeners[*call.FD]++
				accepts++
			}
		}
		if accepts != 1 {
			t.Errorf("reuseport: connection %d accepted %d times", c.ID, accepts)
		}
	}
	if len(listeners) < 1 || len(listeners) > 2 {
		t.Errorf("reuseport: accepted on listeners %v, want one or both of two", listeners)
	}
}

// checkBacklogFullLive: the first two handshakes complete at once; the
// third client's SYN goes unanswered and is retransmitted, its connect()
// blocked across the retransmission and returning after the SYN-ACK.
func checkBacklogFullLive(t *testing.T, conns []jsonConn, segsOf func(jsonConn) []jsonSegment) {
	if len(conns) != 3 {
		t.Fatalf("backlog-full: %d connections, want 3", len(conns))
	}
	slices.SortFunc(conns, func(a, b jsonConn) int { return a.ID - b.ID })
	for i, c := range conns {
		segs := segsOf(c)
		var syns []time.Time
		var synack time.Time
		for _, s := range segs {
			switch {
			case s.From == "client" && slices.Equal(s.Flags, []string{"SYN"}):
				syns = append(syns, s.Time)
			case s.Kind == "syn-ack" && synack.IsZero():
				synack = s.Time
			}
		}
		if i < 2 {
			// The queue had room: one SYN is the rule. A loopback
			// storm from another program can overflow the kernel's
			// per-CPU input queue (netdev_max_backlog) and drop a SYN
			// whatever the listener's queues hold, so a retransmission
			// here is logged, not failed; the SYN-ACK must come.
			if len(syns) == 0 || synack.IsZero() {
				t.Errorf("backlog-full: client %d: %d SYNs, SYN-ACK %v; want its handshake", i+1, len(syns), synack)
			} else if len(syns) != 1 {
				t.Logf("backlog-full: client %d sent %d SYNs (a loopback packet was dropped under load)", i+1, len(syns))
			}
			continue
		}
		if c.SYNRetransmits < 1 || len(syns) != 1+c.SYNRetransmits {
			t.Fatalf("backlog-full: the third client sent %d SYNs (%d retransmissions), want at least one retransmission", len(syns), c.SYNRetransmits)
		}
		// The kernel's retransmission timer starts at 1 s; it only
		// gets later, never earlier, on a loaded machine.
		if d := syns[1].Sub(syns[0]); d < 900*time.Millisecond {
			t.Errorf("backlog-full: first SYN retransmission %v after the SYN, want about 1 s", d)
		}
		if !synack.After(syns[len(syns)-1]) {
			t.Errorf("backlog-full: SYN-ACK at %v, want after the last SYN at %v", synack, syns[len(syns)-1])
		}
		for _, call := range c.Calls {
			if call.Call != "connect" || call.Inferred {
				continue
			}
			if !call.Enter.Before(syns[0]) || call.Exit.Before(synack) {
				t.Errorf("backlog-full: connect %v–%v must span the SYNs from %v to the SYN-ACK at %v", call.Enter, call.Exit, syns[0], synack)
			}
		}
	}
}

// checkSendBufferLive: the request's bytes left during its write() and
// the server's kernel acknowledged them only later, a delayed ACK; the
// bulk write() returned only after the server began reading, and the
// server acknowledged bulk data while it was blocked.
//
// What the scenario guarantees, and so what is asserted: the client
// writes its request only after the server has set TCP_QUICKACK 0, so
// the ACK is delayed by the kernel's delayed-ACK timer (TCP_ATO_MIN,
// 40 ms, give or take a jiffy), and the request's segment lies inside the
// write() call. That write() also returned (its exit stamp) before the
// ACK is what the lesson shows, and what happens unless the scheduler
// holds the client's thread for the whole 40 ms between the syscall and
// the stamp: on a machine at load 30 it can, and then the stamp, not the
// kernel, is late (a 22-byte write into an empty send buffer waits for
// nothing). That case is logged, not failed. A quick ACK (the server's
// option set too late, the flake this test once had) is caught by the
// delay asserted between the segment and its ACK.
func checkSendBufferLive(t *testing.T, conns []jsonConn, segsOf func(jsonConn) []jsonSegment) {
	if len(conns) != 1 {
		t.Fatalf("send-buffer: %d connections, want 1", len(conns))
	}
	c := conns[0]
	segs := segsOf(c)
	var writes []jsonCall
	for _, call := range c.Calls {
		if call.Call == "write" && call.Side == "client" && !call.Inferred {
			writes = append(writes, call)
		}
	}
	if len(writes) < 2 {
		t.Fatalf("send-buffer: %d client writes, want the request and the bulk", len(writes))
	}
	var requestSent, ackOfRequest time.Time
	for _, s := range segs {
		if s.From == "client" && s.Seq == 1 && s.Len == 22 && requestSent.IsZero() {
			requestSent = s.Time
		}
		if s.From == "server" && s.Ack == 23 && s.Len == 0 && ackOfRequest.IsZero() {
			ackOfRequest = s.Time
		}
	}
	if requestSent.IsZero() || ackOfRequest.IsZero() {
		t.Fatalf("send-buffer: request's segment at %v, its ACK at %v: want both", requestSent, ackOfRequest)
	}
	if requestSent.Before(writes[0].Enter) || requestSent.After(writes[0].Exit) {
		t.Errorf("send-buffer: the request's segment at %v, want within its write() %v–%v", requestSent, writes[0].Enter, writes[0].Exit)
	}
	if d := ackOfRequest.Sub(requestSent); d < 20*time.Millisecond {
		t.Errorf("send-buffer: the request's ACK came %v after it, want a delayed ACK (about 40 ms): was TCP_QUICKACK 0 set after the request arrived?", d)
	}
	if !writes[0].Exit.Before(ackOfRequest) {
		t.Logf("send-buffer: the request's write() was stamped returning %v after its ACK, which came %v after the bytes left: the client's thread was held off the CPU that long (loaded machine)",
			writes[0].Exit.Sub(ackOfRequest), ackOfRequest.Sub(requestSent))
	}
	// The bulk write() blocks until the server reads: it returns after
	// the server's first read of the bulk data entered (the bulk is far
	// more than both buffers hold), and the server reads only once bulk
	// data has arrived and been acknowledged. (The server's window
	// usually closes to zero meanwhile, but how far it shrinks depends on
	// timing, so that is not asserted.)
	var bulkRead *jsonCall
	for i, call := range c.Calls {
		if call.Call == "read" && call.Side == "server" && !call.Inferred && call.Enter.After(writes[1].Enter) {
			bulkRead = &c.Calls[i]
			break
		}
	}
	if bulkRead == nil {
		t.Fatal("send-buffer: no server read after the bulk write began")
	}
	if !writes[1].Exit.After(bulkRead.Enter) {
		t.Errorf("send-buffer: the bulk write() returned at %v, before the server began reading at %v", writes[1].Exit, bulkRead.Enter)
	}
	var acked bool
	for _, s := range segs {
		if s.From == "server" && s.Time.After(writes[1].Enter) && s.Time.Before(bulkRead.Enter) && s.Len == 0 {
			acked = true
		}
	}
	if !acked {
		t.Error("send-buffer: no ACK from the server while the bulk write() was blocked")
	}
}

// TestScenariosListGolden compares `socktrace scenarios` in English and
// Korean with testdata/golden/scenarios.{en,ko}.txt. Regenerate with:
// go test -run TestScenariosListGolden -update
func TestScenariosListGolden(t *testing.T) {
	for _, lang := range []string{"en", "ko"} {
		t.Run(lang, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run([]string{"socktrace", "scenarios", "--lang", lang}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			golden := filepath.Join("testdata", "golden", "scenarios."+lang+".txt")
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (create it with: go test -run TestScenariosListGolden -update)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s\n%s", golden, firstDiff(string(want), out.String()))
			}
		})
	}
}
