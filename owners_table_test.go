package main

import (
	"net/netip"
	"testing"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// TestOwnerTableKeepsWhatItKnew: the same process learnt twice keeps what
// either report knew. The recorder's events come in batches, so its report
// of a new connection can arrive after the process has exited, when /proc
// no longer names it: the comments of the connection's last packets once
// lost the name a lookup had found ("socktrace process: [5048]").
func TestOwnerTableKeepsWhatItKnew(t *testing.T) {
	k := sockKey{netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:80")}
	named := decode.Owner{PID: 42, Comm: "curl", UID: 1000, User: "alice"}
	for _, tc := range []struct {
		name        string
		first, then decode.Owner
		replace     bool
		want        decode.Owner
	}{
		{"late report without a name", named, decode.Owner{PID: 42}, true, named},
		{"a call brings the name", decode.Owner{PID: 42}, named, false, named},
		{"a call brings the name, replacing", decode.Owner{PID: 42, UID: 1000, User: "alice"}, decode.Owner{PID: 42, Comm: "curl"}, true, named},
		{"another process on the reused 4-tuple", named, decode.Owner{PID: 43, Comm: "wget"}, true, decode.Owner{PID: 43, Comm: "wget"}},
		{"another process, only filling gaps", named, decode.Owner{PID: 43, Comm: "wget"}, false, named},
		{"a new connection of the same process", decode.Owner{PID: 42, Comm: "curl", Before: true, State: calls.TCPEstablished}, decode.Owner{PID: 42}, true, decode.Owner{PID: 42, Comm: "curl"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newOwnerTable()
			tab.put(k, tc.first, true)
			tab.put(k, tc.then, tc.replace)
			if got, _ := tab.get(k); got != tc.want {
				t.Errorf("owner %+v, want %+v", got, tc.want)
			}
			want := processCommentPrefix + tc.want.Comm
			if c := tab.packetComments(k.local, k.remote); len(c) != 1 || len(c[0]) < len(want) || c[0][:len(want)] != want {
				t.Errorf("comments %q, want one starting %q", c, want)
			}
		})
	}
}

// TestAttributeAddsALateName: a connection named at its first packet by a
// pid alone (a kernel event, read when the process had already exited and
// /proc no longer named it) takes the name the recorder's connect call
// brings later, by the time it ends; under load watch's summary said
// "client process: [19486]" for curl. Another process on the reused
// 4-tuple does not rename it.
func TestAttributeAddsALateName(t *testing.T) {
	client, server := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:80")
	k := sockKey{client, server}
	tab := newOwnerTable()
	tab.put(k, decode.Owner{PID: 42}, true)
	c := &decode.Connection{Client: client, Server: server}
	tab.attribute(c) // its first packet
	tab.put(k, decode.Owner{PID: 42, Comm: "curl"}, true)
	tab.attribute(c) // its end
	if got, want := c.Owner(decode.Client), (decode.Owner{PID: 42, Comm: "curl"}); got != want {
		t.Errorf("client %+v, want %+v", got, want)
	}
	tab.put(k, decode.Owner{PID: 43, Comm: "wget", UID: 1000, User: "alice"}, true)
	tab.attribute(c)
	if got, want := c.Owner(decode.Client), (decode.Owner{PID: 42, Comm: "curl"}); got != want {
		t.Errorf("after another process took the 4-tuple: client %+v, want %+v", got, want)
	}
	if got := c.Owner(decode.Server); got.Known() {
		t.Errorf("server %+v, want unknown", got)
	}
}

// TestAttributeNamesFromCalls: a socket named by a kernel event only (a
// pid, read after the process exited) gets the name the process's calls
// carried, when the table's entry has none.
func TestAttributeNamesFromCalls(t *testing.T) {
	client, server := netip.MustParseAddrPort("127.0.0.1:40001"), netip.MustParseAddrPort("127.0.0.1:81")
	tab := newOwnerTable()
	tab.put(sockKey{client, server}, decode.Owner{PID: 44}, true)
	c := &decode.Connection{Client: client, Server: server}
	tab.attribute(c)
	if got := c.Owner(decode.Client); got != (decode.Owner{PID: 44}) {
		t.Fatalf("client %+v before any call named pid 44", got)
	}
	tab.learnComm(44, "stwfirst")
	tab.attribute(c)
	if got, want := c.Owner(decode.Client), (decode.Owner{PID: 44, Comm: "stwfirst"}); got != want {
		t.Errorf("client %+v, want %+v", got, want)
	}
	c2 := &decode.Connection{Client: client, Server: server}
	tab.attribute(c2)
	if got, want := c2.Owner(decode.Client), (decode.Owner{PID: 44, Comm: "stwfirst"}); got != want {
		t.Errorf("a connection attributed after the name was learnt: client %+v, want %+v", got, want)
	}
}

// TestCommentsOutliveTheTable: the processes of an open connection kept
// by watch stay in its packets' comments when the table has forgotten
// them: every process's connections are recorded, and a storm of them
// cycles the table (TestWatchProcessFilter/pid once wrote packets 3 to 8
// of its connection with no comment at all).
func TestCommentsOutliveTheTable(t *testing.T) {
	client, server := netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:8080")
	tab := newOwnerTable()
	tab.put(sockKey{client, server}, decode.Owner{PID: 42, Comm: "curl", UID: 1000, User: "alice"}, true)
	h := newOwnerHandler(discard{}, tab, nil)
	tr := decode.NewTracker(h, decode.TrackerConfig{})
	now := time.Unix(1_700_000_000, 0)
	tr.Observe(&decode.Segment{Time: now, Src: client, Dst: server, Flags: decode.SYN, Seq: 100, Window: 512})
	// A storm: the table forgets the oldest sockets first.
	for i := range maxOwnedSockets {
		other := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(1024+i%60000))
		tab.put(sockKey{other, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), uint16(1+i/60000))}, decode.Owner{PID: 7, Comm: "storm"}, true)
	}
	if _, ok := tab.get(sockKey{client, server}); ok {
		t.Fatal("the table still has the connection: the storm did not cycle it")
	}
	for _, dir := range []struct {
		src, dst netip.AddrPort
		want     string
	}{
		{client, server, "socktrace process: curl[42] (user alice) sent it from 127.0.0.1:40000"},
		{server, client, "socktrace process: curl[42] (user alice) received it at 127.0.0.1:40000"},
	} {
		if c := h.packetComments(dir.src, dir.dst); len(c) != 1 || c[0] != dir.want {
			t.Errorf("%v → %v: comments %q, want %q", dir.src, dir.dst, c, dir.want)
		}
	}
}

