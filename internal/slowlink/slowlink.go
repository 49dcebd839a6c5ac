// Package slowlink builds a slow link between two network namespaces, so
// that the demo's client and server are a real round trip apart: on
// loopback a round trip takes tens of microseconds and every call seems
// instant.
//
// This kernel has no netem qdisc, so the delay line is socktrace's own:
// each namespace holds a TUN device, and a relay in this process reads
// every packet from one TUN device, holds it for half the round-trip time
// and writes it to the other (dropping it first with the loss
// probability). Both directions are delayed, so a round trip takes the
// full RTT.
//
// The namespaces are named slowlink-<pid>-client and slowlink-<pid>-server
// (socktrace's pid), so that a later run can tell a leftover of a run
// that was killed (its pid is gone) and remove it: Create does that first.
// Close removes them on every normal path, Ctrl-C included.
package slowlink

import (
	"fmt"
	"net/netip"
	"time"
)

// Prefix starts the name of every namespace this package makes.
const Prefix = "slowlink-"

// Config says how slow the link is.
type Config struct {
	// RTT is the round-trip time the relay adds: each packet is held
	// RTT/2 in each direction.
	RTT time.Duration
	// Loss is the probability, 0 to 1, that the relay drops a packet.
	Loss float64
	// IPv6 gives the two ends IPv6 addresses instead of IPv4 ones.
	IPv6 bool
}

// The addresses of the two ends.
var (
	ClientAddr4 = netip.MustParseAddr("10.99.0.1")
	ServerAddr4 = netip.MustParseAddr("10.99.0.2")
	ClientAddr6 = netip.MustParseAddr("fd99::1")
	ServerAddr6 = netip.MustParseAddr("fd99::2")
)

// Stats counts what the relay did.
type Stats struct {
	Relayed  int64 // packets passed on
	Lost     int64 // packets dropped on purpose (Config.Loss)
	Overflow int64 // packets dropped because the queue was full
}

func (c Config) validate() error {
	if c.RTT < 0 || c.RTT > time.Minute {
		return fmt.Errorf("round-trip time %v is out of range: use 0 to 1m", c.RTT)
	}
	if c.Loss < 0 || c.Loss > 1 {
		return fmt.Errorf("loss %v is out of range: use 0%% to 100%%", c.Loss)
	}
	return nil
}
