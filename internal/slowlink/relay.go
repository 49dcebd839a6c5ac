package slowlink

import (
	"context"
	"io"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// maxQueue bounds the packets held in one direction: at 100 ms and a
// demo's rate, a few dozen are in flight; past the bound they are dropped
// and counted, so memory stays bounded whatever comes in.
const maxQueue = 4096

// maxPacket is the largest packet read from a TUN device (its MTU is
// 65535 at most).
const maxPacket = 65536

type held struct {
	due  time.Time
	data []byte
}

// relay passes packets from in to out, each held for delay and dropped
// with probability loss, until ctx is done or in fails (it is closed).
// Packets keep their order: the delay is the same for all. drop decides
// the loss, so that a test can make it deterministic.
func relay(ctx context.Context, in io.Reader, out io.Writer, delay time.Duration, drop func() bool, st *stats) {
	queue := make(chan held, maxQueue)
	done := make(chan struct{})
	go func() {
		defer close(done)
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		for {
			var h held
			select {
			case h = <-queue:
			case <-ctx.Done():
				return
			}
			if wait := time.Until(h.due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
			}
			if _, err := out.Write(h.data); err == nil {
				st.relayed.Add(1)
			}
			st.held.Add(-1)
		}
	}()
	for {
		buf := make([]byte, maxPacket)
		n, err := in.Read(buf)
		if err != nil || ctx.Err() != nil {
			break
		}
		if drop() {
			st.lost.Add(1)
			continue
		}
		st.held.Add(1) // before the writer can take it off
		select {
		case queue <- held{due: time.Now().Add(delay), data: buf[:n:n]}:
		default:
			st.held.Add(-1)
			st.overflow.Add(1)
		}
	}
	<-done
}

type stats struct{ relayed, lost, overflow, held atomic.Int64 }

func (s *stats) snapshot() Stats {
	return Stats{Relayed: s.relayed.Load(), Lost: s.lost.Load(), Overflow: s.overflow.Load()}
}

// lossFunc returns a drop decision with probability p.
func lossFunc(p float64) func() bool {
	if p <= 0 {
		return func() bool { return false }
	}
	return func() bool { return rand.Float64() < p }
}
