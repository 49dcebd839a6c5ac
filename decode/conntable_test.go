package decode

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestConnTableMatchesMap drives the connection table and a Go map with
// the same random puts and deletes, aliases among them, and checks that
// every key finds the same connection in both. The hashes are cut to a
// few values so that most keys collide and deletion's backward shift is
// exercised across long runs and the array's wrap-around.
func TestConnTableMatchesMap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		hashBits uint // hashes take 2^hashBits values
		keys     int
	}{
		{"all collide", 0, 40},
		{"few hashes", 3, 300},
		{"full hashes", 64, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(tc.keys)))
			hashOf := func(k *connKey) uint64 {
				h := k.hash()
				if tc.hashBits < 64 {
					h = h&(1<<tc.hashBits-1) | 1<<40 // never 0; collide in the low bits too
				}
				return h
			}
			keys := make([]connKey, tc.keys)
			conns := make([]*Connection, tc.keys)
			for i := range keys {
				a := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), uint16(1000+i))
				b := netip.MustParseAddrPort("[2001:db8::1]:80")
				keys[i] = makeKey(a, b)
				c := &Connection{key: keys[i]}
				if i%3 == 0 {
					// A tunneled connection: its own key has a tunnel,
					// its alias is keys[i], the plain 4-tuple.
					c.key.tun = uint64(i + 1)
					c.paths = &paths{aliases: []connKey{keys[i]}}
				}
				conns[i] = c
			}
			var table connTable
			ref := map[connKey]*Connection{}
			for step := range 20 * tc.keys {
				i := rng.IntN(tc.keys)
				c := conns[i]
				if _, in := ref[keys[i]]; in {
					table.del(&keys[i], hashOf(&keys[i]))
					delete(ref, keys[i])
					if c.paths != nil {
						table.del(&c.key, hashOf(&c.key))
						delete(ref, c.key)
					}
				} else {
					if c.paths != nil {
						table.put(&c.key, hashOf(&c.key), c, -1)
						ref[c.key] = c
						table.put(&keys[i], hashOf(&keys[i]), c, 0)
					} else {
						table.put(&keys[i], hashOf(&keys[i]), c, -1)
					}
					ref[keys[i]] = c
				}
				if table.used != len(ref) {
					t.Fatalf("step %d: table holds %d keys, the map %d", step, table.used, len(ref))
				}
				if step%(tc.keys/8+1) != 0 && step < 20*tc.keys-1 {
					continue
				}
				for j := range keys {
					for _, k := range []*connKey{&keys[j], &conns[j].key} {
						if got, want := table.get(k, hashOf(k)), ref[*k]; got != want {
							t.Fatalf("step %d: key %d finds %p, want %p", step, j, got, want)
						}
					}
				}
			}
			own := table.connections(nil)
			if want := len(ref); len(own) > want {
				t.Fatalf("%d connections listed for %d keys", len(own), want)
			}
			for _, c := range own {
				if ref[c.key] != c {
					t.Errorf("connection listed that is not in the table under its own key")
				}
			}
		})
	}
}

// TestKeyHash checks that the hash keeps apart what the key keeps apart:
// directions fold into one key, but an IPv4 address and its IPv4-mapped
// IPv6 form, the two ports, and the tunnel do not.
func TestKeyHash(t *testing.T) {
	a := netip.MustParseAddrPort("10.0.0.1:1000")
	b := netip.MustParseAddrPort("10.0.0.2:80")
	mapped := netip.AddrPortFrom(netip.AddrFrom16(a.Addr().As16()), a.Port())
	base := makeKey(a, b)
	if h1, h2 := base.hash(), makeKey(b, a); h1 != h2.hash() {
		t.Errorf("the two directions hash differently")
	}
	tunneled := base
	tunneled.tun = 7
	for _, tc := range []struct {
		name string
		k    connKey
	}{
		{"IPv4-mapped", makeKey(mapped, b)},
		{"ports swapped", makeKey(netip.AddrPortFrom(a.Addr(), 80), netip.AddrPortFrom(b.Addr(), 1000))},
		{"tunnel", tunneled},
	} {
		if tc.k == base {
			t.Fatalf("%s: the keys are equal", tc.name)
		}
		if tc.k.hash() == base.hash() {
			t.Errorf("%s: hashes like the plain key", tc.name)
		}
	}
}
