package main

import (
	"slices"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/decode"
)

// Streaming a traced run (run, run --pid).
//
// A program may run for days, so `run` explains each connection when it
// ends, as watch does, and keeps nothing of it afterwards. Its packets,
// calls and kernel events come from three places at three speeds (the
// capture ring hands packets over in blocks, the tracer reports a call
// when it returns, a packet waits in the ownFilter's limbo until a call
// names its connection), so the streamer holds each one a moment and
// feeds the tracker in time order what every source has delivered: what
// came before now-streamHold, and, when the tracer reports how far it has
// caught up (calls.TraceOptions.Progress), before that too. The tracker
// is told the time moves on (Expire) only as far as it has been fed, so a
// connection ends, and is explained, once its calls have had the time to
// arrive. Something that arrives later than that still goes in at once;
// the tracker places late calls on their connection while it lingers.
//
// With --write, the streamer writes the packets as they go to the tracker,
// in the same order, the calls in the comment of the packet nearest in
// time, as the batch writer (writePcapng) places them.

const (
	// streamHold is how long an item is held at least: the capture ring
	// hands a block over after capture.DefaultBlockTimeout, and the
	// ptrace tracer reports a call a little after it returned.
	streamHold = 300 * time.Millisecond
	// inKernelStreamHold is streamHold when the eBPF recorder also
	// captures the packets: one ring, read in the order it was written,
	// brings everything, and the recorder's progress covers it all, so
	// holding is only for a reader that has not reported yet (it reports
	// every 10–50 ms). A program making 20,000 connections a second
	// brings some 700,000 items a second: 300 ms of them is more than
	// maxStreamHeld.
	inKernelStreamHold = 60 * time.Millisecond
	// maxStreamHeld and maxStreamHeldBytes bound what is held: when the
	// tracer stops reporting progress (its reader starved on a loaded
	// machine), the oldest go to the tracker anyway.
	maxStreamHeld      = 1 << 17
	maxStreamHeldBytes = 32 << 20
	// pcapLookAhead is how long the last packet written waits for the
	// calls after it before it is written without them: a call goes on
	// the packet nearest in time, which may be the next one.
	pcapLookAhead = time.Second
)

// The order of items with the same time: a call first, then a kernel
// event, then the packet, as the batch feed orders them.
const (
	itemCall = iota
	itemKernel
	itemPacket
)

// streamItem is an item held: a packet (its slot in the packetStore), a
// call or a kernel event (its index in the streamer's tables). It holds
// no pointer, so that the heap is not the garbage collector's to scan and
// moving items costs no write barrier.
type streamItem struct {
	at   int64 // Unix nanoseconds
	seq  uint64
	idx  int32
	kind uint8
}

// streamHeap is a min-heap of items by time (then kind, then arrival).
// It is written out rather than through container/heap, whose interface
// boxed every item pushed and popped: an allocation each, on a path that
// sees every packet and call of the run.
type streamHeap []streamItem

func (h streamHeap) less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	if h[i].kind != h[j].kind {
		return h[i].kind < h[j].kind
	}
	return h[i].seq < h[j].seq
}

