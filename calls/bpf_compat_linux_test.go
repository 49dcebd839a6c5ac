//go:build linux && (amd64 || arm64)

package calls

import (
	"context"
	"net/netip"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRecordCompat runs recorder tests with the compat object, the one
// loaded on kernels before 6.2 (no bpf_rdonly_cast: its programs read
// through pointers kept in memory with bpf_probe_read_kernel). It must
// record the same calls, states and segments as the first; it loads on
// this kernel too, so CI checks it here. (On a 6.1 kernel, where only it
// loads: scripts/vm-test.sh with KERNEL_PKG=linux-image-6.1.0-…-cloud-amd64-unsigned.)
func TestRecordCompat(t *testing.T) {
	requireBPF(t)
	forceCompat = true
	defer func() { forceCompat = false }()
	t.Run("loaded", func(t *testing.T) {
		truePath, err := exec.LookPath("true")
		if err != nil {
			t.Skip(err)
		}
		r, err := Record(context.Background(), []string{truePath}, TraceOptions{Events: func(Event) {}})
		skipOrFail(t, err)
		if code, err := r.Wait(); code != 0 || err != nil {
			t.Fatalf("true: %d, %v", code, err)
		}
		if !r.compat {
			t.Error("the recorder did not load the compat object")
		}
	})
	for _, test := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"Blocking", TestRecordBlocking},
		{"NonBlocking", TestRecordNonBlocking},
		{"BlockingRefused", TestRecordBlockingRefused},
		{"MatchesPtrace", TestRecordMatchesPtrace},
		{"Packets", TestRecordPackets},
		{"CapturePortShared", TestCapturePortShared},
		{"PythonHTTPServer", TestRecordPythonHTTPServer},
	} {
		t.Run(test.name, test.f)
	}
}

// TestDecodeCloneStateWithoutPeer: on Debian 12's 6.1 kernel the SYN_RECV
// state change of a listener's new connection is reported before the
// kernel has set its remote end and own address (inet_csk_clone_lock), so
// the record names the listener's address and no peer; the connection's
// next record (ESTABLISHED) names both. The decoder holds the first until
// the second and gives it the connection's 4-tuple, so that it lands on
// the connection, not on the listener. The records are the ones
// testdata/blocking's server made there (scripts/vm-test.sh), as the
// recorder wrote them; TestRecordBlocking failed on that kernel without
// this ("listener states CLOSE > LISTEN > CLOSE > SYN_RECV > ...").
func TestDecodeCloneStateWithoutPeer(t *testing.T) {
	var d decoder
	d.init()
	clock := clockOffset{}
	lo := [16]byte{127, 0, 0, 1}
	const sock = 0xffff888003a5c000
	state := func(ns uint64, from, to TCPState, rport uint16) *recorderEvent {
		return &recorderEvent{EnterNs: ns, Sock: sock, Type: recState, Pid: 138, A: uint32(from), B: uint32(to),
			Family: unix.AF_INET, Lport: 45583, Rport: rport, State: uint8(to), Laddr: lo, Raddr: lo}
	}
	noPeer := state(1000, TCPListen, TCPSynRecv, 0)
	noPeer.Raddr = [16]byte{}
	if _, kevs := d.record(noPeer, clock); len(kevs) != 0 {
		t.Fatalf("SYN_RECV without a peer: delivered %+v, want it held for the next record", kevs)
	}
	_, kevs := d.record(state(2000, TCPSynRecv, TCPEstablished, 34742), clock)
	peer := netip.MustParseAddrPort("127.0.0.1:34742")
	local := netip.MustParseAddrPort("127.0.0.1:45583")
	if len(kevs) != 2 {
		t.Fatalf("after ESTABLISHED: %+v, want SYN_RECV then ESTABLISHED", kevs)
	}
	for i, want := range []struct {
		from, to TCPState
		ns       int64
	}{{TCPListen, TCPSynRecv, 1000}, {TCPSynRecv, TCPEstablished, 2000}} {
		k := kevs[i]
		if k.From != want.from || k.To != want.to || k.Local != local || k.Remote != peer || k.Time.UnixNano() != want.ns {
			t.Errorf("event %d: %+v, want %v > %v of %v > %v at %d", i, k, want.from, want.to, local, peer, want.ns)
		}
	}
	if kevs := d.flush(); len(kevs) != 0 {
		t.Errorf("still held: %+v", kevs)
	}
}
