package decode

// tombStore holds the tombs (tracker.go), found by the hash of their key.
// A tomb is 136 bytes, more than the 128 a Go map keeps in place, so a
// map of tombs allocated each one apart; here the tombs live in
// fixed-size chunks, their places reused through a free list, and an
// index of open addressing (linear probing, as conntable.go) maps a hash
// to a place: burying a connection allocates nothing once the store has
// grown, finding or entering a tomb is one probe sequence, and the store
// never holds more chunks than its most tombs at once need (plus one).
type tombStore struct {
	// hashes and places are the index: slot j holds hash hashes[j]
	// (0: empty) at place places[j]. Two arrays, not one of pairs, so
	// that a slot costs 12 bytes, not 16: the index is a tenth of a
	// tomb's cost (tombCost).
	hashes []uint64
	places []int32
	n      int // tombs in the index
	chunks [][]tomb
	used   int32   // places handed out from the chunks so far
	free   []int32 // places given back
}

// tombChunk is how many tombs a chunk holds.
const tombChunk = 1024

func (s *tombStore) len() int { return s.n }

// slot returns the index slot of h: where it is, or the empty slot where
// it would go.
func (s *tombStore) slot(h uint64) (int, bool) {
	mask := len(s.hashes) - 1
	for j := int(h) & mask; ; j = (j + 1) & mask {
		switch s.hashes[j] {
		case h:
			return j, true
		case 0:
			return j, false
		}
	}
}

// find returns the place of the tomb of key hash h.
func (s *tombStore) find(h uint64) (int32, bool) {
	if s.n == 0 {
		return 0, false
	}
	j, ok := s.slot(h)
	return s.places[j], ok
}

// at returns the tomb at place i.
func (s *tombStore) at(i int32) *tomb { return &s.chunks[i/tombChunk][i%tombChunk] }

// put enters tb under h, replacing the tomb there.
func (s *tombStore) put(h uint64, tb *tomb) {
	if (s.n+1)*2 > len(s.hashes) {
		s.grow()
	}
	j, ok := s.slot(h)
	if !ok {
		s.hashes[j], s.places[j] = h, s.place()
		s.n++
	}
	*s.at(s.places[j]) = *tb
}

func (s *tombStore) grow() {
	hashes, places := s.hashes, s.places
	size := max(2*len(hashes), 64)
	s.hashes, s.places = make([]uint64, size), make([]int32, size)
	for j, h := range hashes {
		if h != 0 {
			k, _ := s.slot(h)
			s.hashes[k], s.places[k] = h, places[j]
		}
	}
}

func (s *tombStore) place() int32 {
	if n := len(s.free); n > 0 {
		i := s.free[n-1]
		s.free = s.free[:n-1]
		return i
	}
	if int(s.used) == len(s.chunks)*tombChunk {
		s.chunks = append(s.chunks, make([]tomb, tombChunk))
	}
	s.used++
	return s.used - 1
}

// drop removes the tomb of h, which is at place i.
func (s *tombStore) drop(h uint64, i int32) {
	j, ok := s.slot(h)
	if !ok {
		return
	}
	s.free = append(s.free, i)
	s.n--
	// Shift back the slots after j that probed past it (see
	// connTable.del).
	mask := len(s.hashes) - 1
	for k := (j + 1) & mask; s.hashes[k] != 0; k = (k + 1) & mask {
		home := int(s.hashes[k]) & mask
		if (k-home)&mask >= (k-j)&mask {
			s.hashes[j], s.places[j] = s.hashes[k], s.places[k]
			j = k
		}
	}
	s.hashes[j], s.places[j] = 0, 0
}

// clear removes every tomb, keeping the memory.
func (s *tombStore) clear() {
	clear(s.hashes)
	s.n, s.used, s.free = 0, 0, s.free[:0]
}
