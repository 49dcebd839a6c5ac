package decode

import (
	"net/netip"
	"slices"
	"time"

	"github.com/socktrace/socktrace/calls"
)

// Handler receives what a Tracker finds. Its methods are called from the
// goroutine that calls Observe and Flush.
type Handler interface {
	// Segment is called for every segment, after it was applied to its
	// connection.
	Segment(c *Connection, st *Step)
	// Ended is called once per connection, when it finished (and
	// lingered a moment for stragglers), was evicted, or the input ended;
	// once more for each time a packet resumed it after an eviction.
	// c is reused after Ended returns.
	Ended(c *Connection)
}

// TrackerConfig tunes a Tracker. The zero value is usable.
type TrackerConfig struct {
	// MemoryBudget is what the connection table may take, in bytes: a
	// quarter for open connections (MaxConnections, when that is zero, is
	// MemoryBudget/4/ConnectionCost), what that leaves for what it
	// remembers of the connections it let go (a tomb each, tombCost
	// bytes). Default 30 MiB: 3072 open connections and 122880 tombs, so
	// that about 125000 concurrent connections are followed without a
	// bogus new one.
	MemoryBudget int64
	// MaxConnections bounds the connection table; when it is full the
	// least recently active connection is ended early and counted as
	// evicted, and a later packet of it resumes it (Connection.Resumed)
	// under the same ID. Default MemoryBudget/ConnectionCost.
	MaxConnections int
	// Linger is how long, in capture time, a finished connection stays in
	// the table to take stragglers (a retransmitted FIN, a last ACK)
	// before it is ended. A new SYN on its 4-tuple ends it at once.
	// Default 2s.
	Linger time.Duration
	// Listening, when set, says whether an address had a listening
	// socket (watch knows this machine's listeners): a connection seen
	// midstream between a listener's address and another has its roles
	// known, not guessed from the port numbers.
	Listening func(netip.AddrPort) bool
}

// TrackerStats counts what a Tracker saw.
type TrackerStats struct {
	Segments    int64
	Connections int64 // connections opened
	Evicted     int64 // connections ended early because the table was full
	// CallsOmitted counts socket calls not kept: past a connection's
	// bound on calls, or waiting for a connection past the bounds on
	// waiting calls and sockets.
	CallsOmitted int64
	// SocketsGivenUp counts sockets no longer followed because too many
	// were open at once; their waiting calls were reported without a
	// connection.
	SocketsGivenUp int64
	Resumed        int64 // packets that resumed an evicted connection
	// Late counts segments that came after their connection had ended
	// and lingered, while the tracker still remembered it: they are
	// not a new connection, and are not reported.
	Late int64
	// Duplicates counts segments seen a second time on another path (a
	// mirror's copy, the same flow inside and outside a tunnel) and not
	// applied again.
	Duplicates int64
}

// ConnectionCost is what one open connection costs, in bytes, as
// TestConnectionCost measures it: the Connection, its states and inferred
// calls, its table entry, and what a report buffers for it.
const ConnectionCost = 2560

// maxLingering bounds the finished connections kept whole for stragglers;
// past it the oldest is ended and only its tombstone stays.
const maxLingering = 4096

// connKey is a 4-tuple with its endpoints in a fixed order, so that both
// directions find the same connection, and the tunnel it travels in
// (Tunnel.key; 0 for none).
type connKey struct {
	a, b netip.AddrPort
	tun  uint64
}

func makeKey(x, y netip.AddrPort) connKey {
	var k connKey
	k.set(x, y)
	return k
}

// set makes k the key of x and y, with no tunnel. Observe fills its key in
// place: a key returned by value was built on the stack by narrow stores
// and copied by wide loads, which the CPU cannot forward (a stall per
// packet, ~2 % of a replay).
func (k *connKey) set(x, y netip.AddrPort) {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	k.a, k.b, k.tun = x, y, 0
}

// lingerEntry remembers a finished connection and which use of it finished.
type lingerEntry struct {
	c   *Connection
	gen uint64
}

