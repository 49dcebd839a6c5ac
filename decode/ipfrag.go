package decode

import (
	"net/netip"
	"time"
)

// IP fragment reassembly. A TCP segment larger than a link's MTU on the
// way (or sent by a stack that fragments instead of segmenting) arrives
// as IPv4 fragments or IPv6 Fragment-header pieces; only the first holds
// the TCP header, and only all of them together hold its length. The
// reassembler keeps the pieces of a bounded number of datagrams, each for
// a bounded time, and handles overlaps as Linux does since 4.19
// (inet_frag_queue_insert; RFC 5722 for IPv6): an exact duplicate of a
// piece is dropped, any other overlap drops the whole datagram.

// Reassembly bounds, after Linux's defaults where it has one.
const (
	fragTimeout      = 30 * time.Second // net.ipv4.ipfrag_time
	maxFragDatagrams = 64               // datagrams in progress at once
	maxFragPieces    = 64               // pieces per datagram
	maxDatagram      = 65535            // an IP payload cannot be longer
)

// fragment describes the IP fragment a packet holds: Decode fills it
// when it returns errFragment.
type fragment struct {
	src, dst netip.Addr
	id       uint32
	v6       bool
	offset   int    // of this piece in the datagram's payload, in bytes
	more     bool   // more fragments follow (MF / M flag)
	data     []byte // the piece as captured (aliases the packet)
	length   int    // the piece's length by the IP header
}

type fragKey struct {
	src, dst netip.Addr
	id       uint32
	v6       bool
}

type fragPiece struct{ from, to int }

// datagram is one datagram being put back together.
type datagram struct {
	key      fragKey
	first    time.Time
	buf      []byte // the payload at its offsets, as far as captured
	pieces   [maxFragPieces]fragPiece
	captured [maxFragPieces]int // how much of each piece the capture holds
	n        int
	total    int // the payload's length, once the last piece came; else -1
}

// FragmentStats counts what the reassembler did.
type FragmentStats struct {
	Fragments   int64 // packets that were IP fragments of TCP
	Reassembled int64 // datagrams put back together
	Dropped     int64 // datagrams given up: overlapping pieces, timed out, or past the bounds
}

// reassembler holds the datagrams in progress, oldest first.
type reassembler struct {
	open []*datagram
	free []*datagram
	out  []byte // the last datagram delivered
	// lastPieces is how many pieces the last datagram delivered had.
	lastPieces int
	stats      FragmentStats
}

// add takes one fragment seen at now and returns the datagram's payload
// (valid until the next call) and its length by the IP headers when the
// fragment completes it. captured is how much of the payload the capture
// holds, from its start.
func (r *reassembler) add(f *fragment, now time.Time) (payload []byte, length int, ok bool) {
	r.stats.Fragments++
	r.expire(now)
	key := fragKey{f.src, f.dst, f.id, f.v6}
	var d *datagram
	for _, x := range r.open {
		if x.key == key {
			d = x
			break
		}
	}
	end := f.offset + f.length
	if end > maxDatagram || f.length < 0 || f.offset < 0 || f.length == 0 && f.more {
		if d != nil {
			r.drop(d)
		} else {
			r.stats.Dropped++
		}
		return nil, 0, false
	}
	if d == nil {
		if len(r.open) == maxFragDatagrams {
			r.drop(r.open[0]) // the oldest makes room, as a full queue evicts
		}
		d = r.get()
		d.key, d.first, d.total = key, now, -1
		r.open = append(r.open, d)
	}
	for i := 0; i < d.n; i++ {
		p := d.pieces[i]
		if p.from == f.offset && p.to == end {
			return nil, 0, false // an exact duplicate: dropped
		}
		if f.offset < p.to && p.from < end {
			r.drop(d) // overlapping pieces: the whole datagram goes
			return nil, 0, false
		}
	}
	if !f.more {
		if d.total >= 0 && d.total != end || end < d.highest() {
			r.drop(d) // two different ends: inconsistent
			return nil, 0, false
		}
		d.total = end
	} else if d.total >= 0 && end > d.total {
		r.drop(d)
		return nil, 0, false
	}
	if d.n == maxFragPieces {
		r.drop(d)
		return nil, 0, false
	}
	if len(d.buf) < end {
		if cap(d.buf) < end {
			nb := make([]byte, end, max(end, 2*cap(d.buf)))
			copy(nb, d.buf)
			d.buf = nb
		}
		d.buf = d.buf[:end]
	}
	got := copy(d.buf[f.offset:end], f.data)
	d.pieces[d.n] = fragPiece{f.offset, end}
	d.captured[d.n] = got
	d.n++
	if d.total < 0 || !d.complete() {
		return nil, 0, false
	}
	// Complete: hand out the payload as far as the capture holds it
	// without a hole (a piece cut by the snap length ends it).
	prefix := d.capturedPrefix()
	r.out = append(r.out[:0], d.buf[:prefix]...)
	length = d.total
	r.lastPieces = d.n
	r.stats.Reassembled++
	r.remove(d)
	return r.out, length, true
}

// highest is the end of the furthest piece.
func (d *datagram) highest() int {
	h := 0
	for i := 0; i < d.n; i++ {
		h = max(h, d.pieces[i].to)
	}
	return h
}

// complete reports whether the pieces cover [0, total) without a hole
// (they never overlap).
func (d *datagram) complete() bool {
	sum := 0
	for i := 0; i < d.n; i++ {
		sum += d.pieces[i].to - d.pieces[i].from
	}
	return sum == d.total
}

// capturedPrefix is how many bytes from the start the capture holds.
func (d *datagram) capturedPrefix() int {
	at := 0
	for moved := true; moved; {
		moved = false
		for i := 0; i < d.n; i++ {
			p := d.pieces[i]
			if p.from == at && p.to > at {
				if d.captured[i] < p.to-p.from {
					return at + d.captured[i]
				}
				at, moved = p.to, true
			}
		}
	}
	return at
}

// expire drops the datagrams older than the timeout.
func (r *reassembler) expire(now time.Time) {
	for len(r.open) > 0 && now.Sub(r.open[0].first) >= fragTimeout {
		r.drop(r.open[0])
	}
}

func (r *reassembler) drop(d *datagram) {
	r.stats.Dropped++
	r.remove(d)
}

func (r *reassembler) remove(d *datagram) {
	for i, x := range r.open {
		if x == d {
			copy(r.open[i:], r.open[i+1:])
			r.open[len(r.open)-1] = nil
			r.open = r.open[:len(r.open)-1]
			break
		}
	}
	d.n = 0
	d.buf = d.buf[:0]
	r.free = append(r.free, d)
}

func (r *reassembler) get() *datagram {
	if n := len(r.free); n > 0 {
		d := r.free[n-1]
		r.free = r.free[:n-1]
		return d
	}
	return &datagram{}
}
