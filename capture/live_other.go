//go:build !linux

package capture

import (
	"context"
	"errors"

	"github.com/gopacket/gopacket/layers"
)

// errLiveUnsupported is what every live capture call returns where there is
// no AF_PACKET.
var errLiveUnsupported = errors.New("live capture needs Linux (AF_PACKET); on this system capture with tcpdump -w FILE and run: socktrace replay FILE")

// LiveSource is a live capture. On this system there is none: OpenLive
// always fails.
type LiveSource struct{}

// OpenLive fails: live capture is implemented on Linux only.
func OpenLive(iface string, opts LiveOptions) (*LiveSource, error) {
	return nil, errLiveUnsupported
}

// LiveFilterLinkType fails: live capture is implemented on Linux only.
func LiveFilterLinkType(iface string) (layers.LinkType, error) {
	return 0, errLiveUnsupported
}

// ReadPacket fails: live capture is implemented on Linux only.
func (s *LiveSource) ReadPacket(p *Packet) error { return errLiveUnsupported }

// ReadPacketContext fails: live capture is implemented on Linux only.
func (s *LiveSource) ReadPacketContext(ctx context.Context, p *Packet) error {
	return errLiveUnsupported
}

// Stop fails: live capture is implemented on Linux only.
func (s *LiveSource) Stop() error { return errLiveUnsupported }

// Close does nothing.
func (s *LiveSource) Close() error { return nil }

// Stats fails: live capture is implemented on Linux only.
func (s *LiveSource) Stats() (LiveStats, error) { return LiveStats{}, errLiveUnsupported }

// Backlog is 0: there is no live capture here.
func (s *LiveSource) Backlog() float64 { return 0 }

// Interface returns "".
func (s *LiveSource) Interface() string { return "" }

// LinkType returns LinkTypeNull.
func (s *LiveSource) LinkType() layers.LinkType { return layers.LinkTypeNull }

// SnapLen returns 0.
func (s *LiveSource) SnapLen() int { return 0 }
