package decode

// maxSpans bounds the ranges of sequence space a direction can have seen
// above its first hole. Real connections rarely have more than a few holes
// at once; past the bound the two ranges closest to each other are joined,
// as if the receiver had acknowledged the bytes between them (which it
// does once they arrive), so memory stays fixed whatever the input.
const maxSpans = 8

// span is a half-open range [from, to) of unwrapped sequence numbers.
type span struct{ from, to uint64 }

// seqSpace records, for one direction of a connection, which payload
// bytes are known to have been sent: those the capture saw and those the
// receiver acknowledged. Each byte counts once however often it is sent,
// and bytes the capture missed (lost before the capture point, or sent
// before it began) count once the receiver acknowledges them. Sequence
// numbers are unwrapped to 64 bits, so connections past 4 GiB count right.
type seqSpace struct {
	ok    bool
	ref   uint64 // the highest sequence number placed so far: unwrap near it
	start uint64 // the first payload byte counted
	low   uint64 // every byte in [start, low) is covered
	spans [maxSpans]span
	n     int
	hi    uint64 // one past the highest payload byte seen
	// acked is the highest acknowledgment the receiver sent, unwrapped;
	// hasAck says whether there was one.
	acked  uint64
	hasAck bool
	// finAt, when hasFIN, is the FIN's sequence number: acknowledgments
	// past it do not cover payload.
	finAt  uint64
	hasFIN bool
	total  int64 // bytes covered
}

// init starts the direction at its first payload byte.
func (q *seqSpace) init(first uint32) {
	*q = seqSpace{ok: true}
	x := uint64(first) + 1<<32 // room below for a few older segments
	q.ref, q.start, q.low, q.hi = x, x, x, x
}

// unwrap places a 32-bit sequence number in 64-bit space, nearest to what
// was seen last.
func (q *seqSpace) unwrap(seq uint32) uint64 {
	return uint64(int64(q.ref) + int64(int32(seq-uint32(q.ref))))
}

func (q *seqSpace) place(x uint64) {
	if x > q.ref {
		q.ref = x
	}
}

// seen returns how many of the bytes [from, to) are not covered yet.
func (q *seqSpace) uncovered(from, to uint64) (n, belowHi uint64) {
	if from < q.start {
		// Older than anything counted: those bytes were sent once
		// before the first byte seen and count as new.
		n += min(to, q.start) - from
		if from < q.hi {
			belowHi += min(to, q.start, q.hi) - from
		}
		from = q.start
	}
	if from < q.low {
		from = min(q.low, to)
	}
	for i := 0; i < q.n && from < to; i++ {
		s := q.spans[i]
		if s.to <= from {
			continue
		}
		if s.from >= to {
			break
		}
		if s.from > from {
			n += s.from - from
			belowHi += s.from - from // a span lies above: all of it is below hi
		}
		from = s.to
	}
	if from < to {
		n += to - from
		if from < q.hi {
			belowHi += min(to, q.hi) - from
		}
	}
	return n, belowHi
}

// cover marks [from, to) as covered, counting the bytes that were not.
func (q *seqSpace) cover(from, to uint64) {
	if from >= to {
		return
	}
	if from < q.start {
		// Bytes older than the first counted one (a capture that began
		// midstream): count them, and start there when they touch.
		if to >= q.start {
			q.total += int64(q.start - from)
			q.start = from
		} else {
			q.total += int64(to - from)
			return
		}
	}
	if to <= q.low {
		return
	}
	from = max(from, q.low)
	// Merge [from, to) into the spans, counting the new bytes.
	n, _ := q.uncovered(from, to)
	q.total += int64(n)
	// Keep the spans that do not touch [from, to); absorb those that do.
	w := 0
	inserted := false
	for i := 0; i < q.n; i++ {
		s := q.spans[i]
		switch {
		case s.to < from:
			q.spans[w] = s
			w++
		case s.from > to:
			if !inserted {
				q.spans[w] = span{from, to}
				w++
				inserted = true
			}
			q.spans[w] = s
			w++
		default:
			from, to = min(from, s.from), max(to, s.to)
		}
	}
	if !inserted {
		if w == maxSpans {
			q.joinClosest(w)
			w--
		}
		q.spans[w] = span{from, to}
		w++
	}
	q.n = w
	q.advanceLow()
	if q.n > maxSpans-1 {
		q.joinClosest(q.n)
		q.n--
		q.advanceLow()
	}
}

