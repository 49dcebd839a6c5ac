package main

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
)

// TestLimboAgainstList runs the limbo's index (flows by 4-tuple, flows by
// endpoint, packets linked per flow in a ring) against the plain list it
// replaces: packets in capture order, a claim taking every packet of a
// flow, the oldest dropped first. Random adds, claims by endpoint and
// drops, with few endpoints so that flows share them (and one flow from
// an endpoint to itself), must leave both with the same packets, in the
// same order, and hand the same slots out.
func TestLimboAgainstList(t *testing.T) {
	addrs := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:8080"),
		netip.MustParseAddrPort("127.0.0.1:40000"),
		netip.MustParseAddrPort("127.0.0.1:40001"),
		netip.MustParseAddrPort("[::1]:8080"),
		netip.MustParseAddrPort("[::1]:40000"),
	}
	type listed struct {
		fl   flow
		slot int32
	}
	size := func(slot int32) int { return int(slot%7) + 1 }
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		l := newLimbo(farLimbo)
		if seed%2 == 1 {
			// A small ring: it fills, wraps around and drops.
			l.ring = make([]limboPacket, 16)
		}
		var list []listed
		var slot int32
		for step := range 3000 {
			switch op := rng.IntN(10); {
			case op < 6: // a packet comes
				x, y := addrs[rng.IntN(len(addrs))], addrs[rng.IntN(len(addrs))]
				fl := makeFlow(x, y)
				if l.full() {
					got := l.dropOldest(size)
					if got != list[0].slot {
						t.Fatalf("seed %d step %d: full ring dropped slot %d, want %d", seed, step, got, list[0].slot)
					}
					list = list[1:]
				}
				slot++
				l.add(fl, slot, size(slot), int64(step))
				list = append(list, listed{fl, slot})
			case op < 8: // a call names an endpoint: its flows are claimed
				a := addrs[rng.IntN(len(addrs))]
				var got []int32
				l.flowsOf(a, func(fi int32, fl flow) {
					if fl.a != a && fl.b != a {
						t.Fatalf("seed %d step %d: flowsOf(%v) gave %v", seed, step, a, fl)
					}
					l.claim(fi, size, func(s int32) { got = append(got, s) })
				})
				var want []int32
				list = slices.DeleteFunc(list, func(p listed) bool {
					if p.fl.a == a || p.fl.b == a {
						want = append(want, p.slot)
						return true
					}
					return false
				})
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d: claimed %v by %v, want %v", seed, step, got, a, want)
				}
			default: // the oldest grows too old
				if len(list) == 0 {
					if l.oldest() != nil {
						t.Fatalf("seed %d step %d: a packet left in the limbo, none in the list", seed, step)
					}
					continue
				}
				if got := l.dropOldest(size); got != list[0].slot {
					t.Fatalf("seed %d step %d: dropped slot %d, want %d", seed, step, got, list[0].slot)
				}
				list = list[1:]
			}
			bytes := 0
			for _, p := range list {
				bytes += size(p.slot)
			}
			if l.live != len(list) || l.bytes != bytes {
				t.Fatalf("seed %d step %d: limbo holds %d packets, %d bytes; the list %d, %d", seed, step, l.live, l.bytes, len(list), bytes)
			}
			for _, p := range list[:min(len(list), 3)] {
				if l.count(p.fl) == 0 {
					t.Fatalf("seed %d step %d: flow %v has no packet in the limbo", seed, step, p.fl)
				}
			}
		}
		var rest []int32
		l.reset(func(s int32) { rest = append(rest, s) })
		var want []int32
		for _, p := range list {
			want = append(want, p.slot)
		}
		if !slices.Equal(rest, want) {
			t.Fatalf("seed %d: left %v, want %v", seed, rest, want)
		}
		if len(l.byAddr) != 0 || len(l.byFlow) != 0 {
			t.Fatalf("seed %d: after reset, %d endpoints and %d flows indexed", seed, len(l.byAddr), len(l.byFlow))
		}
	}
}

// TestLimboIndexEmpties: once every flow has left, no endpoint is left
// indexed (a run that streams for days must not grow the index).
func TestLimboIndexEmpties(t *testing.T) {
	l := newLimbo(farLimbo)
	srv := netip.MustParseAddrPort("127.0.0.1:8080")
	size := func(int32) int { return 1 }
	for i := range 1000 {
		cli := netip.AddrPortFrom(srv.Addr(), uint16(30000+i))
		l.add(makeFlow(cli, srv), int32(i), 1, int64(i))
		if i%2 == 0 {
			l.flowsOf(cli, func(fi int32, _ flow) { l.claim(fi, size, func(int32) {}) })
		} else {
			l.dropOldest(size)
		}
	}
	for l.oldest() != nil {
		l.dropOldest(size)
	}
	if len(l.byAddr) != 0 || len(l.byFlow) != 0 || l.live != 0 || l.n != 0 {
		t.Errorf("empty limbo: %d endpoints, %d flows indexed, %d live, %d in the ring", len(l.byAddr), len(l.byFlow), l.live, l.n)
	}
	if len(l.flows) > 2 {
		t.Errorf("%d flow records for at most 2 waiting at once", len(l.flows))
	}
}
