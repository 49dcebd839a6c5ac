package demo

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
)

// checkUDP: no listen, accept or handshake; each datagram received whole
// and in order, the reply to the sender recvfrom named; the connected
// socket's recv fails with ECONNREFUSED after its send.
func checkUDP(t *testing.T, evs []calls.Event) {
	for _, ev := range evs {
		switch ev.Call {
		case calls.Listen, calls.Accept, calls.Shutdown:
			t.Errorf("a UDP scenario called %s", ev.Call)
		case calls.Socket:
			if ev.Detail != "AF_INET, SOCK_DGRAM" && ev.Detail != "AF_INET6, SOCK_DGRAM" {
				t.Errorf("socket %q, want SOCK_DGRAM", ev.Detail)
			}
		}
	}
	sends := find(evs, calls.Client, calls.SendTo)
	recvs := find(evs, calls.Server, calls.RecvFrom)
	if len(sends) != 2 || len(recvs) != 2 {
		t.Fatalf("%d client sendto, %d server recvfrom; want 2 each:\n%s", len(sends), len(recvs), dump(evs))
	}
	for i, want := range [][]byte{udpFirst, udpSecond} {
		if sends[i].Result != len(want) || recvs[i].Result != len(want) || recvs[i].Detail != quote(want) {
			t.Errorf("datagram %d: sent %d, received %d %s; want %q whole", i+1, sends[i].Result, recvs[i].Result, recvs[i].Detail, want)
		}
		if recvs[i].Remote != sends[i].Local {
			t.Errorf("datagram %d: recvfrom says it came from %v, the client sent from %v", i+1, recvs[i].Remote, sends[i].Local)
		}
	}
	reply := one(t, evs, calls.Server, calls.SendTo)
	if reply.Remote != sends[0].Local {
		t.Errorf("the reply went to %v, want the client %v", reply.Remote, sends[0].Local)
	}
	got := one(t, evs, calls.Client, calls.RecvFrom)
	if got.Result != len(udpReply) || !got.Exit.After(reply.Enter) {
		t.Errorf("the client received %d bytes at %v; want the reply, after it was sent at %v", got.Result, got.Exit, reply.Enter)
	}
	conn := one(t, evs, calls.Client, calls.Connect)
	w := one(t, evs, calls.Client, calls.Write)
	r := one(t, evs, calls.Client, calls.Read)
	if conn.Errno != 0 || w.Errno != 0 || w.Result != len(udpLost) {
		t.Errorf("connect errno %v, write %d errno %v; want both to succeed (UDP sends without asking)", conn.Errno, w.Result, w.Errno)
	}
	if r.Errno != unix.ECONNREFUSED || !r.Enter.After(w.Exit) {
		t.Errorf("recv after the send: errno %v; want ECONNREFUSED", r.Errno)
	}
	if w.Remote != conn.Remote || w.Remote.Port() == 0 {
		t.Errorf("write to %v, connect to %v", w.Remote, conn.Remote)
	}
}
