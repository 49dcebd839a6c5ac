package capture

import (
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Packet is one captured frame. Sources reuse a Packet's buffers: Data and
// Comments are valid only until the next call to ReadPacket on the same
// source, so a caller that keeps them must copy them.
type Packet struct {
	// Timestamp is when the kernel (or the file) says the frame was seen,
	// wall clock, with up to nanosecond resolution.
	Timestamp time.Time
	// LinkType says how Data begins (Ethernet, LINUX_SLL2, RAW, ...).
	LinkType layers.LinkType
	// Data holds the captured bytes, at most the snap length.
	Data []byte
	// Length is the frame's length on the wire, which is larger than
	// len(Data) when the snap length cut it short.
	Length int
	// InterfaceIndex is the pcapng interface the frame arrived on (0 for
	// pcap files and live captures).
	InterfaceIndex int
	// Comments are the pcapng packet comments (opt_comment), if any.
	Comments []string
}

// Source hands out packets one at a time.
type Source interface {
	// ReadPacket fills p with the next packet. It returns io.EOF after the
	// last one; any other error ends the source, and every packet read
	// before it is still good.
	ReadPacket(p *Packet) error
	// Close releases the source's resources.
	Close() error
}
