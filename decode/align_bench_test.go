package decode

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/socktrace/socktrace/calls"
)

// BenchmarkCallWhileWaiting measures aligning one socket call while n
// other sockets wait for connections the capture never showed (a live
// capture that dropped their packets under load); one op is one write()
// on a connected socket. The waiting sockets are bounded by maxWaiting,
// so n past it measures the bound. Aligning a call must not cost in
// proportion to the waiting sockets: issue 12's run spent most of its
// CPU scanning them on every call.
func BenchmarkCallWhileWaiting(b *testing.B) {
	for _, n := range []int{0, 1000, maxWaiting, 50000} {
		b.Run(fmt.Sprintf("waiting=%d", n), func(b *testing.B) {
			t := NewTracker(nopHandler{}, TrackerConfig{})
			start := time.Unix(1700000000, 0)
			server := netip.MustParseAddrPort("127.0.0.1:8080")
			for i := range n {
				// Connected sockets whose packets were all lost.
				local := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(1024+i%60000))
				if i >= 60000 {
					local = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), local.Port())
				}
				t.ObserveCall(calls.Event{Call: calls.Connect, FD: 3 + i, PID: 1, Local: local, Remote: server,
					Enter: start.Add(time.Duration(i) * time.Microsecond)})
			}
			// One connection the capture did see, and its socket.
			client := netip.MustParseAddrPort("127.0.0.1:40000")
			at := start.Add(time.Second)
			t.Observe(&Segment{Time: at, Src: client, Dst: server, Seq: 1, Flags: SYN})
			t.Observe(&Segment{Time: at, Src: server, Dst: client, Seq: 100, Ack: 2, Flags: SYN | ACK})
			t.Observe(&Segment{Time: at, Src: client, Dst: server, Seq: 2, Ack: 101, Flags: ACK})
			write := calls.Event{Call: calls.Write, FD: 2, PID: 2, Local: client, Remote: server, Enter: at, Exit: at, Result: 1}
			t.ObserveCall(write)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				t.ObserveCall(write)
			}
		})
	}
}
