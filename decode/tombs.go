package decode

// tombStore holds the tombs (tracker.go), found by the hash of their key.
// A tomb is 136 bytes, more than the 128 a Go map keeps in place, so a
// map of tombs allocated each one apart; here the map holds only an index
// and the tombs live in fixed-size chunks, their places reused through a
// free list: burying a connection allocates nothing once the store has
// grown, and the store never holds more chunks than its most tombs at
// once need (plus one).
type tombStore struct {
	index  map[uint64]int32 // by connKey.hash: where the tomb is
	chunks [][]tomb
	used   int32   // places handed out from the chunks so far
	free   []int32 // places given back
}

// tombChunk is how many tombs a chunk holds.
const tombChunk = 1024

func (s *tombStore) len() int { return len(s.index) }

// find returns the place of the tomb of key hash h.
func (s *tombStore) find(h uint64) (int32, bool) {
	i, ok := s.index[h]
	return i, ok
}

// at returns the tomb at place i.
func (s *tombStore) at(i int32) *tomb { return &s.chunks[i/tombChunk][i%tombChunk] }

// put enters tb under h, replacing the tomb there.
func (s *tombStore) put(h uint64, tb *tomb) {
	if s.index == nil {
		s.index = make(map[uint64]int32)
	}
	i, ok := s.index[h]
	if !ok {
		i = s.place()
		s.index[h] = i
	}
	*s.at(i) = *tb
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
	delete(s.index, h)
	s.free = append(s.free, i)
}

// clear removes every tomb, keeping the memory.
func (s *tombStore) clear() {
	clear(s.index)
	s.used, s.free = 0, s.free[:0]
}
