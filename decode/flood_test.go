package decode

import (
	"net/netip"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// countingHandler counts what a Tracker reports.
type countingHandler struct{ segments, ended int }

func (h *countingHandler) Segment(*Connection, *Step) { h.segments++ }
func (h *countingHandler) Ended(*Connection)          { h.ended++ }

// TestSYNFloodMemoryIsBounded sends a million SYNs from unique source
// addresses and ports, none answered: the connection table must stay at its
// limit, count what it evicted, and keep the heap bounded.
func TestSYNFloodMemoryIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("a million segments; skipped with -short")
	}
	const syns = 1_000_000
	const limit = 65536
	h := &countingHandler{}
	tr := NewTracker(h, TrackerConfig{MaxConnections: limit})
	dst := netip.MustParseAddrPort("10.0.0.1:80")
	start := time.Unix(1_700_000_000, 0)
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var peak, at200k, at800k uint64
	var s Segment
	for i := 0; i < syns; i++ {
		s = Segment{
			Time:  start.Add(time.Duration(i) * time.Microsecond),
			Src:   netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 16), byte(i >> 8)}), uint16(1024+i%60000)),
			Dst:   dst,
			Seq:   uint32(i) * 7919,
			Flags: SYN,
		}
		tr.Observe(&s)
		if i%100_000 == 0 {
			runtime.GC() // count what is live, not garbage not yet collected
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
			switch i {
			case 200_000:
				at200k = peak
			case 800_000:
				at800k = peak
			}
		}
	}
	st := tr.Stats()
	if st.Connections != syns {
		t.Errorf("%d connections opened, want %d", st.Connections, syns)
	}
	if st.Evicted != syns-limit {
		t.Errorf("%d evicted, want %d", st.Evicted, syns-limit)
	}
	if tr.conns.used != limit {
		t.Errorf("table holds %d connections, want the limit %d", tr.conns.used, limit)
	}
	tr.Flush()
	if h.ended != syns {
		t.Errorf("%d connections ended, want %d", h.ended, syns)
	}
	grown := int64(peak) - int64(before.HeapAlloc)
	late := int64(peak) - int64(at200k)
	t.Logf("heap grew by at most %.1f MiB for %d connections in the table (Connection is %d bytes); %.1f MiB of it after the 200000th SYN",
		float64(grown)/(1<<20), limit, unsafe.Sizeof(Connection{}), float64(late)/(1<<20))
	// Bounded means flat: once the table is full, more SYNs cost nothing
	// but churn. Go's map, deleting and inserting under churn, may grow
	// its groups once to make room for tombstones (seen here: +10 MiB
	// between the 400000th and 700000th SYN, flat after), so allow that,
	// and require the last fifth of the flood to add nothing.
	if late > 16<<20 {
		t.Errorf("heap grew by %.1f MiB between the 200000th and the last SYN, want at most one map growth", float64(late)/(1<<20))
	}
	if tail := int64(peak) - int64(at800k); tail > 1<<20 {
		t.Errorf("heap still grew by %.1f MiB over the last 200000 SYNs, want it flat", float64(tail)/(1<<20))
	}
	if grown > 128<<20 {
		t.Errorf("heap grew by %.1f MiB, want at most 128 MiB", float64(grown)/(1<<20))
	}
}