// Tracker turns segments into connections: it keeps a table of live
// connections keyed by 4-tuple, runs both endpoints' state machines, and
// hands each step and each ended connection to its Handler.
type Tracker struct {
	h          Handler
	cfg        TrackerConfig
	conns      connTable
	head       *Connection // most recently active
	tail       *Connection // least recently active
	free       []*Connection
	linger     []lingerEntry // finished connections, oldest first, from lingerHead on
	lingerHead int
	// headLive, when not nil, is the connection of linger[lingerHead],
	// found still lingering, due to end at headDue: Expire, which runs per
	// packet, then need not read the connection (a cache miss) to know
	// it has not yet lingered long enough. Anything that could change
	// that (the connection ending, or taking a segment) clears it.
	headLive *Connection
	headDue  time.Time
	// last is the connection of the last segment, while it is in the
	// table: Observe looks at it before hashing.
	last       *Connection
	tombSeq    uint64
	nextID     int
	step       Step
	seg        Segment // ObservePacket's, reused
	dec        Decoder // ObservePacket's
	aliases    int     // table entries that are one of a connection's aliases
	sawTunnel  bool    // a tunneled segment came: copies may follow
	recent     [recentSegs]recentSeg
	recentNext int
	frags      reassembler
	datagrams  DatagramDecoder
	datagram   Datagram // ObservePacket's, reused
	stats      TrackerStats

	// Socket calls waiting for, or tied to, their connections.
	sockets map[socketID]*socketCalls
	waits   waitQueue
	scanAll bool // tests: settle looks at every waiting socket, as it once did
	// dropped is a call a connection had no room for, handed to the
	// CallHandler from here: handing it the address of attach's own
	// argument made every call attached escape to the heap.
	dropped calls.Event
	// spareSockets are socketCalls given back when their socket closed
	// (recycle), their pending lists' room kept for the next sockets.
	spareSockets []*socketCalls

	lingering int // connections in the table that finished
	// tombs remembers connections the table let go: finished ones until
	// their linger time is up, to take their stragglers, and evicted ones,
	// to resume them. Each queue holds its kind oldest first.
	tombs    tombStore // by the key's hash (connKey.hash)
	retired  tombQueue // finished
	evicted  tombQueue // evicted
	maxTombs int

	// kernelWaiting holds kernel events of connections whose first
	// packet has not been seen, by 4-tuple (see ObserveKernel).
	kernelWaiting map[connKey][]calls.KernelEvent
}

// tomb is what the tracker keeps of a connection it let go: enough to
// know a straggler, or to resume the connection with its ID, roles,
// relative numbering and states.
type tomb struct {
	id      int
	seq     uint64 // matches its queue entry
	until   int64  // finished: stragglers until then (Unix nanoseconds)
	base    [2]uint32
	hasBase [2]bool
	state   [2]State
	evicted bool
	clientA bool // the client is the key's a
	carried carried
}

// carried is what an evicted connection's resumed part takes over, so that
// it is classified as the connection it continues (its handshake, its
// close, its Zeek history) rather than as one seen midstream. The finer
// sequence bookkeeping (out-of-order detection, Zeek's endpoint states)
// starts afresh.
type carried struct {
	sawSYN, sawSYNACK, hasNext, finSent [2]bool
	isn, next, finSeq                   [2]uint32
	rst, midstream, refused, hasIRTT    bool
	synackAcked                         bool
	firstFIN, rstFrom, timeWait         Sides
	irtt                                time.Duration
	history                             historyLog
}

func (c *Connection) carry() carried {
	return carried{sawSYN: c.sawSYN, sawSYNACK: c.sawSYNACK, hasNext: c.hasNext, finSent: c.finSent,
		isn: c.isn, next: c.next, finSeq: c.finSeq, rst: c.rst, midstream: c.midstream, refused: c.refused,
		hasIRTT: c.HasIRTT, synackAcked: c.synackAcked, firstFIN: c.FirstFIN, rstFrom: c.RSTFrom, timeWait: c.TimeWait, irtt: c.IRTT, history: c.history}
}

