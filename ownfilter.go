package main

import (
	"bytes"
	"net/netip"
	"slices"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/decode"
)

// Bounds on what a demo or traced run holds while it captures.
const (
	// maxLiveEvents bounds the calls kept: a program that opens and
	// closes sockets in a loop makes two calls a socket, no packet.
	maxLiveEvents = 1 << 16
	// maxLimbo and maxLimboBytes bound the packets held while it is not
	// yet known whose they are, and limboAge how long one is held: a
	// connect()'s SYN reaches the ring before the call that names its
	// local port returns.
	maxLimbo      = 1 << 14
	maxLimboBytes = 16 << 20
	limboAge      = 2 * time.Second
	// maxLimboPerFlow bounds the packets of one 4-tuple held: a flow's
	// first packets (its handshake) are what a call will claim; a bulk
	// transfer must not push every other flow out.
	maxLimboPerFlow = 32
)

// ownFilter keeps, as packets arrive, those of the traced program's (or
// the demo's) connections: a packet is its when both endpoints appear in
// its calls. A packet whose endpoints are not known yet waits in a
// bounded limbo until a call names them or it grows too old; an unrelated
// bulk transfer on the interface therefore costs a bounded amount of
// memory, not one copy of every packet.
type ownFilter struct {
	dc *liveCapture
	// addrs are the endpoints the program's calls named, with when one
	// was last used (by a call or a packet kept), in Unix nanoseconds.
	addrs map[netip.AddrPort]int64
	// pruneAt is the size of addrs at which the ones unused for
	// addrIdle are forgotten: a program running for days names ever new
	// ports.
	pruneAt    int
	grew       bool // addrs grew since limbo was last checked
	limbo      []capture.Packet
	limboBytes int
	perFlow    map[flow]int // packets in limbo, by 4-tuple
	seg        decode.Segment
	dd         decode.DatagramDecoder
	dg         decode.Datagram
	stream     *liveStream // --write, streamed as packets are kept (nil: none)
	// sink, when set, takes the packets kept instead of dc.packets (a
	// streaming run).
	sink *streamer
	// callClock is the latest time any call reported: a packet leaves
	// the limbo for age only when the calls have moved limboAge past it.
	// On a loaded machine the calls (from the tracer's ring buffer or
	// ptrace stops) can lag the packets by seconds; aging by the packets'
	// clock alone then threw a connection's every packet away before its
	// connect() arrived ("0 connections" under eBPF at load 30).
	callClock time.Time
}

func newOwnFilter(dc *liveCapture) *ownFilter {
	return &ownFilter{dc: dc, addrs: make(map[netip.AddrPort]int64), perFlow: make(map[flow]int), pruneAt: minPruneAddrs}
}

// Bounds on the endpoints remembered: past minPruneAddrs (or twice what
// the last pruning left), the ones no call or packet used for addrIdle
// are forgotten. An idle connection that wakes up names its endpoints
// again with its next call (the data calls carry them); only a packet no
// call follows (a keepalive probe) is then not kept.
const (
	minPruneAddrs = 1 << 16
	addrIdle      = 30 * time.Second
)

// flow is a 4-tuple, its ends in a fixed order.
type flow struct{ a, b netip.AddrPort }

// flowOf is p's 4-tuple, as the last call of mine decoded it.
func (f *ownFilter) flowOf(p *capture.Packet) flow {
	var x, y netip.AddrPort
	if decode.Decode(p, &f.seg) == nil {
		x, y = f.seg.Src, f.seg.Dst
	} else if f.dd.Decode(p, &f.dg) == nil {
		x, y = f.dg.Src, f.dg.Dst
	}
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return flow{x, y}
}

// noteCall learns the addresses a call used, and how far the calls'
// clock has come.
func (f *ownFilter) noteCall(ev *calls.Event) {
	for _, t := range [...]time.Time{ev.Enter, ev.Exit} {
		if t.After(f.callClock) {
			f.callClock = t
		}
	}
	now := f.callClock.UnixNano()
	for _, a := range [...]netip.AddrPort{ev.Local, ev.Remote} {
		if !a.IsValid() {
			continue
		}
		if _, ok := f.addrs[a]; !ok {
			f.grew = true
		}
		f.addrs[a] = now
	}
	if len(f.addrs) >= f.pruneAt {
		f.prune()
	}
}

// prune forgets the endpoints unused for addrIdle.
func (f *ownFilter) prune() {
	old := f.callClock.Add(-addrIdle).UnixNano()
	for a, used := range f.addrs {
		if used < old {
			delete(f.addrs, a)
		}
	}
	f.pruneAt = max(minPruneAddrs, 2*len(f.addrs))
}

