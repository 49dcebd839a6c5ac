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
	// maxLimboPerFlow bounds the packets of one 4-tuple held: a flow's
	// first packets (its handshake) are what a call will claim; a bulk
	// transfer must not push every other flow out.
	maxLimboPerFlow = 32
	// maxListening bounds the listening addresses remembered (a program
	// rarely has more than a few; past this, they are forgotten at once).
	maxListening = 1 << 12
)

// The limbos: the packets held while it is not yet known whose they are
// (a connect()'s SYN reaches the ring before the call that names its
// local port returns), bounded in packets, bytes and how long one is held.
var (
	// farLimbo holds the packets of the other flows: other programs'
	// traffic, mostly, and the program's own connections to servers
	// elsewhere until connect() returns.
	farLimbo = limboLimits{packets: 1 << 14, bytes: 8 << 20, age: 2 * time.Second}
	// nearLimbo holds those of flows to an address the program listens
	// on (nearFlow): a SYN to its listener from a client whose connect()
	// names its port only when it returns, which may be after retransmissions
	// of the SYN (Linux gives up after about 127 s, tcp_syn_retries 6).
	// It has room of its own, so that other programs' traffic, however
	// much of it passes the filter, cannot push these out: a storm on
	// loopback once did, and the demo's backlog-full lesson showed the
	// third client's last SYN only, without the two before it. It holds
	// as many packets as the far one: a program's connections to its own
	// listener all wait here until the recorder, seconds behind on a
	// loaded machine, reports their connect() (with room for 4096
	// packets, TestRunMemoryIsBounded saw 13% of 1500 such connections
	// lose packets and stay open). The two share the 16 MiB one limbo
	// had: with 16 MiB each, the other tests' loopback traffic in the
	// far one and the program's own in the near one grew socktrace by
	// up to 13.8 MiB in that test.
	nearLimbo = limboLimits{packets: 1 << 14, bytes: 8 << 20, age: 130 * time.Second}
)

// ownFilter keeps, as packets arrive, those of the traced program's (or
// the demo's) connections: a packet is its when both endpoints appear in
// its calls. A packet whose endpoints are not known yet waits in a
// bounded limbo until a call names them or it grows too old; an unrelated
// bulk transfer on the interface therefore costs a bounded amount of
// memory, not one copy of every packet.
//
// A packet is decoded once, copied once (into the packetStore, whose slots
// the limbo and the streamer hand along) and allocates nothing once the
// store has grown to what the run holds at once.
type ownFilter struct {
	dc *liveCapture
	// addrs are the endpoints the program's calls named, with when one
	// was last used (by a call or a packet kept), in Unix nanoseconds.
	addrs map[netip.AddrPort]int64
	// pruneAt is the size of addrs at which the ones unused for
	// addrIdle are forgotten: a program running for days names ever new
	// ports.
	pruneAt int
	store   *packetStore
	limbo   limbo // farLimbo
	near    limbo // nearLimbo
	// listening are the addresses the program's listen() calls named
	// (at most maxListening): a flow to one waits in the near limbo.
	listening map[netip.AddrPort]bool
	// unbound are the connections whose local address a call gave only
	// as a wildcard with a port (a connect() that failed: the kernel
	// takes the address it had chosen back), by local port and remote
	// endpoint, with when they were named: a flow from any address at
	// that port to that remote is the program's (its SYN and the RST
	// that refused it). At most maxUnbound.
	unbound map[unboundKey]int64
	seg     decode.Segment
	dd      decode.DatagramDecoder
	dg      decode.Datagram
	stream  *liveStream // --write, streamed as packets are kept (nil: none)
	// sink, when set, takes the packets kept instead of dc.packets (a
	// streaming run).
	sink *streamer
	// callClock is the latest time any call reported, in Unix
	// nanoseconds: a packet leaves the limbo for age only when the calls
	// have moved the limbo's age past it. On a loaded machine the calls (from
	// the tracer's ring buffer or ptrace stops) can lag the packets by
	// seconds; aging by the packets' clock alone then threw a
	// connection's every packet away before its connect() arrived ("0
	// connections" under eBPF at load 30).
	callClock int64
}

func newOwnFilter(dc *liveCapture) *ownFilter {
	return &ownFilter{dc: dc, addrs: make(map[netip.AddrPort]int64), pruneAt: minPruneAddrs, store: new(packetStore),
		limbo: newLimbo(farLimbo), near: newLimbo(nearLimbo)}
}

// streamTo has the packets kept, and the calls, go to st (a streaming
// run), which takes the kept packets' slots from the filter's store.
func (f *ownFilter) streamTo(st *streamer) {
	f.sink = st
	st.store = f.store
}

// Bounds on the endpoints remembered: past minPruneAddrs (or twice what
// the last pruning left), the ones no call or packet used for addrIdle
// are forgotten. An idle connection that wakes up names its endpoints
// again with its next call (the data calls carry them); only a packet no
// call follows (a keepalive probe) is then not kept.
const (
	minPruneAddrs = 1 << 16
	addrIdle      = 30 * time.Second
	// addrUseStep is how stale an endpoint's last use is let grow before
	// a packet kept marks it again: a map write for every packet would
	// cost more than forgetting an endpoint a second late.
	addrUseStep = int64(time.Second)
)

