package decode

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/internal/gencap"
)

// fact is what a handler can read of an ended connection, for comparing
// an Ended handler with a Keeper.
type fact struct {
	ended
	packets, calls   int
	evicted, resumed bool
	bytes            [2]int64
	end              time.Time
}

func factOf(c *Connection) fact {
	return fact{
		ended: ended{c.ID, c.Handshake(), c.CloseKind(), c.FirstFIN, c.RSTFrom, c.TimeWait, c.HalfClose,
			c.ConnState(), c.History(), slices.Clone(c.States(Client)), slices.Clone(c.States(Server))},
		packets: c.Packets, calls: len(c.Calls), evicted: c.Evicted, resumed: c.Resumed, bytes: c.Bytes, end: c.End,
	}
}

type factCollector struct{ out []fact }

func (h *factCollector) Segment(*Connection, *Step) {}
func (h *factCollector) Ended(c *Connection)        { h.out = append(h.out, factOf(c)) }

// slowKeeper keeps every connection it is given and reads it only when it
// gives it back, hold connections later, as a writer on another goroutine
// would: anything the tracker did to a kept connection shows in the facts.
type slowKeeper struct {
	hold int
	kept []*Connection
	out  []fact
}

func (k *slowKeeper) Segment(*Connection, *Step) {}
func (k *slowKeeper) Ended(*Connection)          { panic("Ended called on a Keeper") }
func (k *slowKeeper) Keep(c *Connection) *Connection {
	if slices.Contains(k.kept, c) {
		panic("connection kept twice")
	}
	k.kept = append(k.kept, c)
	if len(k.kept) <= k.hold {
		return nil
	}
	done := k.kept[0]
	k.kept = k.kept[1:]
	k.out = append(k.out, factOf(done))
	return done
}

func (k *slowKeeper) drain() {
	for _, c := range k.kept {
		k.out = append(k.out, factOf(c))
	}
	k.kept = nil
}

// TestKeeperSeesWhatEndedSees runs the same segments through a tracker
// that hands ended connections to Ended and one that gives them to a
// Keeper, which reads each only dozens of connections later: the facts
// must be the same, connection for connection. The segments are a
// generated capture with ports reused (a new SYN ends a lingering
// connection), every 13th segment repeated 40 segments later (stragglers
// of lingering or retired connections, data on closed ones), and a table
// of 8 (evictions and resumes), so every path that keeps a pointer to a
// connection past its end (the lingering queue, tombs, recent segments)
// meets one that was given away.
func TestKeeperSeesWhatEndedSees(t *testing.T) {
	var buf bytes.Buffer
	if err := gencap.Write(&buf, gencap.Options{Connections: 3000, Interleave: 16, ClientPorts: 40}); err != nil {
		t.Fatal(err)
	}
	r, err := capture.NewFileReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var segs []Segment
	for {
		var p capture.Packet
		if err := r.ReadPacket(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		var s Segment
		if err := Decode(&p, &s); err != nil {
			t.Fatal(err)
		}
		s.Payload = nil // aliases the reader's buffer
		segs = append(segs, s)
	}
	var script []Segment
	for i, s := range segs {
		script = append(script, s)
		if i >= 40 && (i-40)%13 == 0 {
			late := segs[i-40]
			late.Time = s.Time
			script = append(script, late)
		}
	}
	for _, cfg := range []TrackerConfig{{}, {MaxConnections: 8}, {MaxConnections: 8, Linger: time.Millisecond}} {
		plain, keeper := &factCollector{}, &slowKeeper{hold: 37}
		trPlain, trKeep := NewTracker(plain, cfg), NewTracker(keeper, cfg)
		for i := range script {
			a, b := script[i], script[i]
			trPlain.Observe(&a)
			trKeep.Observe(&b)
		}
		trPlain.Flush()
		trKeep.Flush()
		keeper.drain()
		if len(plain.out) < 3000 {
			t.Fatalf("%+v: %d connections ended, want at least 3000", cfg, len(plain.out))
		}
		if trKeep.Stats() != trPlain.Stats() {
			t.Errorf("%+v: stats with a keeper %+v, without %+v", cfg, trKeep.Stats(), trPlain.Stats())
		}
		if len(keeper.out) != len(plain.out) {
			t.Fatalf("%+v: keeper got %d connections, Ended %d", cfg, len(keeper.out), len(plain.out))
		}
		for i := range plain.out {
			if p, k := plain.out[i], keeper.out[i]; !factsEqual(p, k) {
				t.Fatalf("%+v: connection %d of %d:\nEnded: %+v\nkept:  %+v", cfg, i, len(plain.out), p, k)
			}
		}
	}
}

func factsEqual(a, b fact) bool {
	return slices.Equal(a.client, b.client) && slices.Equal(a.server, b.server) &&
		a.id == b.id && a.handshake == b.handshake && a.close == b.close && a.firstFIN == b.firstFIN &&
		a.rstFrom == b.rstFrom && a.timeWait == b.timeWait && a.halfClose == b.halfClose &&
		a.connState == b.connState && a.history == b.history && a.packets == b.packets && a.calls == b.calls &&
		a.evicted == b.evicted && a.resumed == b.resumed && a.bytes == b.bytes && a.end.Equal(b.end)
}
