package main

import (
	"math/bits"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

// packetStore holds the copies of captured packets that a live run keeps
// a while: in the ownFilter's limbo until a call names their connection,
// then in the streamer until the tracker is fed them. A packet is copied
// once, when it leaves the capture ring, into a buffer of its size class
// that the packets after it reuse; the limbo and the streamer pass the
// slot's number along, not the packet. So a run that streams for days
// allocates nothing per packet once the store has grown to what it holds
// at once, and the garbage collector has little to scan: the slots hold
// one pointer each, to bytes it does not look into.
type packetStore struct {
	slots heldTable[heldPacket]
	// spare are the buffers given back, by size class (bufClass); their
	// capacity, spareBytes, is bounded by maxSpareBytes: past it a
	// buffer is let go, so that a burst does not stay held after it (the
	// process's heap is bounded, main.go: what is kept spare makes the
	// collector run more often). What a 50 ms tick gives back and takes
	// again at 30k packets/s is about 1.5 MB.
	spare      [bufClasses][][]byte
	spareBytes int
}

// heldPacket is a capture.Packet without pointers but for its bytes (the
// time in Unix nanoseconds: time.Time holds a pointer to its location).
type heldPacket struct {
	data     []byte
	at       int64
	length   int32
	linkType layers.LinkType
}

const (
	maxSpareBytes = 2 << 20
	// Buffers are made 128 bytes (a handshake segment in its link
	// header), then in four steps to each power of two, up to 256 KiB
	// (the snap length): a packet takes the least that holds it, and
	// wastes at most a quarter of its buffer.
	minBufShift = 7
	maxBufShift = 18
	bufClasses  = (maxBufShift-minBufShift)*4 + 1
)

// bufClass is the size class of a buffer for n bytes, and the class's
// size (bufClasses: none, too large to keep).
func bufClass(n int) (class, size int) {
	if n <= 1<<minBufShift {
		return 0, 1 << minBufShift
	}
	k := bits.Len(uint(n-1)) - 1 // 1<<k < n <= 1<<(k+1)
	if k >= maxBufShift {
		return bufClasses, n
	}
	step := 1 << (k - 2)
	j := (n - 1<<k + step - 1) / step // 1..4
	return (k-minBufShift)*4 + j, 1<<k + j*step
}

// put copies p into a slot and returns the slot's number.
func (s *packetStore) put(p *capture.Packet) int32 {
	i := s.slots.slot()
	h := s.slots.at(i)
	h.data = append(s.buffer(len(p.Data)), p.Data...)
	h.at = p.Timestamp.UnixNano()
	h.length = int32(min(p.Length, 1<<31-1))
	h.linkType = p.LinkType
	return i
}

// buffer returns an empty buffer with room for n bytes.
func (s *packetStore) buffer(n int) []byte {
	c, size := bufClass(n)
	if c == bufClasses {
		return make([]byte, 0, n)
	}
	if k := len(s.spare[c]); k > 0 {
		b := s.spare[c][k-1]
		s.spare[c][k-1] = nil
		s.spare[c] = s.spare[c][:k-1]
		s.spareBytes -= cap(b)
		return b
	}
	return make([]byte, 0, size)
}

// at is when the packet in slot i was captured, in Unix nanoseconds.
func (s *packetStore) at(i int32) int64 { return s.slots.at(i).at }

// size is the number of bytes the packet in slot i holds.
func (s *packetStore) size(i int32) int { return len(s.slots.at(i).data) }

// packet fills p with the packet in slot i; p.Data is the slot's, valid
// until the slot is released.
func (s *packetStore) packet(i int32, p *capture.Packet) {
	h := s.slots.at(i)
	*p = capture.Packet{
		Timestamp: time.Unix(0, h.at),
		LinkType:  h.linkType,
		Data:      h.data,
		Length:    int(h.length),
	}
}

// take fills p with the packet in slot i, its Data p's own from now on,
// and releases the slot.
func (s *packetStore) take(i int32, p *capture.Packet) {
	s.packet(i, p)
	s.slots.at(i).data = nil
	s.release(i)
}

// release frees slot i, and its buffer, for the packets to come.
func (s *packetStore) release(i int32) {
	h := s.slots.at(i)
	b := h.data[:0]
	h.data = nil
	s.slots.release(i)
	c, size := bufClass(cap(b))
	if b == nil || c == bufClasses || cap(b) != size || s.spareBytes+cap(b) > maxSpareBytes {
		return
	}
	s.spare[c] = append(s.spare[c], b)
	s.spareBytes += cap(b)
}

// held is the number of packets the store holds.
func (s *packetStore) held() int { return s.slots.held() }
