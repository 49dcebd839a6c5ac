package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

// TestPacketStoreKeepsPackets: what is put in a slot comes back as it
// was, time included (as the capture made it, time.Unix), for every size
// a capture hands over, also after slots and buffers were reused; and
// what the store keeps spare stays within its bound.
func TestPacketStoreKeepsPackets(t *testing.T) {
	var s packetStore
	base := time.Unix(1_700_000_000, 123456789)
	sizes := []int{0, 1, 54, 128, 129, 1514, 2048, 65535, 65536 + 40, 262144, 300000}
	for round := range 3 {
		var slots []int32
		var want []capture.Packet
		for i, n := range sizes {
			data := bytes.Repeat([]byte{byte(i + round)}, n)
			p := capture.Packet{Timestamp: base.Add(time.Duration(round*100+i) * time.Microsecond), LinkType: layers.LinkTypeLinuxSLL2, Data: data, Length: n + 10}
			slots = append(slots, s.put(&p))
			want = append(want, p)
		}
		for i, slot := range slots {
			var got capture.Packet
			s.packet(slot, &got)
			w := want[i]
			if got.Timestamp != w.Timestamp || got.LinkType != w.LinkType || got.Length != w.Length || !bytes.Equal(got.Data, w.Data) {
				t.Fatalf("round %d, %d bytes: got %v %v %d (%d bytes), want %v %v %d", round, len(w.Data), got.Timestamp, got.LinkType, got.Length, len(got.Data), w.Timestamp, w.LinkType, w.Length)
			}
			if s.size(slot) != len(w.Data) || s.at(slot) != w.Timestamp.UnixNano() {
				t.Fatalf("round %d: size %d at %d, want %d at %d", round, s.size(slot), s.at(slot), len(w.Data), w.Timestamp.UnixNano())
			}
		}
		// One is taken (its bytes the caller's now), the others released.
		var taken capture.Packet
		s.take(slots[5], &taken)
		for i, slot := range slots {
			if i != 5 {
				s.release(slot)
			}
		}
		if !bytes.Equal(taken.Data, want[5].Data) {
			t.Fatalf("round %d: a taken packet's bytes changed", round)
		}
		if s.held() != 0 {
			t.Fatalf("round %d: %d slots held after all were given back", round, s.held())
		}
	}
	if s.slots.items.len() != len(sizes) {
		t.Errorf("%d slots for %d packets at once", s.slots.items.len(), len(sizes))
	}
	// A burst far past the spare bound leaves no more than the bound.
	var slots []int32
	p := capture.Packet{Timestamp: base, Data: make([]byte, 60000)}
	for range 2 * maxSpareBytes / len(p.Data) {
		slots = append(slots, s.put(&p))
	}
	for _, slot := range slots {
		s.release(slot)
	}
	if s.spareBytes > maxSpareBytes {
		t.Errorf("%d bytes kept spare, bound %d", s.spareBytes, maxSpareBytes)
	}
}

// TestBufClass: each size gets the least class that holds it, a class's
// size is a buffer of its own class, and no buffer wastes more than a
// quarter of itself (but the smallest).
func TestBufClass(t *testing.T) {
	last := -1
	for n := 0; n <= 1<<maxBufShift; n++ {
		c, size := bufClass(n)
		if c == bufClasses || size < n {
			t.Fatalf("bufClass(%d) = %d, %d", n, c, size)
		}
		if c < last {
			t.Fatalf("bufClass(%d) = %d, below %d's class", n, c, n-1)
		}
		last = c
		if c2, size2 := bufClass(size); c2 != c || size2 != size {
			t.Fatalf("bufClass(%d) = %d, %d; of its size: %d, %d", n, c, size, c2, size2)
		}
		if n > 1<<minBufShift && size-n > size/4 {
			t.Fatalf("bufClass(%d): %d bytes, %d wasted", n, size, size-n)
		}
	}
	if c, _ := bufClass(1<<maxBufShift + 1); c != bufClasses {
		t.Errorf("a buffer past 256 KiB is of class %d, not kept (%d)", c, bufClasses)
	}
}