func (h *streamHeap) push(it streamItem) {
	*h = append(*h, it)
	q := *h
	for i := len(q) - 1; i > 0; {
		parent := (i - 1) / 2
		if !q.less(i, parent) {
			break
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
}

func (h *streamHeap) pop() streamItem {
	q := *h
	it := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	for i := 0; ; {
		least, l, r := i, 2*i+1, 2*i+2
		if l < len(q) && q.less(l, least) {
			least = l
		}
		if r < len(q) && q.less(r, least) {
			least = r
		}
		if least == i {
			break
		}
		q[i], q[least] = q[least], q[i]
		i = least
	}
	*h = q
	return it
}

// heldTable holds values by index, reusing the indexes given back: the
// calls and kernel events the streamer holds are copied in, not
// allocated one by one.
type heldTable[T any] struct {
	items chunked[T]
	free  []int32
}

func (t *heldTable[T]) put(v *T) int32 {
	i := t.slot()
	*t.items.at(i) = *v
	return i
}

// slot returns an index to fill: one given back, or a new one.
func (t *heldTable[T]) slot() int32 {
	if n := len(t.free); n > 0 {
		i := t.free[n-1]
		t.free = t.free[:n-1]
		return i
	}
	return t.items.grow()
}

// at is the value at index i, in place.
func (t *heldTable[T]) at(i int32) *T { return t.items.at(i) }

// release gives index i back; the caller has cleared what it must.
func (t *heldTable[T]) release(i int32) { t.free = append(t.free, i) }

// held is the number of indexes in use.
func (t *heldTable[T]) held() int { return t.items.len() - len(t.free) }

// take returns the value at i and gives the index back.
func (t *heldTable[T]) take(i int32) T {
	p := t.items.at(i)
	v := *p
	var zero T
	*p = zero // what it points to is not held any longer
	t.release(i)
	return v
}

// chunked is an array that grows by chunks of chunkLen: growing never
// copies what it holds (a slice grown by append copies it all each time,
// by a quarter at a time once large, and touches fresh pages for it:
// run's tables grew to tens of thousands of calls in the first second,
// and that copying was a tenth of a short run's CPU).
type chunked[T any] struct {
	chunks [][]T
	n      int32
}

const chunkLen = 512

// grow adds an item (zero) at the end and returns its index.
func (c *chunked[T]) grow() int32 {
	i := c.n
	if int(i)/chunkLen == len(c.chunks) {
		c.chunks = append(c.chunks, make([]T, chunkLen))
	}
	c.n++
	return i
}

func (c *chunked[T]) at(i int32) *T { return &c.chunks[i/chunkLen][i%chunkLen] }

// len is the number of items.
func (c *chunked[T]) len() int { return int(c.n) }

// streamer feeds a live run's packets, calls and kernel events to its
// tracker in time order as they come. Not safe for concurrent use: the
// capture (captureLive) calls it under its lock.
type streamer struct {
	tracker *decode.Tracker
	counts  decode.Counts
	held    streamHeap
	store   *packetStore // the packets' (ownFilter.streamTo)
	calls   heldTable[calls.Event]
	kernels heldTable[calls.KernelEvent]
	pkt     capture.Packet // the packet being fed
	bytes   int            // packet bytes held
	seq     uint64
	// progress is how far the tracer has caught up (zero: it does not
	// say); fed is how far the tracker has been fed.
	progress time.Time
	fed      time.Time
	// forced counts items fed before their time because too much was
	// held.
	forced int64
	// hold is how long an item is held at least (streamHold, or
	// inKernelStreamHold).
	hold time.Duration

	pcap     *streamPcap // --write (nil: none)
	flushOut func()      // pushes out what the report has buffered
}

func newStreamer(t *decode.Tracker) *streamer {
	return &streamer{tracker: t, store: new(packetStore), held: make(streamHeap, 0, 1024), hold: streamHold}
}

func (s *streamer) push(it streamItem) {
	s.seq++
	it.seq = s.seq
	s.held.push(it)
	for len(s.held) > maxStreamHeld || s.bytes > maxStreamHeldBytes {
		s.forced++
		s.pop()
	}
}

// packet takes a packet of the program's, held in the store's slot; the
// slot is the streamer's now.
func (s *streamer) packet(slot int32) {
	s.bytes += s.store.size(slot)
	s.push(streamItem{at: s.store.at(slot), kind: itemPacket, idx: slot})
}

func (s *streamer) call(ev *calls.Event) {
	s.push(streamItem{at: ev.Enter.UnixNano(), kind: itemCall, idx: s.calls.put(ev)})
}

func (s *streamer) kernel(ev *calls.KernelEvent) {
	s.push(streamItem{at: ev.Time.UnixNano(), kind: itemKernel, idx: s.kernels.put(ev)})
}

// caughtUp records the tracer's progress (calls.TraceOptions.Progress).
func (s *streamer) caughtUp(t time.Time) {
	if t.After(s.progress) {
		s.progress = t
	}
}

// advance feeds the tracker what every source has delivered by now, lets
// the connections that have ended go, and pushes the report and the
// --write file out.
func (s *streamer) advance(now time.Time) {
	upTo := now.Add(-s.hold)
	if !s.progress.IsZero() && s.progress.Before(upTo) {
		upTo = s.progress
	}
	limit := upTo.UnixNano()
	for len(s.held) > 0 && s.held[0].at <= limit {
		s.pop()
	}
	if upTo.After(s.fed) {
		s.fed = upTo
	}
	s.tracker.Expire(s.fed)
	s.pcap.due(s.fed, now)
	if s.flushOut != nil {
		s.flushOut()
	}
}

// drain feeds the tracker everything held: the run is over.
func (s *streamer) drain() {
	for len(s.held) > 0 {
		s.pop()
	}
	s.pcap.flush()
}

// pop feeds the tracker the earliest item held.
func (s *streamer) pop() {
	it := s.held.pop()
	switch it.kind {
	case itemPacket:
		s.bytes -= s.store.size(it.idx)
		s.store.packet(it.idx, &s.pkt)
		s.tracker.ObservePacket(&s.pkt, &s.counts)
		s.pcap.packet(&s.pkt)
		s.pkt.Data = nil
		s.store.release(it.idx)
	case itemCall:
		ev := s.calls.take(it.idx)
		s.tracker.ObserveCall(ev)
		s.pcap.call(&ev)
	case itemKernel:
		s.tracker.ObserveKernel(s.kernels.take(it.idx))
	}
}

// streamPcap writes the packets fed to the tracker to the --write file,
// the calls nearest in time to each packet (the later one on a tie, as
// nearest does) in one comment on it, as writePcapng places them: the
// last packet waits for the calls after it until the next packet comes or
// pcapLookAhead passes.
type streamPcap struct {
	out   *pcapOut
	iface string
	// snapLen is what the capture kept of each frame: the pcapng
	// interface block says it.
	snapLen int
	err     error           // the first write error; writing stops there
	last    *capture.Packet // &held while a packet waits (nil: none)
	// held is a copy of the packet that waits, its bytes in heldData
	// (reused): the streamer's are the store's, given back once fed.
	held     capture.Packet
	heldData []byte
	lastOut  []calls.Event // calls for last
	after    []calls.Event // calls after last, not yet placed
	before   []calls.Event // calls for the next packet (none waits before it)
	// omitted counts calls not written: past maxPcapComments waiting for
	// a packet (a program opening and closing sockets that never reach
	// the wire), or after the last packet.
	omitted int64
}

// maxPcapComments bounds the calls waiting for a packet to carry them.
const maxPcapComments = 4096

func newStreamPcap(out *pcapOut, iface string) *streamPcap {
	return &streamPcap{out: out, iface: iface, snapLen: capture.DefaultSnapLen}
}

func (w *streamPcap) call(ev *calls.Event) {
	if w == nil {
		return
	}
	if len(w.after)+len(w.before) >= maxPcapComments {
		w.omitted++
		return
	}
	if w.last != nil {
		w.after = append(w.after, *ev)
		return
	}
	// No packet before it waits (none yet, or it was written): the next
	// one is the nearest left.
	w.before = append(w.before, *ev)
}

func (w *streamPcap) packet(p *capture.Packet) {
	if w == nil {
		return
	}
	next := w.before
	w.before = nil
	if w.last != nil {
		for _, c := range w.after {
			if c.Enter.Sub(w.last.Timestamp) < p.Timestamp.Sub(c.Enter) {
				w.lastOut = append(w.lastOut, c)
			} else {
				next = append(next, c)
			}
		}
		w.after = w.after[:0]
		w.writeLast()
	}
	w.held = *p
	w.heldData = append(w.heldData[:0], p.Data...)
	w.held.Data = w.heldData
	w.last, w.lastOut = &w.held, next
}

func (w *streamPcap) writeLast() {
	if w.err == nil {
		var comments []string
		if len(w.lastOut) > 0 {
			slices.SortStableFunc(w.lastOut, func(a, b calls.Event) int { return a.Enter.Compare(b.Enter) })
			comments = []string{calls.FormatCalls(w.lastOut, w.last.Timestamp)}
		}
		w.err = w.out.write(0, w.iface, w.last, w.snapLen, comments)
	}
	w.last, w.lastOut = nil, nil
}

// due writes the last packet once no call can come nearer to it than the
// next packet might (the tracker has been fed pcapLookAhead past it), and
// flushes the file at least every second.
func (w *streamPcap) due(fed, now time.Time) {
	if w == nil {
		return
	}
	if w.last != nil && fed.Sub(w.last.Timestamp) > pcapLookAhead {
		w.lastOut = append(w.lastOut, w.after...)
		w.after = w.after[:0]
		w.writeLast()
	}
	if w.err == nil {
		w.err = w.out.flushDue(now)
	}
}

// flush writes what waits: the calls after the last packet go on it.
func (w *streamPcap) flush() {
	if w == nil {
		return
	}
	if w.last != nil {
		w.lastOut = append(w.lastOut, w.after...)
		w.after = w.after[:0]
		w.writeLast()
	}
	// Calls after the last packet written have none to carry them.
	w.omitted += int64(len(w.before))
	w.before = nil
}
