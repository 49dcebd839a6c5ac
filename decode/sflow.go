package decode

import (
	"encoding/binary"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

// sFlow (sFlow version 5, sflow.org): a switch samples 1 in N packets it
// forwards and sends the first bytes of each (a "raw packet header"
// record, 128 bytes by default) to a collector, several per UDP datagram
// to port 6343. A sampled TCP header is a real segment, but of a flow the
// capture does not hold: its neighbours were not sampled (1 in N, N often
// 1000 or more), so no handshake, close or sequence numbers could be
// followed. socktrace counts the TCP segments it finds in samples
// (Counts.SampledTCP, "sampled" in the summary) and opens no connection
// for them; tshark dissects each sample as TCP and so shows one stream per
// sample.

// Bounds of the sFlow walk: more is counted as far as these go.
const (
	maxSFlowSamples = 64
	maxSFlowRecords = 32
)

// sflowCounter counts the TCP segments sampled in one sFlow datagram.
type sflowCounter struct {
	tcp int
	pkt capture.Packet
	seg Segment
}

// count walks an sFlow v5 datagram and sets c.tcp to the number of
// sampled Ethernet frames holding a TCP header. A datagram cut short or
// not sFlow v5 counts what was read before.
func (c *sflowCounter) count(b []byte) {
	c.tcp = 0
	r := xdr{b: b}
	if r.u32() != 5 {
		return
	}
	switch r.u32() { // agent address type
	case 1:
		r.skip(4)
	case 2:
		r.skip(16)
	default:
		return
	}
	r.skip(12) // sub-agent id, sequence number, uptime
	samples := r.u32()
	for i := uint32(0); i < samples && i < maxSFlowSamples && r.ok(); i++ {
		format, body := r.u32(), r.opaque()
		switch format { // enterprise 0
		case 1: // flow sample
			c.flowSample(body, false)
		case 3: // expanded flow sample
			c.flowSample(body, true)
		}
	}
}

func (c *sflowCounter) flowSample(b []byte, expanded bool) {
	r := xdr{b: b}
	if expanded {
		// sequence, source id type and index, rate, pool, drops, input
		// format and value, output format and value
		r.skip(4 * 10)
	} else {
		r.skip(4 * 7) // sequence, source id, rate, pool, drops, input, output
	}
	records := r.u32()
	for i := uint32(0); i < records && i < maxSFlowRecords && r.ok(); i++ {
		format, body := r.u32(), r.opaque()
		if format == 1 { // raw packet header
			c.rawHeader(body)
		}
	}
}

// rawHeader decodes a sampled packet header the way the fast path decodes
// a captured packet: the header as the capture, the frame's length as
// the packet's.
func (c *sflowCounter) rawHeader(b []byte) {
	r := xdr{b: b}
	proto, frameLen := r.u32(), r.u32()
	r.skip(4) // bytes stripped from the frame's end
	header := r.opaque()
	if !r.ok() || proto != 1 { // 1: Ethernet (ISO 8802-3)
		return
	}
	c.pkt = capture.Packet{LinkType: layers.LinkTypeEthernet, Data: header, Length: max(int(min(frameLen, 1<<20)), len(header))}
	if Decode(&c.pkt, &c.seg) == nil {
		c.tcp++
	}
}

// xdr reads sFlow's XDR encoding: big-endian 32-bit words, opaque data
// padded to 4 bytes. A read past the end sets short and returns zeros.
type xdr struct {
	b     []byte
	short bool
}

func (x *xdr) ok() bool { return !x.short }

func (x *xdr) u32() uint32 {
	if len(x.b) < 4 {
		x.short, x.b = true, nil
		return 0
	}
	v := binary.BigEndian.Uint32(x.b)
	x.b = x.b[4:]
	return v
}

func (x *xdr) skip(n int) {
	if len(x.b) < n {
		x.short, x.b = true, nil
		return
	}
	x.b = x.b[n:]
}

// opaque reads a length-prefixed block; the length is checked against
// what is there, never used to allocate.
func (x *xdr) opaque() []byte {
	n := x.u32()
	if x.short || uint64(n) > uint64(len(x.b)) {
		x.short, x.b = true, nil
		return nil
	}
	v := x.b[:n]
	x.skip(min(int(n+3)&^3, len(x.b)))
	return v
}
