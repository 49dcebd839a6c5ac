package main

import (
	"net/netip"
	"testing"

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