// TestKernelEventNamedAfterExit: a kernel event names its socket's
// process by pid alone; when the recorder is read after the process has
// exited, /proc no longer names it, and the name its earlier socket call
// carried does. Under load, TestWatchProcessFilter once saw
// "socktrace process: [12898]" on every packet of stwfirst's connection,
// and --comm left that connection out.
func TestKernelEventNamedAfterExit(t *testing.T) {
	const gone = 1 << 30 // above any pid_max: never in /proc
	k := sockKey{netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:80")}
	established := calls.KernelEvent{Kind: calls.KernelState, PID: gone, From: calls.TCPSynSent, To: calls.TCPEstablished, Local: k.local, Remote: k.remote}
	for _, tc := range []struct {
		name     string
		calls    []calls.Event
		wantComm string
	}{
		{"no call seen", nil, ""},
		// watch learns the name of every call, socket() included,
		// before it looks at the call's addresses (watchProcesses).
		{"its socket call seen", []calls.Event{{Call: calls.Socket, PID: gone, Comm: "stwgone"}}, "stwgone"},
		{"its bind seen", []calls.Event{{Call: calls.Bind, PID: gone, Comm: "stwgone", Local: netip.MustParseAddrPort("127.0.0.1:40000")}}, "stwgone"},
		{"another process's call", []calls.Event{{Call: calls.Socket, PID: gone + 1, Comm: "other"}}, ""},
		{"renamed: the latest name", []calls.Event{{Call: calls.Socket, PID: gone, Comm: "python3"}, {Call: calls.Socket, PID: gone, Comm: "stwgone"}}, "stwgone"},
		{"a call of no process names nothing", []calls.Event{{Call: calls.Socket, Comm: "guess"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := newOwnerTable()
			for i := range tc.calls {
				tab.learnComm(tc.calls[i].PID, tc.calls[i].Comm)
				tab.observeCall(&tc.calls[i])
			}
			ev := established
			tab.observeKernel(&ev)
			got, ok := tab.get(k)
			if !ok || got.PID != gone || got.Comm != tc.wantComm {
				t.Errorf("owner %+v (known: %v), want pid %d named %q", got, ok, gone, tc.wantComm)
			}
			if f := (procFilter{comms: map[string]bool{"stwgone": true}}); f.matches(&got) != (tc.wantComm == "stwgone") {
				t.Errorf("--comm stwgone matches %+v: %v", got, f.matches(&got))
			}
		})
	}
}

// TestSnapshotOutlivesChurn: a connection the start-up snapshot found
// stays marked as older than watch however many other connections the
// recorder names meanwhile (every process's are: a storm cycled the
// table and TestWatchPreExistingConnection's packets lost "existed before
// watch started"), keeps its mark when its process's calls name it
// again, and loses it to a new connection on its 4-tuple.
func TestSnapshotOutlivesChurn(t *testing.T) {
	k := sockKey{netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:80")}
	snap := decode.Owner{PID: 42, Comm: "curl", UID: 1000, User: "alice", Before: true, State: calls.TCPEstablished}
	tab := newOwnerTable()
	tab.putBefore(k, snap)
	for i := range 2 * maxOwnedSockets {
		other := sockKey{netip.AddrPortFrom(k.local.Addr(), uint16(1000+i%60000)), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(1+i/60000))}
		tab.put(other, decode.Owner{PID: 7, Comm: "storm"}, true)
	}
	if got, _ := tab.get(k); got != snap {
		t.Errorf("after the storm: %+v, want %+v", got, snap)
	}
	// Its process's next call (read late: no name, no user).
	tab.put(k, decode.Owner{PID: 42}, false)
	if got, _ := tab.get(k); got != snap {
		t.Errorf("after a call: %+v, want %+v", got, snap)
	}
	want := processCommentPrefix + "curl[42] (user alice) sent it from 127.0.0.1:40000; the connection existed before watch started (ESTABLISHED then)"
	if c := tab.packetComments(k.local, k.remote); len(c) != 1 || c[0] != want {
		t.Errorf("comments %q, want [%q]", c, want)
	}
	// A new connection on the same 4-tuple.
	tab.put(k, decode.Owner{PID: 42, Comm: "curl"}, true)
	if got, _ := tab.get(k); got.Before || got.State != 0 {
		t.Errorf("a new connection on the 4-tuple: %+v, want it new", got)
	}
}

// TestSnapshotSkipsConnectionsMadeMeanwhile: the recorder starts before
// the snapshot is read, so a connection made meanwhile is named by both;
// it is not older than watch. One that only a later call names is.
func TestSnapshotSkipsConnectionsMadeMeanwhile(t *testing.T) {
	made := sockKey{netip.MustParseAddrPort("127.0.0.1:40000"), netip.MustParseAddrPort("127.0.0.1:80")}
	old := sockKey{netip.MustParseAddrPort("127.0.0.1:40001"), netip.MustParseAddrPort("127.0.0.1:80")}
	tab := newOwnerTable()
	tab.observeCall(&calls.Event{Call: calls.Connect, PID: 42, Comm: "curl", Local: made.local, Remote: made.remote})
	tab.observeCall(&calls.Event{Call: calls.Write, PID: 42, Comm: "curl", Local: old.local, Remote: old.remote})
	for _, k := range []sockKey{made, old} {
		tab.putBefore(k, decode.Owner{PID: 42, Comm: "curl", Before: true, State: calls.TCPEstablished})
	}
	if got, _ := tab.get(made); got.Before {
		t.Errorf("the connection made while the snapshot was read: %+v, want it new", got)
	}
	if got, _ := tab.get(old); !got.Before || got.State != calls.TCPEstablished {
		t.Errorf("the older connection a call named first: %+v, want it older than watch", got)
	}
}