func (c *Connection) takeOver(k *carried) {
	c.sawSYN, c.sawSYNACK, c.hasNext, c.finSent = k.sawSYN, k.sawSYNACK, k.hasNext, k.finSent
	c.isn, c.next, c.finSeq = k.isn, k.next, k.finSeq
	c.rst, c.midstream, c.refused = k.rst, k.midstream, k.refused
	c.HasIRTT, c.IRTT = k.hasIRTT, k.irtt
	c.synackAcked = k.synackAcked
	c.FirstFIN, c.RSTFrom, c.TimeWait = k.firstFIN, k.rstFrom, k.timeWait
	c.history = k.history
}

// tombQueue is a FIFO of tomb keys, reclaimed as it drains.
type tombQueue struct {
	q    []tombRef
	head int
	// due, when not 0, is when the head's tomb expires: Expire runs per
	// packet and looks at the map only once that time has come. Taking
	// the head off clears it.
	due int64
}

type tombRef struct {
	h   uint64
	seq uint64
}

// Tombs are keyed by the hash of their key (connKey.hash, seeded per
// process), not the key itself (72 bytes): a tomb then costs about
// tombCost bytes (TestTombCost), so that the connections a busy server
// keeps open beyond the table fit the budget. Two keys with the same
// 64-bit hash among the tombs at once are unlikely enough (about one in
// 10^9 for 10^5 tombs) to be ignored.

// tombCost is what a tomb costs in its map and queue, in bytes.
const tombCost = 192

func (q *tombQueue) push(r tombRef) { q.q = append(q.q, r) }

func (q *tombQueue) peek() (tombRef, bool) {
	if q.head == len(q.q) {
		return tombRef{}, false
	}
	return q.q[q.head], true
}

