package decode

import "github.com/socktrace/socktrace/capture"

// Decoder decodes packets with the fast path (Decode) and, for what that
// does not handle, with the gopacket slow path (slowpath.go), which
// follows tunnels and other link types to the innermost TCP segment. It
// keeps buffers between packets and is not safe for concurrent use. The
// zero value is ready.
type Decoder struct {
	slow *slowPath
	why  Undecoded
}

// Decode reads the TCP segment in p into s, as the package's Decode does,
// but also through tunnels and link types the fast path does not read.
// s.Tunnel, when set, points into the Decoder and is valid until the next
// call. When Decode returns an error, Why says what stopped it.
func (d *Decoder) Decode(p *capture.Packet, s *Segment) error {
	err := Decode(p, s)
	if err == nil || err == ErrFragment {
		return err
	}
	if err != ErrNotTCP && err != ErrUnsupportedLink {
		d.why = Undecoded{Kind: UndecodedMalformed}
		if m, ok := err.(*MalformedError); ok {
			d.why.Detail = m.reason
		}
		return err
	}
	if d.slow == nil {
		d.slow = new(slowPath)
	}
	err = d.slow.decode(p, s)
	d.why = d.slow.why
	if err != nil && d.why.Kind == 0 {
		// Every stop sets a reason; this is a net under a missed one.
		d.why = Undecoded{Kind: UndecodedLinkProtocol, Detail: "unknown"}
	}
	return err
}

// SampledTCP is how many TCP segments the last packet, an sFlow datagram,
// held as samples; 0 for any other packet.
func (d *Decoder) SampledTCP() int {
	if d.slow == nil || d.why.Kind != UndecodedSampled {
		return 0
	}
	return d.slow.sflow.tcp
}

// Why says what stopped the last Decode that returned an error.
func (d *Decoder) Why() Undecoded { return d.why }
