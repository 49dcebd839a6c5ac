package decode

import (
	"testing"
	"time"
)

type handshakeRoles struct {
	rolesOf
	handshake Handshake
}

type handshakeCollector struct{ out []handshakeRoles }

func (h *handshakeCollector) Segment(*Connection, *Step) {}
func (h *handshakeCollector) Ended(c *Connection) {
	h.out = append(h.out, handshakeRoles{rolesOf{c.Client, c.Server, c.RolesGuessed}, c.Handshake()})
}

// TestImpossibleFlagsOpenNothing: a SYN with RST beside it (a scanner's
// probe; Linux drops it on a listener) says nothing of the roles: it
// opens no connection from its sender as a SYN would, nor makes its
// sender the server as a SYN-ACK would. The roles are guessed from
// the ports, as for any segment seen midstream. (tcpdump's
// tcp_eight_lowest_weight_flags_set.pcap made port 80 the client.)
func TestImpossibleFlagsOpenNothing(t *testing.T) {
	// (A SYN+FIN is taken as a SYN from its sender, as Zeek does: the
	// crafted a10-zeek-states capture checks it.)
	for _, flags := range []Flags{SYN | RST, SYN | ACK | RST, SYN | FIN | RST | PSH | URG | ECE | CWR | ACK} {
		t.Run(flags.String(), func(t *testing.T) {
			h := &handshakeCollector{}
			tr := NewTracker(h, TrackerConfig{})
			s := Segment{Time: time.Unix(1_700_000_000, 0), Src: cl, Dst: sv, Flags: flags, Seq: 100, Ack: 500, Window: 512}
			tr.Observe(&s)
			tr.Flush()
			if len(h.out) != 1 {
				t.Fatalf("%d connections, want 1", len(h.out))
			}
			c := h.out[0]
			if c.client != cl || c.server != sv || !c.guessed || c.handshake == ThreeWay {
				t.Errorf("client %v, server %v, roles guessed %v, handshake %v; want %v → %v guessed from the ports, no handshake",
					c.client, c.server, c.guessed, c.handshake, cl, sv)
			}
		})
	}
}
