package main

import (
	"net/netip"
	"time"
)

// limbo holds, oldest first, the packets whose connection no call has
// named yet (see ownFilter), by their slot in the packetStore. They are
// indexed by 4-tuple, and the 4-tuples by endpoint, so that a call naming
// a new endpoint finds the flows it may make the program's without
// looking at the others: a full limbo (16k packets of other programs'
// connections) costs nothing per call. Nothing in it holds a pointer but
// the flows' addresses; the ring is allocated once, when the first packet
// waits.
type limbo struct {
	limits limboLimits
	// ring holds the packets in capture order: ring[head] is the oldest,
	// n entries from it, claimed ones included (they leave the ring when
	// they reach its head). Its size bounds the packets waiting.
	ring    []limboPacket
	head, n int
	live    int // packets waiting (not claimed)
	bytes   int // their bytes

	flows     []limboFlow
	freeFlows []int32
	byFlow    map[flow]int32
	// byAddr is the first flow of each endpoint's list (limboFlow.next).
	byAddr map[netip.AddrPort]int32
}

// limboPacket is a packet waiting, in its flow's list.
type limboPacket struct {
	slot int32 // in the packetStore
	flow int32 // -1: claimed, left before its turn
	next int32 // the ring index of the flow's next packet (-1: none)
	at   int64 // capture time, Unix nanoseconds
}

// limboFlow is a 4-tuple with packets waiting, first to last, linked into
// the lists of its two endpoints (0: key.a, 1: key.b; a flow from an
// endpoint to itself is in its one list once).
type limboFlow struct {
	key         flow
	first, last int32
	n           int32
	prev, next  [2]int32
}

// limboLimits bound a limbo: the packets and bytes it holds, and how long
// a packet waits for a call to claim it.
type limboLimits struct {
	packets, bytes int
	age            time.Duration
}

func newLimbo(limits limboLimits) limbo {
	return limbo{limits: limits, byFlow: make(map[flow]int32), byAddr: make(map[netip.AddrPort]int32)}
}

// count is the number of packets of fl waiting.
func (l *limbo) count(fl flow) int {
	if i, ok := l.byFlow[fl]; ok {
		return int(l.flows[i].n)
	}
	return 0
}

// full reports whether the ring has no room for another packet.
func (l *limbo) full() bool { return l.ring != nil && l.n == len(l.ring) }

// add puts the packet in slot, of flow fl, captured at at, at the end;
// the ring must not be full.
func (l *limbo) add(fl flow, slot int32, size int, at int64) {
	if l.ring == nil {
		l.ring = make([]limboPacket, l.limits.packets)
	}
	fi, ok := l.byFlow[fl]
	if !ok {
		fi = l.newFlow(fl)
	}
	pos := int32((l.head + l.n) % len(l.ring))
	l.ring[pos] = limboPacket{slot: slot, flow: fi, next: -1, at: at}
	l.n++
	l.live++
	l.bytes += size
	f := &l.flows[fi]
	if f.n == 0 {
		f.first = pos
	} else {
		l.ring[f.last].next = pos
	}
	f.last = pos
	f.n++
}

// oldest returns the oldest packet waiting (nil: none), after letting the
// claimed ones before it leave the ring.
func (l *limbo) oldest() *limboPacket {
	for l.n > 0 {
		p := &l.ring[l.head]
		if p.flow >= 0 {
			return p
		}
		l.head = (l.head + 1) % len(l.ring)
		l.n--
	}
	return nil
}

// dropOldest takes the oldest packet waiting out of the limbo and returns
// its slot; there must be one.
func (l *limbo) dropOldest(size func(slot int32) int) int32 {
	p := l.oldest()
	f := &l.flows[p.flow]
	// A flow's packets are in capture order, as the ring's: the oldest
	// waiting is its flow's first.
	f.first = p.next
	f.n--
	if f.n == 0 {
		l.removeFlow(p.flow)
	}
	l.head = (l.head + 1) % len(l.ring)
	l.n--
	l.live--
	l.bytes -= size(p.slot)
	return p.slot
}

// claim takes flow fi's packets out of the limbo, handing each slot to
// keep, first to last.
func (l *limbo) claim(fi int32, size func(slot int32) int, keep func(slot int32)) {
	f := &l.flows[fi]
	for pos := f.first; pos >= 0; {
		p := &l.ring[pos]
		pos = p.next
		p.flow, p.next = -1, -1
		l.live--
		l.bytes -= size(p.slot)
		keep(p.slot)
	}
	l.removeFlow(fi)
	l.oldest() // the claimed packets at the head leave the ring
}

// flowsOf calls fn for each flow waiting with an endpoint a; fn may claim
// the flow it is given.
func (l *limbo) flowsOf(a netip.AddrPort, fn func(fi int32, fl flow)) {
	fi, ok := l.byAddr[a]
	for ok && fi >= 0 {
		f := &l.flows[fi]
		next := f.next[f.end(a)]
		fn(fi, f.key)
		fi = next
	}
}

// each calls fn for every flow waiting; fn may claim the flow it is
// given.
func (l *limbo) each(fn func(fi int32, fl flow)) {
	for fi := range l.flows {
		if l.flows[fi].n > 0 {
			fn(int32(fi), l.flows[fi].key)
		}
	}
}

// end is which of f's endpoints a is.
func (f *limboFlow) end(a netip.AddrPort) int {
	if f.key.a == a {
		return 0
	}
	return 1
}

// ends is the number of endpoint lists f is in.
func (f *limboFlow) ends() int {
	if f.key.a == f.key.b {
		return 1
	}
	return 2
}

func (f *limboFlow) addr(e int) netip.AddrPort {
	if e == 0 {
		return f.key.a
	}
	return f.key.b
}

func (l *limbo) newFlow(fl flow) int32 {
	var fi int32
	if n := len(l.freeFlows); n > 0 {
		fi = l.freeFlows[n-1]
		l.freeFlows = l.freeFlows[:n-1]
	} else {
		l.flows = append(l.flows, limboFlow{})
		fi = int32(len(l.flows) - 1)
	}
	l.flows[fi] = limboFlow{key: fl, first: -1, last: -1}
	l.byFlow[fl] = fi
	f := &l.flows[fi]
	for e := range f.ends() {
		a := f.addr(e)
		f.prev[e], f.next[e] = -1, -1
		if head, ok := l.byAddr[a]; ok {
			f.next[e] = head
			h := &l.flows[head]
			h.prev[h.end(a)] = fi
		}
		l.byAddr[a] = fi
	}
	return fi
}

func (l *limbo) removeFlow(fi int32) {
	f := &l.flows[fi]
	for e := range f.ends() {
		a := f.addr(e)
		prev, next := f.prev[e], f.next[e]
		if prev >= 0 {
			p := &l.flows[prev]
			p.next[p.end(a)] = next
		} else if next >= 0 {
			l.byAddr[a] = next
		} else {
			delete(l.byAddr, a)
		}
		if next >= 0 {
			n := &l.flows[next]
			n.prev[n.end(a)] = prev
		}
	}
	delete(l.byFlow, f.key)
	*f = limboFlow{}
	l.freeFlows = append(l.freeFlows, fi)
}

// reset lets every packet go, handing each slot to drop.
func (l *limbo) reset(drop func(slot int32)) {
	for p := l.oldest(); p != nil; p = l.oldest() {
		l.head = (l.head + 1) % len(l.ring)
		l.n--
		drop(p.slot)
	}
	*l = newLimbo(l.limits)
}
