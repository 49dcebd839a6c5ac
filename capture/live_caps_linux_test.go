package capture

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLiveOnlyNetRaw checks what the README promises: capture on loopback
// needs CAP_NET_RAW and nothing else. A thread keeps CAP_NET_RAW alone in
// its effective set (no CAP_NET_ADMIN, no CAP_SYS_ADMIN, no CAP_IPC_LOCK
// for the ring) and opens the capture there, filter and ring included; a
// datagram sent afterwards must arrive through it.
func TestLiveOnlyNetRaw(t *testing.T) {
	requireCapture(t)
	send, port := udpSender(t)
	type opened struct {
		src *LiveSource
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		// The thread stays locked, so the runtime discards it when the
		// goroutine ends instead of reusing it with fewer capabilities.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			ch <- opened{nil, fmt.Errorf("capget: %w", err)}
			return
		}
		data[0].Effective, data[1].Effective = 1<<unix.CAP_NET_RAW, 0
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			ch <- opened{nil, fmt.Errorf("capset: %w", err)}
			return
		}
		if err := unix.Capget(&hdr, &data[0]); err != nil || data[0].Effective != 1<<unix.CAP_NET_RAW || data[1].Effective != 0 {
			ch <- opened{nil, fmt.Errorf("the thread's effective capabilities are %#x %#x, want CAP_NET_RAW alone (%v)", data[0].Effective, data[1].Effective, err)}
			return
		}
		src, err := OpenLive("lo", LiveOptions{Filter: portFilter(t, 17, port)})
		ch <- opened{src, err}
	}()
	o := <-ch
	if o.err != nil {
		t.Fatalf("OpenLive(lo) with CAP_NET_RAW alone: %v", o.err)
	}
	defer o.src.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	send([]byte("only CAP_NET_RAW"))
	var p Packet
	if err := o.src.ReadPacketContext(ctx, &p); err != nil {
		t.Fatalf("no datagram through a capture opened with CAP_NET_RAW alone: %v", err)
	}
	if got, ok := udpDstPort(p.Data); !ok || got != port {
		t.Fatalf("read a frame that is not our datagram: % x", p.Data)
	}
}