// unboundKey is a connection of the program's whose local address is not
// known, only its port.
type unboundKey struct {
	port   uint16
	remote netip.AddrPort
}

// maxUnbound bounds ownFilter.unbound: past it, the ones unused for
// addrIdle are forgotten, or all if none is.
const maxUnbound = 1 << 14

// flow is a 4-tuple, its ends in a fixed order.
type flow struct{ a, b netip.AddrPort }

func makeFlow(x, y netip.AddrPort) flow {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return flow{x, y}
}

// called takes a call as the tracer reports it.
func (f *ownFilter) called(ev *calls.Event) {
	f.noteCall(ev)
	switch {
	case f.sink != nil:
		f.sink.call(ev)
	case len(f.dc.events) < maxLiveEvents:
		f.dc.events = append(f.dc.events, *ev)
	default:
		f.dc.eventsOmitted++
	}
}

// tick has a streaming run's connections that have ended be explained,
// as time moves on also when no packet or call comes to say so.
func (f *ownFilter) tick(now time.Time) {
	f.sink.advance(now)
}

// noteCall learns the addresses a call used, and how far the calls'
// clock has come; the packets waiting for an endpoint it names for the
// first time leave the limbo when both of theirs are known now.
func (f *ownFilter) noteCall(ev *calls.Event) {
	if ev.Call == calls.Listen && ev.Errno == 0 && ev.Local.IsValid() {
		if f.listening == nil || len(f.listening) >= maxListening {
			f.listening = make(map[netip.AddrPort]bool)
		}
		f.listening[netip.AddrPortFrom(ev.Local.Addr().Unmap(), ev.Local.Port())] = true
	}
	for _, t := range [...]time.Time{ev.Enter, ev.Exit} {
		if !t.IsZero() {
			f.callClock = max(f.callClock, t.UnixNano())
		}
	}
	now := f.callClock
	if ev.Local.IsValid() && ev.Local.Addr().IsUnspecified() && ev.Local.Port() != 0 &&
		ev.Remote.IsValid() && !ev.Remote.Addr().IsUnspecified() && ev.Remote.Port() != 0 {
		f.noteUnbound(unboundKey{ev.Local.Port(), unmapped(ev.Remote)}, now)
	}
	for _, a := range [...]netip.AddrPort{ev.Local, ev.Remote} {
		if !a.IsValid() {
			continue
		}
		used, ok := f.addrs[a]
		if ok && now-used <= addrUseStep {
			continue
		}
		f.addrs[a] = now
		if !ok && f.limbo.live > 0 {
			f.limbo.flowsOf(a, f.claimIfMine)
		}
		if !ok && f.near.live > 0 {
			f.near.flowsOf(a, f.claimNearIfMine)
		}
	}
	if len(f.addrs) >= f.pruneAt {
		f.prune()
	}
}

// claimIfMine keeps the packets of a flow waiting in the limbo when both
// its endpoints are known.
func (f *ownFilter) claimIfMine(fi int32, fl flow) { f.claimFrom(&f.limbo, fi, fl) }

func (f *ownFilter) claimNearIfMine(fi int32, fl flow) { f.claimFrom(&f.near, fi, fl) }

func (f *ownFilter) claimFrom(l *limbo, fi int32, fl flow) {
	_, a := f.addrs[fl.a]
	_, b := f.addrs[fl.b]
	if !(a && b) && !f.unboundFlow(fl.a, fl.b) {
		return
	}
	l.claim(fi, f.store.size, f.keepSlot)
}

// noteUnbound remembers a connection of the program's known only by its
// local port and its remote end.
func (f *ownFilter) noteUnbound(k unboundKey, now int64) {
	if f.unbound == nil {
		f.unbound = make(map[unboundKey]int64)
	}
	if _, ok := f.unbound[k]; !ok && len(f.unbound) >= maxUnbound {
		old := now - int64(addrIdle)
		for u, used := range f.unbound {
			if used < old {
				delete(f.unbound, u)
			}
		}
		if len(f.unbound) >= maxUnbound {
			clear(f.unbound)
		}
	}
	f.unbound[k] = now
}

// unboundFlow reports whether the flow between x and y is one of the
// program's connections known only by a local port and a remote end.
func (f *ownFilter) unboundFlow(x, y netip.AddrPort) bool {
	if len(f.unbound) == 0 {
		return false
	}
	_, xy := f.unbound[unboundKey{x.Port(), unmapped(y)}]
	_, yx := f.unbound[unboundKey{y.Port(), unmapped(x)}]
	return xy || yx
}

