package decode

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

var fuzzLinkTypes = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeLinuxSLL, layers.LinkTypeLinuxSLL2,
	layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6,
}

// FuzzDecode feeds arbitrary bytes through every link-layer path: Decode
// must never panic, and what it returns must be consistent.
func FuzzDecode(f *testing.F) {
	synOpts := []byte{optMSS, 4, 0x05, 0xb4, optSACKPermitted, 2, optTimestamps, 10, 0, 0, 0, 1, 0, 0, 0, 0, optNOP, optWindowScale, 3, 7}
	f.Add(uint8(0), ether(etherTypeIPv4, ipv4(protoTCP, tcpHeader(1, 2, 3, 4, SYN, synOpts))), 0)
	f.Add(uint8(2), join([]byte{0x86, 0xdd}, make([]byte, 18), ipv6(protoTCP, tcpHeader(1, 2, 3, 4, ACK, nil))), 100)
	f.Add(uint8(5), ipv6(ipv6HopByHop, join([]byte{protoTCP, 0, 1, 4, 0, 0, 0, 0}, tcpHeader(1, 2, 3, 4, FIN, nil))), 0)
	f.Fuzz(func(t *testing.T, lt uint8, data []byte, extra int) {
		p := capture.Packet{LinkType: fuzzLinkTypes[int(lt)%len(fuzzLinkTypes)], Data: data, Length: len(data) + extra%65536}
		var s Segment
		if err := Decode(&p, &s); err != nil {
			return
		}
		if s.Len < 0 || len(s.Payload) > s.Len {
			t.Fatalf("payload %d bytes captured of %d", len(s.Payload), s.Len)
		}
		if s.Options.WindowScale > 14 {
			t.Fatalf("window scale %d", s.Options.WindowScale)
		}
	})
}

// FuzzTracker drives a Tracker with random segments between a few
// endpoints: it must never panic, states must stay valid, and every
// connection it opens must end exactly once.
func FuzzTracker(f *testing.F) {
	f.Add([]byte{0, 2, 0, 0, 1, 18, 0, 0, 0, 16, 1, 1, 0, 17, 1, 1, 1, 17, 1, 1, 0, 16, 2, 2})
	f.Add([]byte{0, 2, 0, 0, 1, 20, 0, 1, 0, 2, 0, 0, 0, 2, 5, 0})
	f.Fuzz(func(t *testing.T, script []byte) {
		h := &checkHandler{t: t, open: map[int]bool{}}
		tr := NewTracker(h, TrackerConfig{MaxConnections: 3, Linger: time.Millisecond})
		eps := []netip.AddrPort{
			netip.MustParseAddrPort("127.0.0.1:40000"),
			netip.MustParseAddrPort("127.0.0.1:8080"),
			netip.MustParseAddrPort("[::1]:40001"),
		}
		now := time.Unix(1000, 0)
		// Each segment takes 4 bytes: direction/endpoints, flags, seq
		// and ack deltas.
		for i := 0; i+4 <= len(script) && i < 4*2000; i += 4 {
			b := script[i : i+4]
			src, dst := eps[int(b[0])%3], eps[int(b[0]>>2)%3]
			var s Segment
			s.Time = now.Add(time.Duration(i) * time.Microsecond)
			s.Src, s.Dst = src, dst
			s.Flags = Flags(b[1])
			s.Seq = uint32(b[2]) * 1000
			s.Ack = uint32(b[3]) * 1000
			s.Len = int(b[0]>>4) * 100
			s.Window = uint16(b[3])
			s.Options.WindowScale = -1
			tr.Observe(&s)
		}
		tr.Flush()
		for id := range h.open {
			t.Fatalf("connection %d never ended", id)
		}
		st := tr.Stats()
		// An evicted connection that a later packet resumes ends once
		// more, under the same ID.
		if int64(h.ended) != st.Connections+st.Resumed {
			t.Fatalf("%d connections ended, %d opened, %d resumed", h.ended, st.Connections, st.Resumed)
		}
	})
}

