package decode

import (
	"context"
	"errors"
	"io"

	"github.com/socktrace/socktrace/capture"
)

// Reading ahead (RunOptions.ReadAhead): one goroutine reads the source,
// filters and decodes, the caller's applies what it decoded to the
// tracker. Reading and decoding are about a fifth of a replay, and the
// tracker's goroutine is the one a replay waits for.
//
// The reader copies each packet into its batch, since the source reuses
// its buffer, and decodes the copy: a segment's Payload then points into
// the batch. A packet the fast decoder does not take whole (not TCP, a
// fragment, a tunnel, a packet with comments) goes to the tracker as the
// packet itself, for ObservePacket, which decodes it again with the slow
// path, reassembly and the socket calls in its comments: the result is
// that of Run without ReadAhead, packet for packet.

// readBatchLen is how many packets a batch holds; readBatchBytes how many
// bytes of packet data, and of comments, past which it is handed over
// sooner.
const (
	readBatchLen   = 1024
	readBatchBytes = 512 << 10
	readBatches    = 4
)

// readBatch is packets read and decoded, in capture order: segs, with
// the whole packets of raw among them.
type readBatch struct {
	segs     []Segment
	raw      []rawPacket
	data     []byte   // the packets' bytes, which segs and raw point into
	comments []string // raw's comments
	// commentBytes is the length of comments' strings: a packet may
	// carry megabytes of socket calls, and they count towards the
	// batch's bytes as the packets' data does.
	commentBytes int
	err          error // what ended the reading after this batch (io.EOF: the end)
}

// rawPacket is a packet the tracker takes whole, before segs[at].
type rawPacket struct {
	at int
	p  capture.Packet
}

func (b *readBatch) reset() {
	// segs and raw point into data, which stays: only the comments,
	// strings of their own, are let go.
	clear(b.comments)
	b.segs, b.raw, b.data, b.comments, b.err = b.segs[:0], b.raw[:0], b.data[:0], b.comments[:0], nil
	b.commentBytes = 0
}

// full reports whether the batch should be handed over before p.
func (b *readBatch) full(p *capture.Packet) bool {
	if len(b.segs)+len(b.raw) >= readBatchLen || len(b.data)+len(p.Data) > cap(b.data) {
		return true
	}
	n := b.commentBytes
	for _, c := range p.Comments {
		n += len(c)
	}
	return n > readBatchBytes
}

// add copies p into the batch and decodes the copy.
func (b *readBatch) add(p *capture.Packet) {
	if len(b.data)+len(p.Data) > cap(b.data) {
		// A packet larger than the batch's room, alone in its batch.
		b.data = make([]byte, 0, max(len(p.Data), readBatchBytes))
	}
	n := len(b.data)
	b.data = append(b.data, p.Data...)
	cp := *p
	cp.Data = b.data[n:len(b.data):len(b.data)]
	if len(cp.Comments) == 0 {
		b.segs = append(b.segs, Segment{})
		s := &b.segs[len(b.segs)-1]
		if Decode(&cp, s) == nil {
			return
		}
		b.segs = b.segs[:len(b.segs)-1]
	} else {
		k := len(b.comments)
		for _, c := range cp.Comments {
			b.commentBytes += len(c)
		}
		b.comments = append(b.comments, cp.Comments...)
		cp.Comments = b.comments[k:len(b.comments):len(b.comments)]
	}
	b.raw = append(b.raw, rawPacket{at: len(b.segs), p: cp})
}

// runReadAhead is Run with ReadAhead.
func runReadAhead(ctx context.Context, src capture.Source, t *Tracker, opts RunOptions) (Counts, error) {
	free := make(chan *readBatch, readBatches)
	full := make(chan *readBatch, readBatches)
	for range readBatches {
		free <- &readBatch{segs: make([]Segment, 0, readBatchLen), data: make([]byte, 0, readBatchBytes)}
	}
	go readAhead(ctx, src, opts, free, full)
	var (
		n   Counts
		err error
	)
	// Every batch is applied, the one with the error too: nothing read
	// before an error or a cancel is lost. The reader closes full when it
	// is done, so it has stopped (and will not touch src) when Run returns.
	for b := range full {
		r := 0
		for i := range b.segs {
			for ; r < len(b.raw) && b.raw[r].at == i; r++ {
				t.ObservePacket(&b.raw[r].p, &n)
			}
			n.Packets++
			n.TCP++
			t.Observe(&b.segs[i])
		}
		for ; r < len(b.raw); r++ {
			t.ObservePacket(&b.raw[r].p, &n)
		}
		if b.err != nil && !errors.Is(b.err, io.EOF) {
			err = b.err
		}
		b.reset()
		free <- b
	}
	return n, err
}

// readAhead reads src into batches until it ends, fails or ctx is done,
// and closes full.
func readAhead(ctx context.Context, src capture.Source, opts RunOptions, free <-chan *readBatch, full chan<- *readBatch) {
	defer close(full)
	var p capture.Packet
	done := ctx.Done()
	b := <-free
	for i := int64(0); ; i++ {
		// As in Run: checked after the first packet, not before.
		if i&1023 == 1023 {
			if opts.Progress != nil {
				opts.Progress.Store(i)
			}
			if done != nil {
				select {
				case <-done:
					b.err = ctx.Err()
					full <- b
					return
				default:
				}
			}
		}
		if err := src.ReadPacket(&p); err != nil {
			b.err = err
			full <- b
			return
		}
		if opts.Match != nil && !opts.Match(&p) {
			continue
		}
		if b.full(&p) && len(b.segs)+len(b.raw) > 0 {
			full <- b
			b = <-free
		}
		b.add(&p)
	}
}
