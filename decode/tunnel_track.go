package decode

// How the Tracker keeps tunnels apart and copies together.
//
// A connection's table key holds its 4-tuple and the key of the tunnel
// it was opened in (0 for none). A tunneled connection is also entered
// under its plain 4-tuple, so that the same flow seen outside the tunnel
// (a mirror port, a bypass) finds it; a segment arriving in another
// tunnel joins it only when that side of the connection has not been
// seen in a different tunnel yet, because some tunnel identifiers differ
// by direction (MPLS labels, GTP-U TEIDs, some GRE keys) while two flows
// in two VXLANs stay two connections once both sides have been seen.
//
// A segment equal to one just seen from the same side (seq, ack, flags,
// length, window) but on another path is the copy a mirror made: it is
// counted in TrackerStats.Duplicates and not applied again.

// recentSegs is how many recent segments the Tracker remembers to spot
// copies: a mirror's copy arrives right after the original, or a few
// packets later on a busy link.
const recentSegs = 16

// segSig identifies a segment among its neighbours.
type segSig struct {
	seq, ack uint32
	length   int32
	window   uint16
	flags    Flags
	path     uint64
}

// recentSeg is a segment applied lately, and to which connection.
type recentSeg struct {
	c       *Connection
	gen     uint64
	fromLow bool // sent by the lower of the two endpoints
	sig     segSig
}

// paths is the record of where a connection's segments travelled; only
// connections that met a tunnel have one, so plain ones cost a pointer.
type paths struct {
	tunnel  [2]*Tunnel // per side: the first tunnel seen, nil if none
	key     [2]uint64  // per side: the tunnel key of its first tunneled segment
	aliases []connKey  // table keys besides Connection.key that lead to it
}

// Tunnel returns the tunnel the connection's client side travelled in, or
// the server side's when the client's did not, or nil.
func (c *Connection) Tunnel() *Tunnel {
	if c.paths == nil {
		return nil
	}
	if t := c.paths.tunnel[Client]; t != nil {
		return t
	}
	return c.paths.tunnel[Server]
}

// ServerTunnel returns the tunnel of the server's segments when it differs
// from Tunnel (an MPLS label stack or a GTP-U TEID is chosen per
// direction), or nil.
func (c *Connection) ServerTunnel() *Tunnel {
	if c.paths == nil {
		return nil
	}
	a, b := c.paths.tunnel[Client], c.paths.tunnel[Server]
	if a == nil || b == nil || *a == *b {
		return nil
	}
	return b
}

func (c *Connection) sideOf(s *Segment) Side {
	if !c.SelfConnect && s.Src != c.Client {
		return Server
	}
	return Client
}

// lookupTunneled finds the connection of a segment that came through a
// tunnel, given its plain key and that key's hash, and returns the key it
// is known by and its hash.
func (t *Tracker) lookupTunneled(plain connKey, plainHash uint64, s *Segment) (*Connection, connKey, uint64) {
	t.sawTunnel = true
	k := plain
	k.tun = s.Tunnel.key()
	h := k.hash()
	if c := t.conns.get(&k, h); c != nil {
		return c, k, h
	}
	c := t.conns.get(&plain, plainHash)
	if c == nil {
		return nil, k, h
	}
	if c.paths == nil {
		c.paths = new(paths)
	}
	side := c.sideOf(s)
	if c.paths.key[side] != 0 && c.paths.key[side] != k.tun {
		return nil, k, h // that side travels in another tunnel: another flow
	}
	c.paths.aliases = append(c.paths.aliases, k)
	t.conns.put(&k, h, c, int32(len(c.paths.aliases)-1))
	t.waits.keyChanged(h)
	t.aliases++
	return c, k, h
}

// aliasPlain enters a tunneled connection under its plain 4-tuple too,
// unless another connection holds it.
func (t *Tracker) aliasPlain(c *Connection, k connKey) {
	if c.paths == nil {
		c.paths = new(paths)
	}
	plain := k
	plain.tun = 0
	h := plain.hash()
	if t.conns.get(&plain, h) == nil {
		c.paths.aliases = append(c.paths.aliases, plain)
		t.conns.put(&plain, h, c, int32(len(c.paths.aliases)-1))
		t.waits.keyChanged(h)
		t.aliases++
	}
}

// dropAliases removes c's other keys from the table.
func (t *Tracker) dropAliases(c *Connection) {
	if c.paths == nil {
		return
	}
	for i := range c.paths.aliases {
		k := &c.paths.aliases[i]
		if h := k.hash(); t.conns.get(k, h) == c {
			t.conns.del(k, h)
			t.aliases--
		}
	}
}

// duplicate reports whether s is a copy, on another path, of a segment c
// took lately from the same sender, and counts it. Only a capture with
// tunnels has two paths.
func (t *Tracker) duplicate(c *Connection, s *Segment, k connKey) bool {
	path := k.tun
	if !t.sawTunnel {
		return false
	}
	for i := range t.recent {
		r := &t.recent[i]
		g := &r.sig
		if r.c == c && r.gen == c.gen && g.path != path && g.seq == s.Seq && g.ack == s.Ack &&
			g.flags == s.Flags && g.length == int32(s.Len) && g.window == s.Window &&
			r.fromLow == (s.Src == k.a) {
			t.stats.Duplicates++
			return true
		}
	}
	return false
}

// remember records s, just applied to c, for spotting copies, and the
// tunnel of its side.
func (t *Tracker) remember(c *Connection, side Side, s *Segment, k connKey) {
	path := k.tun
	i := t.recentNext
	t.recentNext = (t.recentNext + 1) % recentSegs
	// Field by field, not a struct literal: see connKey.set.
	r := &t.recent[i]
	r.c, r.gen, r.fromLow = c, c.gen, s.Src == k.a
	r.sig.seq, r.sig.ack, r.sig.length, r.sig.window, r.sig.flags, r.sig.path = s.Seq, s.Ack, int32(s.Len), s.Window, s.Flags, path
	if s.Tunnel == nil {
		return
	}
	if c.paths == nil {
		c.paths = new(paths)
	}
	if c.paths.key[side] == 0 {
		c.paths.key[side] = path
	}
	if c.paths.tunnel[side] == nil {
		tun := *s.Tunnel // once per side of a tunneled connection
		c.paths.tunnel[side] = &tun
	}
}