// advanceLow moves the contiguous front over the first span when it
// touches.
func (q *seqSpace) advanceLow() {
	for q.n > 0 && q.spans[0].from <= q.low {
		q.low = max(q.low, q.spans[0].to)
		copy(q.spans[:], q.spans[1:q.n])
		q.n--
	}
}

// joinClosest joins the two neighbouring spans of the first n with the
// smallest hole between them, counting the hole as covered.
func (q *seqSpace) joinClosest(n int) {
	best := 0
	for i := 1; i+1 < n; i++ {
		if q.spans[i+1].from-q.spans[i].to < q.spans[best+1].from-q.spans[best].to {
			best = i
		}
	}
	q.total += int64(q.spans[best+1].from - q.spans[best].to)
	q.spans[best].to = q.spans[best+1].to
	copy(q.spans[best+1:], q.spans[best+2:n])
}

// payloadClass says what a segment's payload was, relative to what the
// direction had sent before it.
type payloadClass uint8

const (
	payloadNew        payloadClass = iota // at least one byte beyond the highest sent
	payloadGapFill                        // fills a hole below the highest byte sent
	payloadRepeat                         // every byte sent before
	payloadSpurious                       // every byte sent before and already acknowledged
	payloadBeforeView                     // bytes from before the first one counted (capture began midstream)
)

// data records a payload of n bytes starting at seq, and says what it
// was.
func (q *seqSpace) data(seq uint32, n int) payloadClass {
	from := q.unwrap(seq)
	to := from + uint64(n)
	q.place(to)
	newBytes, belowHi := q.uncovered(from, to)
	class := payloadNew
	switch {
	case newBytes == 0 && q.hasAck && to <= q.acked:
		class = payloadSpurious
	case newBytes == 0:
		class = payloadRepeat
	case to <= q.start:
		class = payloadBeforeView
	case belowHi > 0:
		class = payloadGapFill
	}
	q.cover(from, to)
	q.hi = max(q.hi, to)
	return class
}

// ack records the receiver's acknowledgment: every payload byte before
// it reached the receiver, whether the capture saw it or not. It returns
// how many of those bytes the capture had not seen (a capture gap).
func (q *seqSpace) ack(a uint32) int64 {
	x := q.unwrap(a)
	if q.hasAck && x <= q.acked {
		return 0
	}
	if x > q.ref+1<<30 {
		return 0 // implausibly far ahead: a broken or forged number
	}
	before := q.total
	q.acked, q.hasAck = x, true
	end := x
	if q.hasFIN && end > q.finAt {
		end = q.finAt // the FIN takes a sequence number, not a byte
	}
	if end > q.start {
		q.cover(q.start, end)
	}
	q.place(x)
	return q.total - before
}

// fin records the FIN's sequence number.
func (q *seqSpace) fin(seq uint32) {
	x := q.unwrap(seq)
	q.finAt, q.hasFIN = x, true
	q.hi = max(q.hi, x) // bytes before the FIN that come later fill a hole
	q.place(x + 1)
}

// contiguousTo reports whether every payload byte before seq is covered:
// a receiver processes a FIN only once everything before it arrived.
func (q *seqSpace) contiguousTo(seq uint32) bool {
	return q.low >= q.unwrap(seq)
}

// ackedPast reports whether the receiver acknowledged seq.
func (q *seqSpace) ackedPast(seq uint32) bool {
	return q.hasAck && q.acked > q.unwrap(seq)
}
