package calls

import (
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// KernelKind names what the kernel reported about a connection.
type KernelKind string

// The kernel's reports. Their values appear in the JSON output and must
// not change.
const (
	// KernelState is a TCP state change (tracepoint sock:inet_sock_set_state).
	KernelState KernelKind = "state"
	// KernelRetransmit is a retransmitted segment (tcp:tcp_retransmit_skb).
	KernelRetransmit KernelKind = "retransmit"
	// KernelRetransmitSynAck is a SYN-ACK retransmitted for a connection
	// still in the listener's queue (tcp:tcp_retransmit_synack).
	KernelRetransmitSynAck KernelKind = "retransmit-synack"
	// KernelResetSent is a RST the kernel sent on the socket (tcp:tcp_send_reset).
	KernelResetSent KernelKind = "reset-sent"
	// KernelResetReceived is a RST the socket accepted (tcp:tcp_receive_reset).
	KernelResetReceived KernelKind = "reset-received"
	// KernelError is a socket error reported to the program
	// (sock:inet_sk_error_report); Errno says which.
	KernelError KernelKind = "error"
)

// TCPState is a TCP state as the Linux kernel numbers it
// (include/net/tcp_states.h).
type TCPState uint8

// The kernel's TCP states.
const (
	TCPEstablished TCPState = 1 + iota
	TCPSynSent
	TCPSynRecv
	TCPFinWait1
	TCPFinWait2
	TCPTimeWait
	TCPClose
	TCPCloseWait
	TCPLastAck
	TCPListen
	TCPClosing
	TCPNewSynRecv
)

var tcpStateNames = [...]string{
	TCPEstablished: "ESTABLISHED",
	TCPSynSent:     "SYN_SENT",
	TCPSynRecv:     "SYN_RECV",
	TCPFinWait1:    "FIN_WAIT1",
	TCPFinWait2:    "FIN_WAIT2",
	TCPTimeWait:    "TIME_WAIT",
	TCPClose:       "CLOSE",
	TCPCloseWait:   "CLOSE_WAIT",
	TCPLastAck:     "LAST_ACK",
	TCPListen:      "LISTEN",
	TCPClosing:     "CLOSING",
	TCPNewSynRecv:  "NEW_SYN_RECV",
}

// String is the kernel's own name for the state, as ss prints it (for
// example SYN_RECV and FIN_WAIT1, where RFC 9293 says SYN-RECEIVED and
// FIN-WAIT-1).
func (s TCPState) String() string {
	if int(s) < len(tcpStateNames) && tcpStateNames[s] != "" {
		return tcpStateNames[s]
	}
	return "STATE_" + strconv.Itoa(int(s))
}

// KernelEvent is something the kernel itself reported about a traced
// program's TCP socket: a state change, a retransmission, a reset, an
// error. Only the eBPF recorder produces them.
type KernelEvent struct {
	Kind KernelKind
	Time time.Time // CLOCK_REALTIME, like packet timestamps
	// Local and Remote are the socket's addresses when the kernel
	// reported (Remote is invalid for a listener).
	Local, Remote netip.AddrPort
	// From and To are the states before and after a KernelState change;
	// To is also the socket's state for the other kinds.
	From, To TCPState
	Errno    syscall.Errno // KernelError's error
	// PID is the process that owns the socket (the one that made calls
	// on it, or the owner of its listener); 0 when not known.
	PID int
	// Socket identifies the kernel socket while it lives (two events
	// with the same Socket are the same connection).
	Socket uint64
}
