package decode

// StepKind says what a segment did, for the explanation beside it.
type StepKind uint8

// The kinds of step.
const (
	StepSYN             StepKind = iota // the client's SYN: connect() asks for a connection
	StepSYNRetransmit                   // the client sent its SYN again: no answer in time
	StepSimultaneousSYN                 // the other side sent a SYN of its own
	StepSYNACK                          // the server's SYN-ACK: the kernel answers for the listening socket
	StepHandshakeACK                    // the ACK that completes the handshake
	StepData                            // new payload
	StepRetransmission                  // payload sent before
	StepACK                             // a bare acknowledgment
	StepFIN                             // a FIN: the sender is done sending
	StepRST                             // a RST aborts the connection
	StepRefused                         // a RST answering a SYN: nothing listens on the port
	StepLate                            // a segment after the connection finished
	// StepOutOfOrder is payload that fills a hole below bytes sent
	// later: sent earlier and overtaken, or its first copy lost before
	// the capture point.
	StepOutOfOrder
	// StepSpuriousRetransmission is payload sent before that the
	// receiver had already acknowledged.
	StepSpuriousRetransmission
	// StepRSTIgnored is a RST the receiving stack drops: its numbers are
	// outside what RFC 9293 and RFC 5961 §3 accept (forged or stale).
	StepRSTIgnored
)

var stepNames = [...]string{"syn", "syn-retransmit", "simultaneous-syn", "syn-ack", "handshake-ack",
	"data", "retransmission", "ack", "fin", "rst", "refused", "late",
	"out-of-order", "spurious-retransmission", "rst-ignored"}

func (k StepKind) String() string { return stepNames[k] }

// Step is what one segment did to its connection. A Tracker reuses its Step:
// a Handler must copy what it keeps.
type Step struct {
	Segment *Segment
	From    Side
	// Index counts the connection's segments from 1.
	Index int
	// RelSeq and RelAck are relative to the sender's and the receiver's
	// initial sequence numbers, as Wireshark shows them. RelAck is 0 when
	// the segment carries no ACK.
	RelSeq, RelAck uint32
	// Before and After are both sides' states around the segment,
	// indexed by Side.
	Before, After [2]State
	Kind          StepKind
	// Reordered is set when the segment was captured out of the wire's
	// order: time-stamped before a segment captured earlier, or a SYN
	// whose SYN-ACK was captured first.
	Reordered bool
	// Probes is, for a RST, how many keep-alive probes its sender had
	// sent just before it with no segment from the other side since: a
	// RST after unanswered probes is the kernel's keep-alive timer giving
	// up (Linux resets the connection then), not a call.
	Probes uint8
	// Offload is set for payload longer than the path's MSS: a
	// super-segment of TSO/GSO or GRO (Connection.Offload).
	// OffloadFirst is set on the connection's first such segment.
	Offload, OffloadFirst bool
	// AckedUnseen is how many payload bytes this segment's ACK
	// acknowledged that the capture never saw: a capture gap.
	AckedUnseen uint32
	// DSACK is set when the segment's first SACK block is a D-SACK (RFC
	// 2883): bytes the receiver got twice. DSACKSpurious is set when they
	// are bytes of the other side's last retransmission: that copy was
	// not needed.
	DSACK, DSACKSpurious bool
	// HeldFIN is set on the first ACK of the receiver's FIN when that FIN
	// crossed the sender's own, and the receiver has not shown that it
	// had the sender's FIN: the receiver stays in FIN_WAIT_1 until its
	// ACK of that FIN shows whether it had it before this ACK (CLOSING)
	// or not, the FIN lost on the way (FIN_WAIT_2).
	HeldFIN bool
	// Passed lists, per side, every state the side entered with this
	// step, in order: one segment can move a side twice (a FIN-ACK takes
	// FIN_WAIT_1 through FIN_WAIT_2 to TIME_WAIT). It aliases the
	// connection's state lists.
	Passed [2][]State
}

// Changed reports whether the side's state changed with this step.
func (s *Step) Changed(side Side) bool { return s.Before[side] != s.After[side] }
