package decode

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
)

// Counts tallies the packets a Run read.
type Counts struct {
	Packets   int64 // read and matching the filter
	TCP       int64 // decoded as TCP segments
	Other     int64 // well-formed, but not TCP (or of a link type not decoded)
	Datagrams int64 // of Other: UDP datagrams and ICMP messages, handed to a DatagramHandler
	Malformed int64 // could not be decoded; skipped
	// Fragments counts the pieces of IP-fragmented TCP segments that no
	// whole segment came of: held for reassembly when the input ended, or
	// given up. They carry TCP, so they are not Other; the pieces of a
	// segment put back together count as TCP.
	Fragments int64
	// SampledTCP counts the TCP segments found in sFlow samples: headers
	// of 1 in N packets a switch saw, sent to a collector. They are
	// counted, not followed (sflow.go says why); the datagrams that carry
	// them are Other.
	SampledTCP int64
	// Undecoded counts the packets that yielded no segment (Other,
	// Fragments and Malformed) by what stopped the decoder.
	Undecoded map[Undecoded]int64
}

// RunOptions tune Run. The zero value runs every packet.
type RunOptions struct {
	// Match, if set, picks the packets to decode (a capture filter);
	// the others are not counted.
	Match func(*capture.Packet) bool
	// Progress, if set, is advanced to the number of packets read every
	// thousand or so packets, for a progress line on another goroutine.
	Progress *atomic.Int64
}

// Run reads src to its end, decodes each packet that opts.Match accepts
// and feeds the segments to t. It stops early when ctx is cancelled. It
// returns the counts so far and the source's error, if any other than
// io.EOF; every packet read before an error has been applied. Run does not
// Flush t: the caller decides when the input ends.
func Run(ctx context.Context, src capture.Source, t *Tracker, opts RunOptions) (Counts, error) {
	var (
		n Counts
		p capture.Packet
	)
	done := ctx.Done()
	match := opts.Match
	for i := int64(0); ; i++ {
		// Checked after the first packet, not before: a packet already
		// read from a pipe when Ctrl-C comes is applied, not lost (the
		// source's Interrupt ends a read that would block).
		if i&1023 == 1023 {
			if opts.Progress != nil {
				opts.Progress.Store(i)
			}
			if done != nil {
				select {
				case <-done:
					return n, ctx.Err()
				default:
				}
			}
		}
		if err := src.ReadPacket(&p); err != nil {
			if errors.Is(err, io.EOF) {
				return n, nil
			}
			return n, err
		}
		if match != nil && !match(&p) {
			continue
		}
		t.ObservePacket(&p, &n)
	}
}

// ObservePacket decodes p and applies what it holds: its TCP segment, and
// the socket calls socktrace wrote into its pcapng comments. n counts the
// packet as TCP, other or malformed.
func (t *Tracker) ObservePacket(p *capture.Packet, n *Counts) {
	n.Packets++
	switch err := t.dec.Decode(p, &t.seg); {
	case err == nil:
		n.TCP++
		t.Observe(&t.seg)
	case err == ErrFragment:
		t.observeFragment(p, n)
	case t.dec.Why().Kind != UndecodedMalformed:
		n.Other++
		n.count(t.dec.Why(), 1)
		n.SampledTCP += int64(t.dec.SampledTCP())
		if dh, ok := t.h.(DatagramHandler); ok && err == ErrNotTCP && t.datagrams.Decode(p, &t.datagram) == nil {
			n.Datagrams++
			dh.Datagram(&t.datagram)
		}
	default:
		n.Malformed++
		n.count(t.dec.Why(), 1)
	}
	// A capture socktrace wrote carries the socket calls it saw as packet
	// comments; they come back as observed calls.
	// A damaged comment gives the calls read before the damage.
	for _, comment := range p.Comments {
		calls.ParseComments(comment, t.ObserveCall)
	}
}

// observeFragment adds an IP fragment to its datagram and applies the
// segment when the datagram is whole. A piece counts as a fragment while
// it is held; when the segment is whole, it and the pieces before it
// count as TCP.
func (t *Tracker) observeFragment(p *capture.Packet, n *Counts) {
	f := &t.seg.frag
	payload, length, ok := t.frags.add(f, p.Timestamp)
	if !ok {
		n.Fragments++
		n.count(heldFragment, 1)
		return
	}
	pieces := t.frags.lastPieces
	if err := decodeTCP(payload, length, f.src, f.dst, &t.seg); err != nil {
		n.Malformed++
		return
	}
	t.seg.Fragments = pieces
	// The earlier pieces were counted as held by this run (unless it
	// began after them): they were TCP after all.
	held := min(int64(pieces-1), n.Fragments, n.Undecoded[heldFragment])
	n.Fragments -= held
	n.TCP += held
	n.uncount(heldFragment, held)
	n.TCP++
	t.Observe(&t.seg)
}

// FragmentStats returns what IP reassembly did so far.
func (t *Tracker) FragmentStats() FragmentStats { return t.frags.stats }
