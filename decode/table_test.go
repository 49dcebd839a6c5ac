package decode

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// partsLog records each part of each connection the tracker ends.
type partsLog struct {
	parts []part
}

type part struct {
	id                int
	evicted, resumed  bool
	handshake         Handshake
	packets           int
	client            netip.AddrPort
	firstRelSeq       uint32
	firstKind         StepKind
	steps             int
	stateAtEnd        [2]State
	rolesGuessed      bool
	sawFirstRelSeqSet bool
}

type partsHandler struct {
	log     *partsLog
	current map[int]*part
}

func (h *partsHandler) Segment(c *Connection, st *Step) {
	p := h.current[c.ID]
	if p == nil {
		p = &part{id: c.ID, firstRelSeq: st.RelSeq, firstKind: st.Kind}
		h.current[c.ID] = p
	}
	p.steps++
}

func (h *partsHandler) Ended(c *Connection) {
	p := h.current[c.ID]
	delete(h.current, c.ID)
	if p == nil {
		p = &part{id: c.ID}
	}
	p.evicted, p.resumed, p.handshake, p.packets, p.client = c.Evicted, c.Resumed, c.Handshake(), c.Packets, c.Client
	p.stateAtEnd = [2]State{c.State(Client), c.State(Server)}
	p.rolesGuessed = c.RolesGuessed
	h.log.parts = append(h.log.parts, *p)
}

// TestEvictedConnectionResumes fills a table of 4 with 8 open connections,
// then sends data on the first: it was evicted, and its packet resumes it
// under its own number, marked, with its roles and relative numbers, not
// as a new midstream connection.
func TestEvictedConnectionResumes(t *testing.T) {
	log := &partsLog{}
	tr := NewTracker(&partsHandler{log: log, current: map[int]*part{}}, TrackerConfig{MaxConnections: 4})
	now := time.Unix(1_700_000_000, 0)
	at := func() time.Time { now = now.Add(time.Millisecond); return now }
	server := netip.MustParseAddrPort("10.0.0.1:80")
	client := func(i int) netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(50000+i))
	}
	for i := range 8 {
		c := client(i)
		isn, sisn := uint32(1000*i+7), uint32(5000*i+9)
		for _, s := range []Segment{
			{Src: c, Dst: server, Flags: SYN, Seq: isn},
			{Src: server, Dst: c, Flags: SYN | ACK, Seq: sisn, Ack: isn + 1},
			{Src: c, Dst: server, Flags: ACK, Seq: isn + 1, Ack: sisn + 1},
		} {
			s.Time, s.Window = at(), 512
			tr.Observe(&s)
		}
	}
	// Connection 1 sends 10 bytes from relative seq 1.
	data := Segment{Time: at(), Src: client(0), Dst: server, Flags: ACK | PSH, Seq: 8, Ack: 10, Len: 10, Window: 512}
	tr.Observe(&data)
	tr.Flush()

	st := tr.Stats()
	if st.Connections != 8 || st.Evicted < 4 || st.Resumed != 1 {
		t.Fatalf("stats %+v: want 8 connections, at least 4 evicted, 1 resumed", st)
	}
	var first, resumed *part
	for i := range log.parts {
		p := &log.parts[i]
		if p.id == 1 && !p.resumed {
			first = p
		}
		if p.resumed {
			resumed = p
		}
		if p.id > 8 {
			t.Errorf("part %+v: a number past the 8 connections", *p)
		}
	}
	switch {
	case first == nil || !first.evicted || first.handshake != ThreeWay:
		t.Fatalf("connection 1's first part %+v: want evicted, three-way", first)
	case resumed == nil || resumed.id != 1:
		t.Fatalf("resumed part %+v: want connection 1", resumed)
	case resumed.client != client(0) || resumed.rolesGuessed:
		t.Errorf("resumed part's client %v (guessed %v), want %v as before", resumed.client, resumed.rolesGuessed, client(0))
	case resumed.handshake != ThreeWay:
		t.Errorf("resumed part's handshake %v, want three-way as when evicted (its ACK was in the first part)", resumed.handshake)
	case resumed.firstRelSeq != 1:
		t.Errorf("resumed part's first relative seq %d, want 1 (numbering continues)", resumed.firstRelSeq)
	case resumed.stateAtEnd != [2]State{Established, Established}:
		t.Errorf("resumed part's states %v, want both ESTABLISHED as when evicted", resumed.stateAtEnd)
	}
}