// known reports whether a was named by a call, and marks it used at t.
func (f *ownFilter) known(a netip.AddrPort, t time.Time) bool {
	used, ok := f.addrs[a]
	if ok && t.UnixNano() > used {
		f.addrs[a] = t.UnixNano()
	}
	return ok
}

// mine reports whether p belongs to the program by the addresses known.
func (f *ownFilter) mine(p *capture.Packet) bool {
	t := p.Timestamp
	switch {
	case decode.Decode(p, &f.seg) == nil:
		return f.known(f.seg.Src, t) && f.known(f.seg.Dst, t)
	case f.dd.Decode(p, &f.dg) == nil:
		return (f.known(f.dg.Src, t) && f.known(f.dg.Dst, t)) || (f.dg.Quoted && f.known(f.dg.QuotedSrc, t) && f.known(f.dg.QuotedDst, t))
	}
	return false
}

// packet takes one captured packet (its Data is the ring's, valid until
// the next read).
func (f *ownFilter) packet(p *capture.Packet) {
	if f.grew {
		f.recheck()
	}
	if f.mine(p) {
		f.keep(p, false)
		return
	}
	fl := f.flowOf(p)
	if f.perFlow[fl] >= maxLimboPerFlow {
		f.dc.unrelated++ // a flow this busy, and still no call names it
		return
	}
	f.perFlow[fl]++
	q := *p
	q.Data = bytes.Clone(p.Data)
	q.Comments = nil
	f.limbo = append(f.limbo, q)
	f.limboBytes += len(q.Data)
	// Let the oldest go: too many, too large, or too old to be waiting
	// for a call.
	drop := 0
	for drop < len(f.limbo) && (len(f.limbo)-drop > maxLimbo || f.limboBytes > maxLimboBytes ||
		f.tooOld(p.Timestamp, f.limbo[drop].Timestamp)) {
		f.limboBytes -= len(f.limbo[drop].Data)
		f.forget(&f.limbo[drop])
		drop++
	}
	if drop > 0 {
		f.dc.unrelated += int64(drop)
		clear(f.limbo[:drop])
		// Resliced, not shifted: a full limbo drops one packet for each
		// that comes, and moving the 16k others each time was most of
		// run's CPU time. append copies what is left when it next
		// grows.
		f.limbo = f.limbo[drop:]
	}
}

// tooOld reports whether a packet captured at t has waited long enough
// for a call to claim it: both the capture (now) and the calls have moved
// limboAge past it.
func (f *ownFilter) tooOld(now, t time.Time) bool {
	return now.Sub(t) > limboAge && f.callClock.Sub(t) > limboAge
}

// keep adds a packet of the program's to the capture; owned says its Data
// is already a copy (a packet from the limbo), not the ring's.
func (f *ownFilter) keep(p *capture.Packet, owned bool) {
	if f.sink != nil {
		q := new(capture.Packet)
		*q = *p
		if !owned {
			q.Data = bytes.Clone(p.Data)
		}
		q.Comments = nil
		f.sink.packet(q)
		return
	}
	if len(f.dc.packets) == maxLivePackets {
		f.dc.overflow++
		return
	}
	q := *p
	if !owned {
		q.Data = bytes.Clone(p.Data)
	}
	q.Comments = nil
	f.dc.packets = append(f.dc.packets, q)
	f.stream.packet(&q, capture.DefaultSnapLen)
}

// recheck moves the limbo's packets that new addresses made the
// program's into the capture.
func (f *ownFilter) recheck() {
	f.grew = false
	n := 0
	for i := range f.limbo {
		p := &f.limbo[i]
		if f.mine(p) {
			f.keep(p, true)
			f.limboBytes -= len(p.Data)
			f.forget(p)
			continue
		}
		f.limbo[n] = *p
		n++
	}
	clear(f.limbo[n:])
	f.limbo = f.limbo[:n]
}

// finish settles the limbo once the calls are all in, and puts the kept
// packets back in time order (a packet that waited joins late).
func (f *ownFilter) finish() {
	f.recheck()
	f.dc.unrelated += int64(len(f.limbo))
	f.limbo, f.limboBytes = nil, 0
	clear(f.perFlow)
	slices.SortStableFunc(f.dc.packets, func(a, b capture.Packet) int { return a.Timestamp.Compare(b.Timestamp) })
}

// forget takes a packet leaving the limbo off its flow's count.
func (f *ownFilter) forget(p *capture.Packet) {
	fl := f.flowOf(p)
	if f.perFlow[fl] <= 1 {
		delete(f.perFlow, fl)
	} else {
		f.perFlow[fl]--
	}
}
