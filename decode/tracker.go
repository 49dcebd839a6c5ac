package decode

import (
	"net/netip"
	"slices"
	"time"
)

// Handler receives what a Tracker finds. Its methods are called from the
// goroutine that calls Observe and Flush.
type Handler interface {
	// Segment is called for every segment, after it was applied to its
	// connection.
	Segment(c *Connection, st *Step)
	// Ended is called once per connection, when it finished (and
	// lingered a moment for stragglers), was evicted, or the input ended.
	// c is reused after Ended returns.
	Ended(c *Connection)
}

// TrackerConfig tunes a Tracker. The zero value is usable.
type TrackerConfig struct {
	// MaxConnections bounds the connection table; when it is full the
	// least recently active connection is ended early and counted as
	// evicted. Default 65536.
	MaxConnections int
	// Linger is how long, in capture time, a finished connection stays in
	// the table to take stragglers (a retransmitted FIN, a last ACK)
	// before it is ended. A new SYN on its 4-tuple ends it at once.
	// Default 2s.
	Linger time.Duration
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
}

// connKey is a 4-tuple with its endpoints in a fixed order, so that both
// directions find the same connection.
type connKey struct{ a, b netip.AddrPort }

func makeKey(x, y netip.AddrPort) connKey {
	if x.Compare(y) > 0 {
		x, y = y, x
	}
	return connKey{x, y}
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
	table      map[connKey]*Connection
	head       *Connection // most recently active
	tail       *Connection // least recently active
	free       []*Connection
	linger     []lingerEntry // finished connections, oldest first, from lingerHead on
	lingerHead int
	nextID     int
	step       Step
	seg        Segment // ObservePacket's, reused
	stats      TrackerStats

	// Socket calls waiting for, or tied to, their connections.
	sockets map[socketID]*socketCalls
	waiting []*socketCalls
}

// NewTracker returns a Tracker that reports to h.
func NewTracker(h Handler, cfg TrackerConfig) *Tracker {
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = 65536
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 2 * time.Second
	}
	return &Tracker{h: h, cfg: cfg, table: make(map[connKey]*Connection), nextID: 1}
}

// Stats returns the counts so far.
func (t *Tracker) Stats() TrackerStats { return t.stats }

// Observe applies one segment.
func (t *Tracker) Observe(s *Segment) {
	t.stats.Segments++
	t.Expire(s.Time)
	k := makeKey(s.Src, s.Dst)
	c := t.table[k]
	if c != nil && startsNew(c, s) {
		t.end(c)
		c = nil
	}
	if c == nil {
		c = t.open(k, s)
		if len(t.waiting) > 0 {
			t.settle()
		}
	} else {
		t.unlink(c)
	}
	t.pushFront(c)

	from := Client
	if !c.SelfConnect && s.Src != c.Client {
		from = Server
	}
	st := &t.step
	c.apply(s, from, st)
	t.h.Segment(c, st)
	if !c.lingering && c.finished() {
		c.lingering = true
		c.finishedAt = s.Time
		t.linger = append(t.linger, lingerEntry{c, c.gen})
	}
}

// Expire ends the finished connections that have lingered long enough by
// now. Observe calls it with each segment's time; a live capture calls it
// on a timer so that connections end even when traffic stops.
func (t *Tracker) Expire(now time.Time) {
	for t.lingerHead < len(t.linger) {
		e := t.linger[t.lingerHead]
		if e.c.gen == e.gen && e.c.lingering {
			if now.Sub(e.c.finishedAt) < t.cfg.Linger {
				break
			}
			t.end(e.c)
		}
		t.lingerHead++
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
	open := make([]*Connection, 0, len(t.table))
	for _, c := range t.table {
		open = append(open, c)
	}
	slices.SortFunc(open, func(a, b *Connection) int { return a.ID - b.ID })
	for _, c := range open {
		t.end(c)
	}
	t.linger, t.lingerHead = t.linger[:0], 0
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

func (t *Tracker) open(k connKey, s *Segment) *Connection {
	if len(t.table) >= t.cfg.MaxConnections && t.tail != nil {
		t.stats.Evicted++
		t.end(t.tail)
	}
	var c *Connection
	if n := len(t.free); n > 0 {
		c, t.free = t.free[n-1], t.free[:n-1]
	} else {
		c = new(Connection)
	}
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
	case s.Flags&(SYN|ACK) == SYN:
		c.Client, c.Server = s.Src, s.Dst
		c.setState(Client, Closed)
	case s.Flags&(SYN|ACK) == SYN|ACK:
		// The SYN was missed: the SYN-ACK's sender is the server. Zeek
		// marks the flip of roles with '^'.
		c.Client, c.Server = s.Dst, s.Src
		c.midstream = true
		c.setState(Client, SynSent)
		c.history.again(Client, '^')
	default:
		c.midstream = true
		c.Client, c.Server = s.Src, s.Dst
		// Without a SYN the roles are a guess: servers listen on lower
		// ports than the ephemeral ones clients get, so the lower port is
		// the server's.
		if s.Src.Port() < s.Dst.Port() {
			c.Client, c.Server = s.Dst, s.Src
			c.history.again(Client, '^')
		}
		c.RolesGuessed = true
		c.setState(Client, Established)
		c.setState(Server, Established)
	}
	t.table[k] = c
	return c
}

// end hands c to the handler and frees it.
func (t *Tracker) end(c *Connection) {
	delete(t.table, c.key)
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