// TestResumedKeepsHandshake: a connection evicted after its handshake
// completed and resumed by the server's data (nothing from the client
// acknowledges the SYN-ACK in that part) is still three-way, not a
// handshake that never completed.
func TestResumedKeepsHandshake(t *testing.T) {
	log := &partsLog{}
	tr := NewTracker(&partsHandler{log: log, current: map[int]*part{}}, TrackerConfig{MaxConnections: 2})
	now := time.Unix(1_700_000_000, 0)
	at := func() time.Time { now = now.Add(time.Millisecond); return now }
	server := netip.MustParseAddrPort("10.0.0.1:80")
	for i := range 4 {
		c := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(50000+i))
		for _, s := range []Segment{
			{Src: c, Dst: server, Flags: SYN, Seq: 7},
			{Src: server, Dst: c, Flags: SYN | ACK, Seq: 9, Ack: 8},
			{Src: c, Dst: server, Flags: ACK, Seq: 8, Ack: 10},
		} {
			s.Time, s.Window = at(), 512
			tr.Observe(&s)
		}
	}
	data := Segment{Time: at(), Src: server, Dst: netip.MustParseAddrPort("10.0.0.2:50000"), Flags: ACK | PSH, Seq: 10, Ack: 8, Len: 10, Window: 512}
	tr.Observe(&data)
	tr.Flush()
	n := 0
	for _, p := range log.parts {
		if p.resumed {
			n++
			if p.id != 1 || p.handshake != ThreeWay {
				t.Errorf("resumed part %+v: want connection 1, three-way", p)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d resumed parts, want 1", n)
	}
}

// TestStragglerAfterRetire: a finished connection that was retired early
// (more than maxLingering finished at once) leaves a tomb: its last ACK
// retransmitted within the linger time is counted late, not opened as a
// new connection.
func TestStragglerAfterRetire(t *testing.T) {
	log := &partsLog{}
	tr := NewTracker(&partsHandler{log: log, current: map[int]*part{}}, TrackerConfig{})
	now := time.Unix(1_700_000_000, 0)
	server := netip.MustParseAddrPort("10.0.0.1:80")
	n := maxLingering + 10
	for i := range n {
		c := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), uint16(1024+i))
		for _, s := range []Segment{
			{Src: c, Dst: server, Flags: SYN, Seq: 100},
			{Src: server, Dst: c, Flags: SYN | ACK, Seq: 300, Ack: 101},
			{Src: c, Dst: server, Flags: ACK, Seq: 101, Ack: 301},
			{Src: c, Dst: server, Flags: FIN | ACK, Seq: 101, Ack: 301},
			{Src: server, Dst: c, Flags: FIN | ACK, Seq: 301, Ack: 102},
			{Src: c, Dst: server, Flags: ACK, Seq: 102, Ack: 302},
		} {
			now = now.Add(time.Microsecond)
			s.Time, s.Window = now, 512
			tr.Observe(&s)
		}
	}
	if len(log.parts) < 10 {
		t.Fatalf("%d connections ended before the linger time, want the 10 past %d lingering", len(log.parts), maxLingering)
	}
	// The first connection's final ACK again, 1 ms later.
	late := Segment{Time: now.Add(time.Millisecond), Src: netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), 1024), Dst: server,
		Flags: ACK, Seq: 102, Ack: 302, Window: 512}
	tr.Observe(&late)
	tr.Flush()
	if st := tr.Stats(); st.Connections != int64(n) || st.Late != 1 {
		t.Fatalf("stats %+v: want %d connections and 1 late segment", st, n)
	}
}

// TestConnectionCost measures what an open connection costs the tracker
// (its Connection, states, inferred calls and table entry) with a handler
// that keeps nothing, and checks it against ConnectionCost, which sizes
// the table from the memory budget. Reports add their own bounded buffers
// (report's step budgets).
func TestConnectionCost(t *testing.T) {
	const n = 20000
	tr := NewTracker(nopHandler{}, TrackerConfig{MaxConnections: 2 * n})
	server := netip.MustParseAddrPort("10.0.0.1:80")
	now := time.Unix(1_700_000_000, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		c := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), 40000)
		for _, s := range []Segment{
			{Src: c, Dst: server, Flags: SYN, Seq: 100},
			{Src: server, Dst: c, Flags: SYN | ACK, Seq: 300, Ack: 101},
			{Src: c, Dst: server, Flags: ACK, Seq: 101, Ack: 301},
			{Src: c, Dst: server, Flags: ACK | PSH, Seq: 101, Ack: 301, Len: 64},
			{Src: server, Dst: c, Flags: ACK | PSH, Seq: 301, Ack: 165, Len: 128},
		} {
			now = now.Add(time.Microsecond)
			s.Time, s.Window = now, 512
			tr.Observe(&s)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := int64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("an open connection costs %d bytes; ConnectionCost is %d; 32 MiB hold %d", per, ConnectionCost, (32<<20)/2/ConnectionCost)
	if per > ConnectionCost {
		t.Errorf("an open connection costs %d bytes, more than ConnectionCost (%d): the table would outgrow its budget", per, ConnectionCost)
	}
	runtime.KeepAlive(tr)
}

// TestTombCost measures what the tracker keeps of an evicted connection
// (a tomb, in its map and queue) and checks it against tombCost, which
// sizes the tombs' share of the memory budget.
func TestTombCost(t *testing.T) {
	const n = 100000
	tr := NewTracker(nopHandler{}, TrackerConfig{MaxConnections: 64, MemoryBudget: 1 << 30})
	server := netip.MustParseAddrPort("10.0.0.1:80")
	now := time.Unix(1_700_000_000, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		now = now.Add(time.Microsecond)
		s := Segment{Time: now, Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(40000+i>>16)),
			Dst: server, Flags: SYN, Seq: 100, Window: 512}
		tr.Observe(&s)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if tr.tombs.len() < n-64 {
		t.Fatalf("%d tombs for %d evicted connections", tr.tombs.len(), n-64)
	}
	per := int64(after.HeapAlloc-before.HeapAlloc) / int64(tr.tombs.len())
	t.Logf("a tomb costs %d bytes; tombCost is %d", per, tombCost)
	if per > tombCost {
		t.Errorf("a tomb costs %d bytes, more than tombCost (%d)", per, tombCost)
	}
	runtime.KeepAlive(tr)
}
