package decode

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/calls"
)

// recordingHandler writes down, in order, every call the tracker hands on
// and every connection it ends with its calls.
type recordingHandler struct {
	lines []string
	bound int // calls handed on with a connection
	alone int // calls handed on without one
}

func (h *recordingHandler) Segment(*Connection, *Step) {}

func (h *recordingHandler) Ended(c *Connection) {
	var b strings.Builder
	fmt.Fprintf(&b, "ended %d %v-%v resumed=%v omitted=%d:", c.ID, c.Client, c.Server, c.Resumed, c.CallsOmitted)
	for _, ev := range c.Calls {
		fmt.Fprintf(&b, " %s/%s/%d/%d", ev.Call, ev.Side, ev.PID, ev.FD)
	}
	h.lines = append(h.lines, b.String())
}

func (h *recordingHandler) Call(c *Connection, ev *calls.Event) {
	id := 0
	if c != nil {
		id = c.ID
		h.bound++
	} else {
		h.alone++
	}
	h.lines = append(h.lines, fmt.Sprintf("call %d %s %s pid=%d fd=%d %v %v",
		id, ev.Call, ev.Side, ev.PID, ev.FD, ev.Local, ev.Enter.UnixMicro()))
}

// alignInput is a tracker's input: segments and calls in the order they
// reach it.
type alignInput struct {
	at   time.Time // when it reaches the tracker
	seg  *Segment
	call *calls.Event
}

// lossyLoopback makes the input of n loopback connections from a client
// process to a server process, some of their packets lost as a loaded
// live capture loses them and their calls early or late as traced calls
// are: the sockets whose connection was not seen wait, some for ever.
// Client ports
// come from a small pool, so 4-tuples are reused, sometimes while the last
// connection on them lingers; some connections are refused first and
// their SYN tried again (the finished connection reopens).
func lossyLoopback(seed uint64, n, ports int, lossPct int) []alignInput {
	rng := rand.New(rand.NewPCG(seed, 1))
	server := netip.MustParseAddrPort("127.0.0.1:8080")
	start := time.Unix(1700000000, 0)
	var in []alignInput
	seg := func(at time.Time, src, dst netip.AddrPort, seq, ack uint32, f Flags, n int) {
		if rng.IntN(100) < lossPct {
			return
		}
		in = append(in, alignInput{at: at, seg: &Segment{Time: at, Src: src, Dst: dst, Seq: seq, Ack: ack, Flags: f, Len: n}})
	}
	call := func(at time.Time, ev calls.Event) {
		ev.Enter, ev.Exit = at, at.Add(time.Microsecond)
		// Traced calls reach the tracker a little before or well after
		// the packets of the same moment.
		late := time.Duration(rng.IntN(350)-50) * time.Microsecond
		in = append(in, alignInput{at: at.Add(late), call: &ev})
	}
	us := func(t time.Time, d int) time.Time { return t.Add(time.Duration(d) * time.Microsecond) }
	// The server listens first.
	call(start, calls.Event{Call: calls.Socket, PID: 2, FD: 3, Result: 3})
	call(us(start, 1), calls.Event{Call: calls.Listen, PID: 2, FD: 3, Local: server})
	for i := range n {
		t0 := us(start, 100+i*40+rng.IntN(30))
		client := netip.AddrPortFrom(server.Addr(), uint16(40000+rng.IntN(ports)))
		cfd, sfd := 10+i%64, 10+i%64
		cisn, sisn := uint32(rng.Uint32()), uint32(rng.Uint32())
		refused := rng.IntN(10) == 0
		skew := 0
		if refused && rng.IntN(2) == 0 {
			// The calls' clock runs ahead of the packets': the socket
			// seems made after its refusal, so the refused connection
			// does not take its calls until its SYN is tried again.
			skew = 4
		}
		call(us(t0, skew), calls.Event{Call: calls.Socket, PID: 1, FD: cfd, Result: cfd})
		call(us(t0, skew+1), calls.Event{Call: calls.Connect, PID: 1, FD: cfd, Local: client, Remote: server})
		seg(us(t0, 2), client, server, cisn, 0, SYN, 0)
		if refused {
			// Refused, then tried again with the same ISN.
			seg(us(t0, 3), server, client, 0, cisn+1, RST|ACK, 0)
			seg(us(t0, 20), client, server, cisn, 0, SYN, 0)
		}
		seg(us(t0, 21), server, client, sisn, cisn+1, SYN|ACK, 0)
		seg(us(t0, 22), client, server, cisn+1, sisn+1, ACK, 0)
		call(us(t0, 23), calls.Event{Call: calls.Accept, PID: 2, FD: 3, Result: sfd, Local: server, Remote: client})
		call(us(t0, 24), calls.Event{Call: calls.Write, PID: 1, FD: cfd, Local: client, Remote: server, Result: 10})
		seg(us(t0, 25), client, server, cisn+1, sisn+1, PSH|ACK, 10)
		call(us(t0, 26), calls.Event{Call: calls.Read, PID: 2, FD: sfd, Local: server, Remote: client, Result: 10})
		seg(us(t0, 27), server, client, sisn+1, cisn+11, ACK, 0)
		call(us(t0, 28), calls.Event{Call: calls.Close, PID: 1, FD: cfd, Local: client, Remote: server})
		seg(us(t0, 29), client, server, cisn+11, sisn+1, FIN|ACK, 0)
		call(us(t0, 30), calls.Event{Call: calls.Close, PID: 2, FD: sfd, Local: server, Remote: client})
		seg(us(t0, 31), server, client, sisn+1, cisn+12, FIN|ACK, 0)
		seg(us(t0, 32), client, server, cisn+12, sisn+2, ACK, 0)
	}
	slices.SortStableFunc(in, func(a, b alignInput) int { return a.at.Compare(b.at) })
	return in
}