type checkHandler struct {
	t     *testing.T
	open  map[int]bool
	ended int
}

func (h *checkHandler) Segment(c *Connection, st *Step) {
	h.open[c.ID] = true
	for _, s := range st.After {
		if !s.Valid() {
			h.t.Fatalf("connection %d: invalid state %d", c.ID, s)
		}
	}
	if st.Index != c.Packets {
		h.t.Fatalf("step index %d, packets %d", st.Index, c.Packets)
	}
}

func (h *checkHandler) Ended(c *Connection) {
	if !h.open[c.ID] {
		h.t.Fatalf("connection %d ended twice or never seen", c.ID)
	}
	delete(h.open, c.ID)
	h.ended++
	_ = c.ConnState()
	_ = c.History()
	_ = c.Handshake().String()
	_ = c.CloseKind().String()
	for _, side := range []Side{Client, Server} {
		for _, s := range c.States(side) {
			if !s.Valid() || s == Unknown {
				h.t.Fatalf("connection %d: state list holds %v", c.ID, s)
			}
		}
	}
}

// FuzzReassembly feeds random IPv4 and IPv6 fragments of one or two
// datagrams: reassembly must never panic, never deliver a segment longer
// than an IP payload can be, keep its memory bounded, and keep the
// packet counts adding up.
func FuzzReassembly(f *testing.F) {
	seg := join(tcpHeader(40000, 80, 1001, 5001, PSH|ACK, nil), make([]byte, 64))
	f.Add([]byte{0, 0, 3, 1, 1, 3, 0, 2, 0}, seg)
	f.Add([]byte{1, 0, 2, 1, 0, 4, 0, 2, 0, 1, 3, 8, 0}, seg)
	f.Fuzz(func(t *testing.T, script []byte, payload []byte) {
		h := &segLog{}
		tr := NewTracker(h, TrackerConfig{})
		var n Counts
		now := time.Unix(1000, 0)
		// Each piece takes 4 bytes: version and id, offset (×8), length
		// (×8, 0 for the rest), more-fragments flag and time step.
		for i := 0; i+4 <= len(script) && i < 4*500; i += 4 {
			b := script[i : i+4]
			off := int(b[1]) * 8
			if off > len(payload) {
				off = len(payload)
			}
			end := len(payload)
			if b[2] != 0 {
				end = min(end, off+int(b[2])*8)
			}
			more := b[3]&1 != 0
			now = now.Add(time.Duration(b[3]>>1) * time.Second)
			var frame []byte
			if b[0]&1 == 0 {
				frame = ipv4(protoTCP, payload[off:end])
				binary.BigEndian.PutUint16(frame[4:], uint16(b[0]>>1))
				field := uint16(off / 8)
				if more {
					field |= 0x2000
				}
				binary.BigEndian.PutUint16(frame[6:], field)
			} else {
				fh := make([]byte, 8)
				fh[0] = protoTCP
				field := uint16(off) &^ 7
				if more {
					field |= 1
				}
				binary.BigEndian.PutUint16(fh[2:], field)
				binary.BigEndian.PutUint32(fh[4:], uint32(b[0]>>1))
				frame = ipv6(ipv6Fragment, join(fh, payload[off:end]))
			}
			p := capture.Packet{LinkType: layers.LinkTypeRaw, Data: frame, Length: len(frame), Timestamp: now}
			tr.ObservePacket(&p, &n)
			if len(tr.frags.open) > maxFragDatagrams {
				t.Fatalf("%d datagrams open", len(tr.frags.open))
			}
		}
		tr.Flush()
		if n.Packets != n.TCP+n.Fragments+n.Other+n.Malformed {
			t.Fatalf("counts do not add up: %+v", n)
		}
		for _, s := range h.segs {
			if s.Len > maxDatagram || len(s.Payload) > s.Len {
				t.Fatalf("segment of %d bytes, %d captured", s.Len, len(s.Payload))
			}
		}
	})
}
