// Package freeport finds a free TCP port for tests that must name a port
// in advance (the demo's --port), outside the kernel's ephemeral range:
// a port taken from that range by listening on port 0 and closing can be
// picked a moment later as the local port of any other program's
// outgoing connection (other tests make thousands), and binding it then
// fails with EADDRINUSE.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// ephemeralLow is the first port of the kernel's ephemeral range (its
// default when /proc does not say).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				return n
			}
		}
	}
	return 32768
}

// Below returns a TCP port on host (an IP address) that nothing listens
// on or is bound to now, chosen at random between 10000 and the start of
// the ephemeral range, so that no connection is given it as its local
// port. Only another explicit bind can take it before the caller does.
func Below(host string) (int, error) {
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return 0, err
	}
	low, high := 10000, ephemeralLow()-1
	if high <= low {
		low = 1024
	}
	var last error
	for range 200 {
		port := low + rand.IntN(high-low+1)
		ln, err := net.Listen("tcp", netip.AddrPortFrom(addr, uint16(port)).String())
		if err != nil {
			last = err
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no free port between %d and %d on %s: %w", low, high, host, last)
}
