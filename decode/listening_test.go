package decode

import (
	"net/netip"
	"testing"
	"time"
)

// rolesOf records the roles a tracker gave the connections it ended.
type rolesOf struct {
	client, server netip.AddrPort
	guessed        bool
}

type rolesCollector struct{ out []rolesOf }

func (h *rolesCollector) Segment(*Connection, *Step) {}
func (h *rolesCollector) Ended(c *Connection) {
	h.out = append(h.out, rolesOf{c.Client, c.Server, c.RolesGuessed})
}

// TestListeningTellsRoles: a connection seen midstream has its server
// known from the listeners (TrackerConfig.Listening) whichever port is
// lower, and guessed from the ports without them.
func TestListeningTellsRoles(t *testing.T) {
	// The listener's port is the higher one: the guess by ports is wrong.
	server := netip.MustParseAddrPort("127.0.0.1:50000")
	client := netip.MustParseAddrPort("127.0.0.1:40000")
	listens := func(a netip.AddrPort) bool { return a == server }
	for _, tc := range []struct {
		name      string
		listening func(netip.AddrPort) bool
		fromSrv   bool
		want      rolesOf
	}{
		{"server speaks first, listeners known", listens, true, rolesOf{client, server, false}},
		{"client speaks first, listeners known", listens, false, rolesOf{client, server, false}},
		{"no listeners: the lower port is taken for the server", nil, true, rolesOf{server, client, true}},
		{"no listener among the two: guessed", func(netip.AddrPort) bool { return false }, false, rolesOf{server, client, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &rolesCollector{}
			tr := NewTracker(h, TrackerConfig{Listening: tc.listening})
			s := Segment{Time: time.Unix(1_700_000_000, 0), Flags: ACK | PSH, Seq: 100, Ack: 200, Len: 5, Window: 512, Src: client, Dst: server}
			if tc.fromSrv {
				s.Src, s.Dst = server, client
			}
			tr.Observe(&s)
			tr.Flush()
			if len(h.out) != 1 || h.out[0] != tc.want {
				t.Errorf("ended %+v, want %+v", h.out, tc.want)
			}
		})
	}
}
