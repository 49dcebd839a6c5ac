package decode

import (
	"slices"

	"github.com/socktrace/socktrace/calls"
)

// The kernel's own view of a connection, beside the one inferred from the
// packets. Where socktrace records with eBPF (calls.Record), the kernel
// reports every TCP state change of the program's sockets; ObserveKernel
// gives those reports to their connection, and Kernel compares the two
// views, naming the differences Linux is known to have with RFC 9293's
// state machine as the packets show it.

// Bounds: kernel events kept per connection (a connection makes about a
// dozen), and connections whose events wait for their first packet.
const (
	maxKernelEvents   = 64
	maxKernelWaiting  = 4096
	firstKernelEvents = 16
)

// ObserveKernel gives a kernel event to its connection, by 4-tuple. An
// event that comes before the connection's first packet waits for it.
// Events of listening sockets (no peer) belong to no connection and are
// dropped.
func (t *Tracker) ObserveKernel(ev calls.KernelEvent) {
	if !ev.Remote.IsValid() || ev.Local.Port() == 0 {
		return
	}
	k := makeKey(ev.Local, ev.Remote)
	if c := t.conns.get(&k, k.hash()); c != nil {
		if len(c.KernelEvents) < maxKernelEvents {
			if cap(c.KernelEvents) < firstKernelEvents {
				// Room for a connection's usual events at once (about
				// ten, both sides), not doubling from one.
				c.KernelEvents = slices.Grow(c.KernelEvents, firstKernelEvents-len(c.KernelEvents))
			}
			c.KernelEvents = append(c.KernelEvents, ev)
		}
		return
	}
	if t.kernelWaiting == nil {
		t.kernelWaiting = make(map[connKey][]calls.KernelEvent)
	}
	if _, ok := t.kernelWaiting[k]; !ok && len(t.kernelWaiting) >= maxKernelWaiting {
		// Events of connections never captured (filtered out, on
		// another interface): forget them all rather than grow.
		clear(t.kernelWaiting)
	}
	if evs := t.kernelWaiting[k]; len(evs) < maxKernelEvents {
		t.kernelWaiting[k] = append(evs, ev)
	}
}

// KernelNote names a known, explained difference between the kernel's
// states and the inferred ones.
type KernelNote uint8

const (
	// NoteTimeWait: Linux hands a connection entering TIME_WAIT to a
	// small timewait socket and reports the full socket's change as
	// FIN_WAIT2 (or CLOSING) → CLOSE; the packets show TIME_WAIT.
	NoteTimeWait KernelNote = 1 + iota
	// NoteRequestSocket: Linux keeps a half-open connection in a request
	// socket of the listener (NEW_SYN_RECV), not in a socket of its own:
	// the connection's socket appears, in SYN_RECV, only when the
	// handshake's last ACK arrives, where the packets show SYN_RECEIVED
	// from the SYN-ACK on.
	NoteRequestSocket
)

// KernelView is what the kernel reported about a connection's two sides.
type KernelView struct {
	// States lists each side's states as the kernel reported them, the
	// first state before the first change included; empty for a side
	// whose socket was not recorded (a peer in another program).
	States [2][]calls.TCPState
	// Counts of the kernel's other reports, by side.
	Retransmits, ResetsSent, ResetsReceived, Errors [2]int
	// PID is the process that owned each side's socket, 0 if not known.
	PID [2]int
	// Agree is set when each recorded side's states, read as RFC 9293
	// states with the Notes applied, are the inferred ones.
	Agree bool
	// Notes are the known differences present.
	Notes []KernelNote
}

// Kernel compares the kernel's reports with the inferred states; ok is
// false when the kernel reported nothing about c.
func (c *Connection) Kernel() (v KernelView, ok bool) {
	if len(c.KernelEvents) == 0 {
		return v, false
	}
	for i := range c.KernelEvents {
		ev := &c.KernelEvents[i]
		side := Client
		if ev.Local == c.Server && !c.SelfConnect {
			side = Server
		} else if ev.Local != c.Client {
			continue
		}
		if ev.PID != 0 {
			v.PID[side] = ev.PID
		}
		switch ev.Kind {
		case calls.KernelState:
			if ev.From == ev.To {
				// Linux passes through tcp_set_state again without a
				// change (close() after shutdown(SHUT_WR) in FIN_WAIT1).
				continue
			}
			if len(v.States[side]) == 0 {
				v.States[side] = append(v.States[side], ev.From)
			}
			v.States[side] = append(v.States[side], ev.To)
		case calls.KernelRetransmit, calls.KernelRetransmitSynAck:
			v.Retransmits[side]++
		case calls.KernelResetSent:
			v.ResetsSent[side]++
		case calls.KernelResetReceived:
			v.ResetsReceived[side]++
		case calls.KernelError:
			v.Errors[side]++
		}
	}
	v.Agree = true
	seen := make(map[KernelNote]bool)
	for _, side := range [...]Side{Client, Server} {
		ks := v.States[side]
		if len(ks) == 0 {
			continue
		}
		agree, notes := compareStates(ks, c.States(side), side)
		v.Agree = v.Agree && agree
		for _, n := range notes {
			if !seen[n] {
				seen[n] = true
				v.Notes = append(v.Notes, n)
			}
		}
	}
	return v, true
}

// rfcState reads a kernel state as the RFC 9293 state it implements.
var rfcState = map[calls.TCPState]State{
	calls.TCPEstablished: Established,
	calls.TCPSynSent:     SynSent,
	calls.TCPSynRecv:     SynReceived,
	calls.TCPFinWait1:    FinWait1,
	calls.TCPFinWait2:    FinWait2,
	calls.TCPTimeWait:    TimeWait,
	calls.TCPClose:       Closed,
	calls.TCPCloseWait:   CloseWait,
	calls.TCPLastAck:     LastAck,
	calls.TCPListen:      Listen,
	calls.TCPClosing:     Closing,
}

// compareStates compares one side's kernel states with the inferred ones.
func compareStates(kernel []calls.TCPState, inferred []State, side Side) (bool, []KernelNote) {
	var notes []KernelNote
	ks := make([]State, 0, len(kernel))
	for i, k := range kernel {
		s, ok := rfcState[k]
		if !ok {
			return false, nil
		}
		if s == Closed && i > 0 && (kernel[i-1] == calls.TCPFinWait2 || kernel[i-1] == calls.TCPClosing) {
			// The timewait socket took over: no CLOSE on the wire.
			s = TimeWait
			notes = append(notes, NoteTimeWait)
		}
		if s == SynReceived && side == Server {
			notes = append(notes, NoteRequestSocket)
		}
		ks = append(ks, s)
	}
	// The inferred sequence may stop short of the kernel's (the capture
	// ended first) and may go on past it (a TIME_WAIT the kernel reports
	// no more about); compare what both saw.
	n := min(len(ks), len(inferred))
	for i := 0; i < n; i++ {
		if ks[i] != inferred[i] {
			return false, notes
		}
	}
	return n > 0, notes
}