// unmapped is a with an IPv4-mapped IPv6 address as IPv4, as packets
// carry it.
func unmapped(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// nearFlow reports whether one of a flow's endpoints is an address the
// program listens on (or it listens on every address at its port). Only
// listeners: the program's other endpoints are ephemeral ports, which the
// kernel hands to other programs once the program is done with them, and
// their flows then waited in the near limbo for calls that never came
// (socktrace grew by 13 MiB beside another test's storm).
func (f *ownFilter) nearFlow(fl flow) bool {
	if len(f.listening) == 0 {
		return false
	}
	for _, a := range [...]netip.AddrPort{fl.a, fl.b} {
		if f.listening[a] || f.listening[netip.AddrPortFrom(netip.IPv4Unspecified(), a.Port())] ||
			f.listening[netip.AddrPortFrom(netip.IPv6Unspecified(), a.Port())] {
			return true
		}
	}
	return false
}

// prune forgets the endpoints unused for addrIdle.
func (f *ownFilter) prune() {
	old := f.callClock - int64(addrIdle)
	for a, used := range f.addrs {
		if used < old {
			delete(f.addrs, a)
		}
	}
	f.pruneAt = max(minPruneAddrs, 2*len(f.addrs))
}

// known reports whether a was named by a call, and marks it used at t.
func (f *ownFilter) known(a netip.AddrPort, t int64) bool {
	used, ok := f.addrs[a]
	if ok && t-used > addrUseStep {
		f.addrs[a] = t
	}
	return ok
}

// packet takes one captured packet (its Data is the ring's, valid until
// the next read).
func (f *ownFilter) packet(p *capture.Packet) {
	var src, dst netip.AddrPort
	var quoted bool
	var qsrc, qdst netip.AddrPort
	switch {
	case decode.Decode(p, &f.seg) == nil:
		src, dst = f.seg.Src, f.seg.Dst
	case f.dd.Decode(p, &f.dg) == nil:
		src, dst = f.dg.Src, f.dg.Dst
		quoted, qsrc, qdst = f.dg.Quoted, f.dg.QuotedSrc, f.dg.QuotedDst
	default:
		return // neither TCP nor a datagram: not ours
	}
	t := p.Timestamp.UnixNano()
	if (f.known(src, t) && f.known(dst, t)) || (quoted && f.known(qsrc, t) && f.known(qdst, t)) || f.unboundFlow(src, dst) {
		f.keep(p)
		return
	}
	// An ICMP error waits for the connection it quotes.
	fl := makeFlow(src, dst)
	if quoted {
		fl = makeFlow(qsrc, qdst)
	}
	l := &f.limbo
	if f.nearFlow(fl) {
		l = &f.near
	}
	if l.count(fl) >= maxLimboPerFlow {
		f.dc.unrelated++ // a flow this busy, and still no call names it
		return
	}
	if l.full() {
		f.dropOldest(l)
	}
	slot := f.store.put(p)
	l.add(fl, slot, f.store.size(slot), t)
	// Both age, whichever the packet went to.
	f.settle(&f.limbo, t)
	f.settle(&f.near, t)
}

// settle lets the oldest packets of l go: too many, too large, or too old
// to be waiting for a call.
func (f *ownFilter) settle(l *limbo, now int64) {
	for l.live > 0 {
		old := l.oldest()
		if l.live <= l.limits.packets && l.bytes <= l.limits.bytes && !f.tooOld(now, old.at, l.limits.age) {
			break
		}
		f.dropOldest(l)
	}
}

// dropOldest lets l's oldest packet go as no one's.
func (f *ownFilter) dropOldest(l *limbo) {
	f.store.release(l.dropOldest(f.store.size))
	f.dc.unrelated++
}

// tooOld reports whether a packet captured at t has waited long enough
// for a call to claim it: both the capture (now) and the calls have moved
// age past it.
func (f *ownFilter) tooOld(now, t int64, age time.Duration) bool {
	return now-t > int64(age) && f.callClock-t > int64(age)
}

// keep adds a packet of the program's, straight from the capture ring, to
// the capture.
func (f *ownFilter) keep(p *capture.Packet) {
	if f.sink != nil {
		f.sink.packet(f.store.put(p))
		return
	}
	if len(f.dc.packets) == maxLivePackets {
		f.dc.overflow++
		return
	}
	q := *p
	q.Data = bytes.Clone(p.Data)
	q.Comments = nil
	f.dc.packets = append(f.dc.packets, q)
	f.stream.packet(&q, capture.DefaultSnapLen)
}

// keepSlot adds a packet of the program's that waited in the limbo to the
// capture.
func (f *ownFilter) keepSlot(slot int32) {
	if f.sink != nil {
		f.sink.packet(slot)
		return
	}
	if len(f.dc.packets) == maxLivePackets {
		f.dc.overflow++
		f.store.release(slot)
		return
	}
	var q capture.Packet
	f.store.take(slot, &q)
	f.dc.packets = append(f.dc.packets, q)
	f.stream.packet(&q, capture.DefaultSnapLen)
}

// finish settles the limbo once the calls are all in, and puts the kept
// packets back in time order (a packet that waited joins late).
func (f *ownFilter) finish() {
	f.limbo.each(f.claimIfMine)
	f.near.each(f.claimNearIfMine)
	f.dc.unrelated += int64(f.limbo.live + f.near.live)
	f.limbo.reset(f.store.release)
	f.near.reset(f.store.release)
	slices.SortStableFunc(f.dc.packets, func(a, b capture.Packet) int { return a.Timestamp.Compare(b.Timestamp) })
}
