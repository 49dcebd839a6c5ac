package decode

import (
	"math/rand/v2"
	"testing"
)

// TestTombStoreMatchesMap drives the tomb store and a map of tombs with
// the same random puts, replacements and drops, across several chunks,
// and checks that every hash finds the same tomb in both and that places
// are reused rather than the store growing past its most tombs at once.
// The hashes are chosen to collide in the index.
func TestTombStoreMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const hashes = 3 * tombChunk
	var s tombStore
	ref := map[uint64]tomb{}
	most := 0
	for step := range 20 * hashes {
		// Three home slots for all: long probe runs that wrap around
		// the index, and deletion's backward shift across them.
		x := uint64(rng.IntN(hashes))
		h := x<<20 | x%3 + 1
		if i, ok := s.find(h); ok && rng.IntN(3) > 0 {
			s.drop(h, i)
			delete(ref, h)
		} else {
			tb := tomb{id: step, seq: uint64(step), until: int64(h)}
			s.put(h, &tb)
			ref[h] = tb
		}
		most = max(most, len(ref))
		if s.len() != len(ref) {
			t.Fatalf("step %d: %d tombs, want %d", step, s.len(), len(ref))
		}
	}
	for x := uint64(0); x < hashes; x++ {
		h := x<<20 | x%3 + 1
		i, ok := s.find(h)
		want, in := ref[h]
		if ok != in || ok && *s.at(i) != want {
			t.Fatalf("hash %d: found %v, want %v", h, ok, in)
		}
	}
	if chunks := len(s.chunks); chunks > most/tombChunk+1 {
		t.Errorf("%d chunks for at most %d tombs at once", chunks, most)
	}
	s.clear()
	if _, ok := s.find(1); ok || s.len() != 0 {
		t.Errorf("tombs left after clear")
	}
}