func (q *tombQueue) pop() {
	q.due = 0
	q.head++
	if q.head == len(q.q) {
		q.q, q.head = q.q[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.q) {
		n := copy(q.q, q.q[q.head:])
		q.q, q.head = q.q[:n], 0
	}
}

// NewTracker returns a Tracker that reports to h.
func NewTracker(h Handler, cfg TrackerConfig) *Tracker {
	if cfg.MemoryBudget <= 0 {
		cfg.MemoryBudget = 30 << 20
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = int(max(cfg.MemoryBudget/4/ConnectionCost, 64))
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 2 * time.Second
	}
	// Tombs take what the table leaves of the budget.
	left := cfg.MemoryBudget - int64(cfg.MaxConnections)*ConnectionCost
	return &Tracker{h: h, cfg: cfg, nextID: 1,
		maxTombs: int(max(left/tombCost, 64))}
}

// Stats returns the counts so far.
func (t *Tracker) Stats() TrackerStats { return t.stats }

// Observe applies one segment.
func (t *Tracker) Observe(s *Segment) {
	t.stats.Segments++
	t.Expire(s.Time)
	var k connKey
	k.set(s.Src, s.Dst)
	var (
		c *Connection
		h uint64 // 0 until needed, when the last connection matched
	)
	if l := t.last; l != nil && l.key == k && s.Tunnel == nil && !t.sawTunnel {
		// The same connection as the last segment's, half the time in
		// a capture of short connections (its SYN, SYN-ACK and ACK
		// come back to back): no hash, no probe of the table. A
		// connection in the table is there under its own key, and
		// without tunnels under no other.
		c = l
	} else {
		h = k.hash()
		c = t.conns.get(&k, h)
		if s.Tunnel != nil {
			c, k, h = t.lookupTunneled(k, h, s)
		}
	}
	if c != nil && t.duplicate(c, s, k) {
		return
	}
	if c == nil && t.tombs.len() > 0 {
		if i, ok := t.tombs.find(h); ok {
			switch tb := t.tombs.at(i); {
			case s.Flags&(SYN|ACK) == SYN:
				// A new connection on the 4-tuple.
				t.tombs.drop(h, i)
			case !tb.evicted:
				t.stats.Late++
				return
			default:
				resumed := *tb // its place may be reused before resume reads it
				t.tombs.drop(h, i)
				c = t.resume(k, h, &resumed, s)
			}
		}
	}
	if c != nil && startsNew(c, s) {
		t.end(c)
		c = nil
	}
	if c == nil {
		if h == 0 {
			h = k.hash()
		}
		c = t.open(k, h, s)
		t.settle()
	} else {
		t.unlink(c)
	}
	t.pushFront(c)

	from := Client
	if !c.SelfConnect && s.Src != c.Client {
		from = Server
	}
	st := &t.step
	lingered := c.lingering
	c.apply(s, from, st)
	if lingered && !c.lingering {
		// Reopened (a refused SYN tried again): sockets its finish
		// kept waiting may be its own after all.
		t.keysChanged(c)
	}
	t.remember(c, from, s, k)
	t.last = c
	t.h.Segment(c, st)
	if c == t.headLive {
		t.headLive = nil
	}
	if !c.lingering && c.finished() {
		c.lingering = true
		c.finishedAt = s.Time
		t.linger = append(t.linger, lingerEntry{c, c.gen})
		if t.lingering++; t.lingering > maxLingering {
			t.retireOldest()
		}
	}
}

// retireOldest ends the finished connection that has lingered longest and
// keeps only its tomb for the rest of its linger time: under a storm of
// short connections the table holds thousands of finished ones, and a
// straggler needs no more than the tomb to be known as one.
func (t *Tracker) retireOldest() {
	for t.lingerHead < len(t.linger) {
		e := t.linger[t.lingerHead]
		t.lingerHead++
		if e.c.gen == e.gen && e.c.lingering {
			t.retire(e.c)
			return
		}
	}
}

// retire ends a finished connection, keeping its tomb until its linger
// time is up.
func (t *Tracker) retire(c *Connection) {
	t.bury(c, false)
	t.end(c)
}

// bury remembers c, which the table is letting go.
func (t *Tracker) bury(c *Connection, evicted bool) {
	t.tombSeq++
	tb := tomb{id: c.ID, seq: t.tombSeq, evicted: evicted, clientA: c.Client == c.key.a,
		until: c.finishedAt.Add(t.cfg.Linger).UnixNano(), hasBase: c.hasBase, base: c.base, state: c.state}
	q := &t.retired
	if evicted {
		q = &t.evicted
		tb.carried = c.carry()
	}
	for t.tombs.len() >= t.maxTombs && t.dropOldestTomb() {
	}
	h := c.key.hash()
	t.tombs.put(h, &tb)
	q.push(tombRef{h, tb.seq})
	// A resumed or reused tomb leaves its entry behind in the queue:
	// drop the stale ones before they outnumber the live tombs.
	if n := len(q.q) - q.head; n > 1024 && n > 2*t.tombs.len() {
		t.compact(q)
	}
}

// compact removes q's entries whose tomb is gone or was replaced.
func (t *Tracker) compact(q *tombQueue) {
	live := q.q[:0]
	for _, r := range q.q[q.head:] {
		if i, ok := t.tombs.find(r.h); ok && t.tombs.at(i).seq == r.seq {
			live = append(live, r)
		}
	}
	clear(q.q[len(live):])
	q.q, q.head, q.due = live, 0, 0
}

// dropOldestTomb forgets the oldest tomb, evicted ones first (retired ones
// expire on their own soon).
func (t *Tracker) dropOldestTomb() bool {
	for _, q := range [...]*tombQueue{&t.evicted, &t.retired} {
		for {
			r, ok := q.peek()
			if !ok {
				break
			}
			q.pop()
			if i, ok := t.tombs.find(r.h); ok && t.tombs.at(i).seq == r.seq {
				t.tombs.drop(r.h, i)
				return true
			}
		}
	}
	return false
}

// resume reopens an evicted connection for s, under its old ID, with its
// roles, relative numbering and states as they were: it is not a new
// connection, and is marked Resumed.
func (t *Tracker) resume(k connKey, h uint64, tb *tomb, s *Segment) *Connection {
	if t.conns.used-t.aliases >= t.cfg.MaxConnections && t.tail != nil {
		t.evict(t.tail)
	}
	c := t.alloc()
	c.ID = tb.id
	t.stats.Resumed++
	c.Resumed = true
	c.key = k
	c.Start = s.Time
	c.inferring = true
	c.takeOver(&tb.carried)
	c.Client, c.Server = k.a, k.b
	if !tb.clientA {
		c.Client, c.Server = k.b, k.a
	}
	c.SelfConnect = c.Client == c.Server
	c.hasBase, c.base = tb.hasBase, tb.base
	for side := range c.state {
		c.setState(Side(side), tb.state[side])
	}
	t.conns.put(&k, h, c, -1)
	t.waits.keyChanged(h)
	if evs, ok := t.kernelWaiting[k]; ok {
		// The kernel reported on the socket before its first packet
		// (a connect() enters SYN_SENT before the SYN leaves).
		delete(t.kernelWaiting, k)
		c.KernelEvents = append(c.KernelEvents, evs...)
	}
	return c
}

// evict ends c early because the table is full, and keeps its tomb so
// that its next packet resumes it.
func (t *Tracker) evict(c *Connection) {
	if c.lingering {
		t.retire(c) // finished: nothing more is expected
		return
	}
	t.stats.Evicted++
	c.Evicted = true
	t.bury(c, true)
	t.end(c)
}

// Expire ends the finished connections that have lingered long enough by
// now. Observe calls it with each segment's time; a live capture calls it
// on a timer so that connections end even when traffic stops.
func (t *Tracker) Expire(now time.Time) {
	for t.lingerHead < len(t.linger) {
		e := t.linger[t.lingerHead]
		if e.c != t.headLive {
			if e.c.gen != e.gen || !e.c.lingering {
				t.lingerHead++ // ended since, or took a segment that reopened it
				continue
			}
			t.headLive, t.headDue = e.c, e.c.finishedAt.Add(t.cfg.Linger)
		}
		// now < finishedAt+Linger, as now.Sub(finishedAt) < Linger
		// but without Sub's overflow checks on every packet.
		if now.Before(t.headDue) {
			break
		}
		t.end(e.c)
		t.lingerHead++
	}
	nowNS := now.UnixNano()
	for q := &t.retired; q.due == 0 || nowNS >= q.due; {
		r, ok := q.peek()
		if !ok {
			break
		}
		if i, live := t.tombs.find(r.h); live && t.tombs.at(i).seq == r.seq {
			if until := t.tombs.at(i).until; nowNS < until {
				q.due = until
				break
			}
			t.tombs.drop(r.h, i)
		}
		q.pop()
	}
	// Reclaim the consumed front once it is most of the slice, so the
	// queue's memory stays proportional to what is lingering.
	if t.lingerHead > 1024 && t.lingerHead*2 > len(t.linger) {
		n := copy(t.linger, t.linger[t.lingerHead:])
		t.linger = t.linger[:n]
		t.lingerHead = 0
	}
}

// Flush ends every connection still in the table, in order of their IDs.
// Call it when the input ends.
func (t *Tracker) Flush() {
	open := t.conns.connections(make([]*Connection, 0, t.conns.used-t.aliases))
	slices.SortFunc(open, func(a, b *Connection) int { return a.ID - b.ID })
	for _, c := range open {
		t.end(c)
	}
	t.linger, t.lingerHead, t.headLive = t.linger[:0], 0, nil
	t.tombs.clear()
	t.retired, t.evicted = tombQueue{}, tombQueue{}
	t.flushCalls()
}

// startsNew reports whether s opens a new connection on c's 4-tuple: a SYN
// without ACK that is neither a retransmission of the client's SYN nor the
// other half of a simultaneous open.
func startsNew(c *Connection, s *Segment) bool {
	if s.Flags&(SYN|ACK) != SYN {
		return false
	}
	if c.SelfConnect {
		return s.Seq != c.isn[Client]
	}
	if s.Src == c.Client {
		if !c.sawSYN[Client] {
			// The capture saw this connection's SYN-ACK first: the SYN
			// it acknowledges belongs to it (captured out of order).
			return !c.sawSYNACK[Server] || s.Seq != c.isn[Client] || c.sent[Client] > 0
		}
		// A new connection needs a new ISN: the same one is the same
		// connect() trying again (after a timeout, or after a RST).
		return s.Seq != c.isn[Client]
	}
	// From the server: a simultaneous open while the client waits for an
	// answer, or its retransmission.
	if c.sawSYN[Server] {
		return s.Seq != c.isn[Server]
	}
	return c.state[Client] != SynSent || c.sawSYNACK[Server]
}

func (t *Tracker) open(k connKey, h uint64, s *Segment) *Connection {
	if t.conns.used-t.aliases >= t.cfg.MaxConnections && t.tail != nil {
		t.evict(t.tail)
	}
	c := t.alloc()
	c.ID = t.nextID
	t.nextID++
	t.stats.Connections++
	c.key = k
	c.Start = s.Time
	c.inferring = true
	c.SelfConnect = s.Src == s.Dst
	switch {
	case c.SelfConnect:
		c.Client, c.Server = s.Src, s.Dst
		if s.Flags&(SYN|ACK) == SYN {
			c.setState(Client, Closed)
		} else {
			// A socket connected to itself, seen midstream (or a forged
			// segment with equal addresses): not a simultaneous open.
			c.midstream = true
			c.setState(Client, Established)
		}
	case s.Flags&(SYN|ACK|RST) == SYN:
		// A SYN+FIN probe too: its sender is the originator, as Zeek
		// says (conn_state SH).
		c.Client, c.Server = s.Src, s.Dst
		c.setState(Client, Closed)
	case s.Flags&(SYN|ACK|RST) == SYN|ACK:
		// The SYN was missed: the SYN-ACK's sender is the server. Zeek
		// marks the flip of roles with '^'.
		c.Client, c.Server = s.Dst, s.Src
		c.midstream = true
		c.setState(Client, SynSent)
		c.history.again(Client, '^')
	default:
		// Midstream, or a SYN with RST beside it, which no stack sends
		// (a scanner's probe, or damage): as an abort it says nothing of
		// the roles, and as a SYN-ACK it would make its sender the
		// server whatever the ports.
		c.midstream = true
		c.Client, c.Server = s.Src, s.Dst
		srcListens, dstListens := false, false
		if l := t.cfg.Listening; l != nil {
			srcListens, dstListens = l(s.Src), l(s.Dst)
		}
		switch {
		case srcListens != dstListens:
			// One end is a listener's address: that end is the server.
			if srcListens {
				c.Client, c.Server = s.Dst, s.Src
				c.history.again(Client, '^')
			}
		default:
			// Without a SYN the roles are a guess: servers listen on
			// lower ports than the ephemeral ones clients get, so the
			// lower port is the server's.
			if s.Src.Port() < s.Dst.Port() {
				c.Client, c.Server = s.Dst, s.Src
				c.history.again(Client, '^')
			}
			c.RolesGuessed = true
		}
		c.setState(Client, Established)
		c.setState(Server, Established)
	}
	t.conns.put(&k, h, c, -1)
	t.waits.keyChanged(h)
	if k.tun != 0 {
		t.aliasPlain(c, k)
	}
	if evs, ok := t.kernelWaiting[k]; ok {
		// The kernel reported on the socket before its first packet
		// (a connect() enters SYN_SENT before the SYN leaves).
		delete(t.kernelWaiting, k)
		c.KernelEvents = append(c.KernelEvents, evs...)
	}
	return c
}

func (t *Tracker) alloc() *Connection {
	if n := len(t.free); n > 0 {
		c := t.free[n-1]
		t.free = t.free[:n-1]
		return c
	}
	return new(Connection)
}

// end hands c to the handler and frees it.
func (t *Tracker) end(c *Connection) {
	if c.lingering {
		t.lingering--
	}
	if c == t.headLive {
		t.headLive = nil
	}
	if c == t.last {
		t.last = nil
	}
	t.conns.del(&c.key, c.key.hash())
	t.dropAliases(c)
	t.unlink(c)
	c.finishCalls()
	t.stats.CallsOmitted += int64(c.CallsOmitted)
	t.h.Ended(c)
	c.reset()
	t.free = append(t.free, c)
}

func (t *Tracker) pushFront(c *Connection) {
	c.newer, c.older = nil, t.head
	if t.head != nil {
		t.head.newer = c
	}
	t.head = c
	if t.tail == nil {
		t.tail = c
	}
}

func (t *Tracker) unlink(c *Connection) {
	if c.newer != nil {
		c.newer.older = c.older
	} else if t.head == c {
		t.head = c.older
	}
	if c.older != nil {
		c.older.newer = c.newer
	} else if t.tail == c {
		t.tail = c.newer
	}
	c.newer, c.older = nil, nil
}
