package decode

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
)

// The tracker's table of open connections. Every packet looks its
// connection up, so the table is built for that: a key is hashed once per
// packet by a few multiplications (hash), and the table is open addressing
// with linear probing over a power-of-two array of small slots (the hash,
// the connection, which of its keys), so that a lookup reads one or two
// cache lines and compares the full key only when the hashes agree. The
// same hash keys the tombs. A Go map of connKey hashed the 64-byte key
// with its generic hash and cost about a tenth of a replay
// (docs/performance.md).

// keySeed makes the hash differ from process to process, so that input
// cannot be made to collide on purpose (it would only slow the table, but
// among the tombs, which are known by their hash alone, it would confuse
// two connections).
var keySeed = [6]uint64{rand.Uint64(), rand.Uint64(), rand.Uint64(), rand.Uint64(), rand.Uint64(), rand.Uint64()}

// mix is wyhash's multiply-and-fold: every bit of x and y reaches every
// bit of the result.
func mix(x, y uint64) uint64 {
	hi, lo := bits.Mul64(x, y)
	return hi ^ lo
}

// hash returns k's 64-bit hash, never 0. It covers the addresses' 16
// bytes, whether each is IPv4, the ports and the tunnel key; equal keys
// hash alike, and keys that differ only in an IPv6 zone (which no
// decoded packet has) collide and are told apart by comparing them.
func (k *connKey) hash() uint64 {
	a, b := k.a.Addr(), k.b.Addr()
	ports := uint64(k.a.Port())<<16 | uint64(k.b.Port())
	if a.Is4() {
		ports |= 1 << 32
	}
	if b.Is4() {
		ports |= 1 << 33
	}
	ahi, alo := addrWords(a)
	bhi, blo := addrWords(b)
	h := mix(ahi^keySeed[0], alo^keySeed[1]) ^
		mix(bhi^keySeed[2], blo^keySeed[3]) ^
		mix(ports^keySeed[4], k.tun^keySeed[5])
	h = mix(h, 0x9e3779b97f4a7c15)
	if h == 0 {
		h = 1
	}
	return h
}

// addrWords returns a's 16 bytes (an IPv4 address in its IPv4-mapped
// form) as two words. It reads each half of As16's array as it was
// written: copying the array whole, as the hash once did, made a 16-byte
// load of two 8-byte stores just made, which the CPU cannot forward
// (perf annotate: half of the hash's time, ~3 % of a replay of the
// parallel file). An IPv4 address takes the 4-byte path.
func addrWords(a netip.Addr) (hi, lo uint64) {
	if a.Is4() {
		a4 := a.As4()
		return 0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(a4[:]))
	}
	a16 := a.As16()
	return binary.BigEndian.Uint64(a16[:8]), binary.BigEndian.Uint64(a16[8:])
}

// connSlot is one place in a connTable: a key's hash (0 when the slot is
// empty), its connection, and which of the connection's keys it is.
type connSlot struct {
	h     uint64
	c     *Connection
	alias int32 // -1: c.key; otherwise c.paths.aliases[alias]
}

func (s *connSlot) key() *connKey {
	if s.alias < 0 {
		return &s.c.key
	}
	return &s.c.paths.aliases[s.alias]
}

// connTable maps keys to connections: each connection under its own key,
// and a tunneled one under its aliases too (tunnel_track.go).
type connTable struct {
	slots []connSlot // len is a power of two, at most half full
	used  int        // slots in use
}

// minConnSlots is a new table's size.
const minConnSlots = 64

// get returns the connection under k, whose hash is h, or nil.
func (t *connTable) get(k *connKey, h uint64) *Connection {
	if t.used == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.h == 0 {
			return nil
		}
		if s.h == h && *s.key() == *k {
			return s.c
		}
	}
}

// put enters c under k (hash h; alias as in connSlot), replacing what was
// there.
func (t *connTable) put(k *connKey, h uint64, c *Connection, alias int32) {
	if (t.used+1)*2 > len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for ; t.slots[i].h != 0; i = (i + 1) & mask {
		if s := &t.slots[i]; s.h == h && *s.key() == *k {
			break
		}
	}
	if t.slots[i].h == 0 {
		t.used++
	}
	t.slots[i] = connSlot{h: h, c: c, alias: alias}
}

// del removes k (hash h), if present, and returns the connection it led
// to.
func (t *connTable) del(k *connKey, h uint64) *Connection {
	if t.used == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for {
		s := &t.slots[i]
		if s.h == 0 {
			return nil
		}
		if s.h == h && *s.key() == *k {
			break
		}
		i = (i + 1) & mask
	}
	c := t.slots[i].c
	t.used--
	// Shift back the slots after i that probed past it, so that no
	// lookup meets a hole before its key (no tombstones needed).
	for j := (i + 1) & mask; t.slots[j].h != 0; j = (j + 1) & mask {
		home := t.slots[j].h & mask
		// Slot j may move to i when its home is not within (i, j].
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = connSlot{}
	return c
}

func (t *connTable) grow() {
	old := t.slots
	t.slots = make([]connSlot, max(2*len(old), minConnSlots))
	mask := uint64(len(t.slots) - 1)
	for _, s := range old {
		if s.h == 0 {
			continue
		}
		i := s.h & mask
		for t.slots[i].h != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// connections appends the connections in the table, each once (under its
// own key, not its aliases), to dst.
func (t *connTable) connections(dst []*Connection) []*Connection {
	for i := range t.slots {
		if s := &t.slots[i]; s.h != 0 && *s.key() == s.c.key {
			dst = append(dst, s.c)
		}
	}
	return dst
}
