package calls

import (
	"net/netip"
	"syscall"
	"time"

	"github.com/socktrace/socktrace/internal/neutral"
)

// Call names a socket call.
type Call string

// The socket calls socktrace knows. Their values appear in the JSON output
// and must not change.
const (
	Socket     Call = "socket"
	SetSockOpt Call = "setsockopt"
	Bind       Call = "bind"
	Listen     Call = "listen"
	Connect    Call = "connect"
	Accept     Call = "accept"
	Shutdown   Call = "shutdown"
	Close      Call = "close"
	Read       Call = "read"
	Write      Call = "write"
	// SendTo and RecvFrom send and receive one datagram, naming its
	// destination or learning its source (UDP).
	SendTo   Call = "sendto"
	RecvFrom Call = "recvfrom"
)

// Side says which end of a connection made a call, when that is known from
// the program's role (the demo knows; a traced program may not).
type Side string

const (
	Client Side = "client"
	Server Side = "server"
)

// Event is one socket call: what was called, on which socket, when it
// entered and returned, and what it returned.
type Event struct {
	Side Side // client or server; empty when the role is not known
	Call Call
	FD   int // the socket's file descriptor; -1 when not known
	// Local and Remote are the socket's addresses at the time of the call
	// (for connect and bind, the address given to the call).
	Local, Remote netip.AddrPort
	// Enter and Exit are wall-clock times (CLOCK_REALTIME, the clock
	// packet timestamps use). Exit is zero while the call has not
	// returned.
	Enter, Exit time.Time
	Result      int           // the return value (a new fd for socket and accept)
	Errno       syscall.Errno // 0 on success
	// Detail is a short, human-readable note on the arguments, such as
	// "SHUT_WR" for shutdown or "SO_LINGER 0" for setsockopt.
	Detail string
	// Inferred is true when no one saw the call: a segment implies it.
	Inferred bool
	PID, TID int
	Comm     string
	// Scenario is the demo scenario the call belongs to, if any.
	Scenario string
}

// Duration is how long the call blocked, zero when it has not returned.
func (e *Event) Duration() time.Duration {
	if e.Exit.IsZero() || e.Enter.IsZero() {
		return 0
	}
	return e.Exit.Sub(e.Enter)
}

// Neutralise makes the event's strings safe to print (see package
// internal/neutral): they came from outside — a packet comment, a traced
// program's name, a demo scenario — and may carry escape sequences.
func (e *Event) Neutralise() {
	e.Side = Side(neutral.String(string(e.Side)))
	e.Call = Call(neutral.String(string(e.Call)))
	e.Detail = neutral.String(e.Detail)
	e.Comm = neutral.String(e.Comm)
	e.Scenario = neutral.String(e.Scenario)
	e.Local, e.Remote = plainZone(e.Local), plainZone(e.Remote)
}

// maxZone is the longest IPv6 zone kept: an interface name (IFNAMSIZ
// less its NUL) or a scope ID's decimal digits.
const maxZone = 15

// plainZone returns a with its IPv6 zone dropped unless the zone is a
// plain token, an interface's name or index (letters, digits, '.', '-',
// '_'), as the tracer writes it. netip parses any zone a comment gives,
// escape sequences and quotes included, and every report prints an
// address as it is: in JSON, a quote in a zone wrote keys of its own.
func plainZone(a netip.AddrPort) netip.AddrPort {
	z := a.Addr().Zone()
	if z == "" {
		return a
	}
	ok := len(z) <= maxZone
	for i := 0; ok && i < len(z); i++ {
		c := z[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
	}
	if ok {
		return a
	}
	return netip.AddrPortFrom(a.Addr().WithZone(""), a.Port())
}