// align feeds in to a tracker and returns what its handler saw.
func align(in []alignInput, scanAll bool) *recordingHandler {
	h := &recordingHandler{}
	t := NewTracker(h, TrackerConfig{Linger: 200 * time.Microsecond})
	t.scanAll = scanAll
	for _, x := range in {
		if x.seg != nil {
			s := *x.seg
			t.Observe(&s)
		} else {
			t.ObserveCall(*x.call)
		}
	}
	// Flush reports the calls of the sockets still open in map order:
	// what follows the mark is compared as a set.
	h.lines = append(h.lines, "flush")
	t.Flush()
	flushed := h.lines[slices.Index(h.lines, "flush"):]
	slices.Sort(flushed)
	return h
}

// TestSettleAsScan checks that the waiting sockets' index binds every
// call to the same connection, in the same order, as looking at every
// waiting socket on every call did: on lossy loopback traffic where
// sockets wait for connections never seen, past maxWaiting, 4-tuples are
// reused while their last connection lingers, and refused connections
// reopen.
func TestSettleAsScan(t *testing.T) {
	tests := []struct {
		name          string
		n, ports, pct int
	}{
		{"few ports, little loss", 2000, 16, 5},
		{"few ports, much loss", 2000, 8, 40},
		{"past maxWaiting", maxWaiting + 2000, 60000, 60},
		{"nothing lost", 500, 4, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(3) {
				in := lossyLoopback(seed, tc.n, tc.ports, tc.pct)
				want := align(in, true)
				got := align(in, os.Getenv("SCANBOTH") != "")
				if got.bound == 0 || (tc.pct > 0 && got.alone == 0) {
					t.Fatalf("seed %d: %d calls with a connection, %d without: the input does not test waiting", seed, got.bound, got.alone)
				}
				if i, ok := firstDiff(got.lines, want.lines); ok {
					t.Fatalf("seed %d: line %d differs from the scan's:\n got %s\nwant %s", seed, i, at(got.lines, i), at(want.lines, i))
				}
			}
		})
	}
}

func firstDiff(a, b []string) (int, bool) {
	for i := range max(len(a), len(b)) {
		if at(a, i) != at(b, i) {
			return i, true
		}
	}
	return 0, false
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(none)"
}

// TestSettleInWaitingOrder checks that sockets meeting their connection
// together hand their calls on in the order they began to wait, as a scan
// of the waiting sockets did: here the handshake was lost, both ends'
// calls came first, and the connection appears with its first data.
func TestSettleInWaitingOrder(t *testing.T) {
	client := netip.MustParseAddrPort("127.0.0.1:40000")
	server := netip.MustParseAddrPort("127.0.0.1:8080")
	at := time.Unix(1700000000, 0)
	for _, scanAll := range []bool{true, false} {
		h := &recordingHandler{}
		tr := NewTracker(h, TrackerConfig{})
		tr.scanAll = scanAll
		tr.ObserveCall(calls.Event{Call: calls.Connect, PID: 1, FD: 5, Local: client, Remote: server, Enter: at})
		tr.ObserveCall(calls.Event{Call: calls.Accept, PID: 2, FD: 3, Result: 6, Local: server, Remote: client, Enter: at})
		tr.Observe(&Segment{Time: at, Src: client, Dst: server, Seq: 10, Ack: 20, Flags: PSH | ACK, Len: 5})
		var got []string
		for _, l := range h.lines {
			got = append(got, strings.Fields(l)[2])
		}
		if want := []string{"connect", "accept"}; !slices.Equal(got, want) {
			t.Errorf("scanAll=%v: calls handed on in order %q, want %q", scanAll, got, want)
		}
	}
}
