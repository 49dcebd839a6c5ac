package decode

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"maps"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/capture"
)

// v4pieces splits an IPv4 packet's payload into fragments at the given
// payload offsets (multiples of 8), as a router on a smaller MTU does
// (RFC 791 §3.2).
func v4pieces(payload []byte, id uint16, cuts ...int) [][]byte {
	var out [][]byte
	bounds := append(append([]int{0}, cuts...), len(payload))
	for i := 0; i+1 < len(bounds); i++ {
		p := ipv4(protoTCP, payload[bounds[i]:bounds[i+1]])
		binary.BigEndian.PutUint16(p[4:], id)
		field := uint16(bounds[i] / 8)
		if i+2 < len(bounds) {
			field |= 0x2000 // MF
		}
		binary.BigEndian.PutUint16(p[6:], field)
		out = append(out, p)
	}
	return out
}

// v6pieces does the same with IPv6 Fragment headers (RFC 8200 §4.5).
func v6pieces(payload []byte, id uint32, cuts ...int) [][]byte {
	var out [][]byte
	bounds := append(append([]int{0}, cuts...), len(payload))
	for i := 0; i+1 < len(bounds); i++ {
		fh := make([]byte, 8)
		fh[0] = protoTCP
		field := uint16(bounds[i])
		if i+2 < len(bounds) {
			field |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], field)
		binary.BigEndian.PutUint32(fh[4:], id)
		out = append(out, ipv6(ipv6Fragment, join(fh, payload[bounds[i]:bounds[i+1]])))
	}
	return out
}

type segLog struct{ segs []Segment }

func (h *segLog) Segment(_ *Connection, st *Step) { h.segs = append(h.segs, *st.Segment) }
func (h *segLog) Ended(*Connection)               {}

func feed(frames [][]byte, gap time.Duration) (*segLog, Counts, FragmentStats) {
	h := &segLog{}
	tr := NewTracker(h, TrackerConfig{})
	var n Counts
	t0 := time.Unix(1_700_000_000, 0)
	for i, f := range frames {
		p := capture.Packet{LinkType: layers.LinkTypeRaw, Data: f, Length: len(f), Timestamp: t0.Add(time.Duration(i) * gap)}
		tr.ObservePacket(&p, &n)
	}
	tr.Flush()
	return h, n, tr.FragmentStats()
}

func TestFragmentReassembly(t *testing.T) {
	data := make([]byte, 3000)
	for i := range data {
		data[i] = byte(i)
	}
	seg := join(tcpHeader(40000, 80, 1001, 5001, PSH|ACK, nil), data)
	p1 := v4pieces(seg, 7, 1480, 2960)
	tests := []struct {
		name     string
		frames   [][]byte
		gap      time.Duration
		segments int // whole segments delivered
		pieces   int
		dropped  int64
	}{
		{"IPv4 in order", p1, time.Millisecond, 1, 3, 0},
		{"IPv4 last piece first", [][]byte{p1[2], p1[0], p1[1]}, time.Millisecond, 1, 3, 0},
		{"IPv4 exact duplicate piece", [][]byte{p1[0], p1[1], p1[1], p1[2]}, time.Millisecond, 1, 3, 0},
		{"IPv6", v6pieces(seg, 99, 1232, 2464), time.Millisecond, 1, 3, 0},
		// Linux drops a datagram with overlapping pieces (4.19+, RFC 5722).
		{"IPv4 overlap", append(v4pieces(seg, 7, 1480, 2960)[:2], v4pieces(seg, 7, 1472)[1]), time.Millisecond, 0, 0, 1},
		// A piece missing until past ipfrag_time: the datagram is given up.
		{"timeout", [][]byte{p1[0], p1[1], p1[2]}, 31 * time.Second, 0, 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, n, st := feed(tt.frames, tt.gap)
			if len(h.segs) != tt.segments {
				t.Fatalf("%d segments, want %d (counts %+v, stats %+v)", len(h.segs), tt.segments, n, st)
			}
			if st.Dropped != tt.dropped {
				t.Errorf("dropped %d, want %d", st.Dropped, tt.dropped)
			}
			if n.Packets != n.TCP+n.Fragments+n.Other+n.Malformed {
				t.Errorf("counts do not add up: %+v", n)
			}
			if tt.segments == 0 {
				return
			}
			s := h.segs[0]
			if s.Len != 3000 || len(s.Payload) != 3000 || s.Fragments != tt.pieces || s.Seq != 1001 {
				t.Errorf("segment len %d, captured %d, pieces %d, seq %d; want 3000, 3000, %d, 1001", s.Len, len(s.Payload), s.Fragments, s.Seq, tt.pieces)
			}
			for i := range s.Payload {
				if s.Payload[i] != byte(i) {
					t.Fatalf("payload byte %d is %d", i, s.Payload[i])
				}
			}
		})
	}
}

// The reassembler's memory stays bounded whatever the input: a flood of
// first pieces that never complete keeps at most maxFragDatagrams.
func TestFragmentFloodBounded(t *testing.T) {
	seg := join(tcpHeader(40000, 80, 1001, 5001, PSH|ACK, nil), make([]byte, 3000))
	var r reassembler
	t0 := time.Unix(0, 0)
	for id := range 10_000 {
		f := v4pieces(seg, uint16(id), 1480)[0]
		var s Segment
		if err := decodeIPv4(f, 0, &s); err != ErrFragment {
			t.Fatal(err)
		}
		r.add(&s.frag, t0)
		if len(r.open) > maxFragDatagrams || len(r.open)+len(r.free) > maxFragDatagrams+1 {
			t.Fatalf("%d datagrams open, %d free", len(r.open), len(r.free))
		}
	}
	if r.stats.Dropped < 10_000-maxFragDatagrams {
		t.Errorf("dropped %d", r.stats.Dropped)
	}
}

// TestFragmentCounts checks how the run counts the pieces of fragmented
// TCP segments: pieces put back together are TCP packets; a piece whose
// datagram never became whole is a fragment of TCP, counted apart from
// the "other" (not TCP) packets and listed as "fragment of TCP (not
// reassembled)" (issue 11).
func TestFragmentCounts(t *testing.T) {
	lone := Undecoded{Kind: UndecodedFragment, Code: protoTCP}
	tests := []struct {
		file      string
		want      Counts
		undecoded map[Undecoded]int64
	}{
		// 3000 bytes in 3 IPv4 pieces and 2500 in 2 IPv6 pieces, both
		// reassembled, among 14 whole segments.
		{"../testdata/crafted/a7-fragments.pcap", Counts{Packets: 19, TCP: 19}, nil},
		// A first fragment (MF set) alone: tshark shows its TCP header.
		{filepath.Join(tcpdumpTests, "bgp-bgp_capabilities_print-oobr-1.pcap"), Counts{Packets: 1, Fragments: 1}, map[Undecoded]int64{lone: 1}},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			src, err := capture.OpenFile(tt.file)
			if errors.Is(err, fs.ErrNotExist) {
				t.Skipf("capture not here: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			tr := NewTracker(pairCounter{}, TrackerConfig{})
			got, err := Run(context.Background(), src, tr, RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			tr.Flush()
			if !maps.Equal(got.Undecoded, tt.undecoded) {
				t.Errorf("undecoded %v, want %v", got.Undecoded, tt.undecoded)
			}
			got.Undecoded, tt.want.Undecoded = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("counts %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := lone.String(); got != "fragment of TCP (not reassembled)" {
		t.Errorf("a lone TCP fragment reads %q", got)
	}
}
