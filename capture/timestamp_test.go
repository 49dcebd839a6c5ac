package capture

import (
	"math"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// TestExtremeTimestamps: a pcapng interface's if_tsoffset and if_tsresol
// can put a packet's time far outside what a date can print. Such times
// are clamped to years 1 and 9999 and counted, never wrapped into a
// negative year.
func TestExtremeTimestamps(t *testing.T) {
	tests := []struct {
		name    string
		resol   byte  // if_tsresol: 10^-resol s
		offset  int64 // if_tsoffset, seconds
		ts      uint64
		want    time.Time
		inRange bool
	}{
		{"ordinary", 6, 0, 1_700_000_000_000_000, time.Unix(1_700_000_000, 0), true},
		{"negative offset, still after year 1", 0, -1_000_000, 0, time.Unix(-1_000_000, 0), true},
		{"largest offset", 6, math.MaxInt64, 1, maxTime, false},
		{"smallest offset", 6, math.MinInt64, 0, minTime, false},
		{"seconds past year 9999", 0, 0, math.MaxUint64, maxTime, false},
		{"offset adds up past 9999", 0, 253402300799, 1, maxTime, false},
		{"offset lands on year 9999", 0, 253402300798, 1, time.Unix(253402300799, 0), true},
		{"just before year 1", 0, -62135596801, 0, minTime, false},
	}
	for _, tt := range tests {
		b := &ngBuilder{}
		b.shb(false)
		b.idb(uint16(layers.LinkTypeRaw), 0, ngOpt{ngOptIfTSResol, []byte{tt.resol}}, b.u64Opt(ngOptIfTSOffset, uint64(tt.offset)))
		b.epb(0, tt.ts, []byte("x"), 1)
		pkts, r := mustRead(t, b.bytes())
		if len(pkts) != 1 {
			t.Fatalf("%s: %d packets", tt.name, len(pkts))
		}
		if got := pkts[0].ts; !got.Equal(tt.want) {
			t.Errorf("%s: time %v, want %v", tt.name, got, tt.want)
		}
		if y := pkts[0].ts.Year(); y < 1 || y > 9999 {
			t.Errorf("%s: year %d", tt.name, y)
		}
		wantBad := int64(0)
		if !tt.inRange {
			wantBad = 1
		}
		if got := r.TimestampsOutOfRange(); got != wantBad {
			t.Errorf("%s: %d timestamps out of range, want %d", tt.name, got, wantBad)
		}
	}
}
