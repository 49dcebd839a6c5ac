package calls

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// CommentPrefix starts every pcapng packet comment that carries a socket
// call. What follows it is the call in words on the first line, for a
// person reading the comment in Wireshark, and the call as one JSON object
// on the second, from which a replay rebuilds it exactly. (Comments
// written before the first line was added are the prefix and the JSON
// alone; ParseComment reads both.)
const CommentPrefix = "socktrace call: "

// commentEvent is an Event as a comment spells it. Field names follow the
// "call" lines of socktrace's JSON output.
type commentEvent struct {
	Side     Side      `json:"side,omitempty"`
	Call     Call      `json:"call"`
	FD       int       `json:"fd"`
	Local    string    `json:"local,omitempty"`
	Remote   string    `json:"remote,omitempty"`
	Enter    time.Time `json:"enter"`
	Exit     time.Time `json:"exit"`
	Result   int       `json:"result"`
	Errno    string    `json:"errno,omitempty"`
	Detail   string    `json:"detail,omitempty"`
	Inferred bool      `json:"inferred,omitempty"`
	PID      int       `json:"pid,omitempty"`
	TID      int       `json:"tid,omitempty"`
	Comm     string    `json:"comm,omitempty"`
	Scenario string    `json:"scenario,omitempty"`
}

// FormatComment renders ev as a pcapng packet comment, its strings
// neutralised: Wireshark shows comments as they are.
func FormatComment(ev *Event) string {
	safe := *ev
	safe.Neutralise()
	ev = &safe
	ce := commentEvent{
		Side: ev.Side, Call: ev.Call, FD: ev.FD, Enter: ev.Enter.UTC(), Exit: ev.Exit.UTC(),
		Result: ev.Result, Detail: ev.Detail, Inferred: ev.Inferred,
		PID: ev.PID, TID: ev.TID, Comm: ev.Comm, Scenario: ev.Scenario,
	}
	if ev.Local.IsValid() {
		ce.Local = ev.Local.String()
	}
	if ev.Remote.IsValid() {
		ce.Remote = ev.Remote.String()
	}
	if ev.Errno != 0 {
		ce.Errno = ErrnoName(ev.Errno)
	}
	b, err := json.Marshal(ce)
	if err != nil {
		// Only strings and numbers go in: Marshal cannot fail.
		b = []byte("{}")
	}
	// Two lines: the call as a person reads it (Wireshark shows the
	// comment as it is), then the same call as JSON, which ParseComment
	// reads back (JSON has no raw newline, so the last line is all of it).
	return CommentPrefix + commentText(ev) + "\n" + string(b)
}

// commentText is the call in one line, as the text report writes it:
// "client curl[520] connect(5, 127.0.0.1:18083) → -1 EINPROGRESS after 93µs".
func commentText(ev *Event) string {
	var b strings.Builder
	if ev.Side != "" {
		b.WriteString(string(ev.Side))
		b.WriteByte(' ')
	}
	if ev.Comm != "" {
		fmt.Fprintf(&b, "%s[%d] ", ev.Comm, ev.PID)
	}
	fmt.Fprintf(&b, "%s(%d", ev.Call, ev.FD)
	switch {
	case ev.Remote.IsValid():
		fmt.Fprintf(&b, ", %s", ev.Remote)
	case ev.Local.IsValid():
		fmt.Fprintf(&b, ", %s", ev.Local)
	}
	b.WriteByte(')')
	if ev.Exit.IsZero() {
		b.WriteString(" … (had not returned)")
	} else {
		fmt.Fprintf(&b, " → %d", ev.Result)
		if ev.Errno != 0 {
			b.WriteString(" " + ErrnoName(ev.Errno))
		}
		fmt.Fprintf(&b, " after %v", ev.Exit.Sub(ev.Enter))
	}
	if ev.Detail != "" {
		b.WriteString("; " + ev.Detail)
	}
	if ev.Inferred {
		b.WriteString(" [inferred]")
	}
	return b.String()
}

// ParseComment reads a call back from a packet comment, its strings
// neutralised (whoever wrote the file may have put escape sequences in). ok is false for a
// comment that is not a socktrace call; err is set for one that is but
// cannot be read.
func ParseComment(s string) (ev Event, ok bool, err error) {
	rest, found := strings.CutPrefix(s, CommentPrefix)
	if !found {
		return Event{}, false, nil
	}
	// The JSON is the last line; comments written before the readable
	// line was added have only the JSON.
	if i := strings.LastIndexByte(rest, '\n'); i >= 0 {
		rest = rest[i+1:]
	}
	var ce commentEvent
	if err := json.Unmarshal([]byte(rest), &ce); err != nil {
		return Event{}, true, fmt.Errorf("socket call in packet comment: %w", err)
	}
	ev = Event{
		Side: ce.Side, Call: ce.Call, FD: ce.FD, Enter: ce.Enter, Exit: ce.Exit,
		Result: ce.Result, Detail: ce.Detail, Inferred: ce.Inferred,
		PID: ce.PID, TID: ce.TID, Comm: ce.Comm, Scenario: ce.Scenario,
	}
	ev.Neutralise()
	if ce.Local != "" {
		if ev.Local, err = netip.ParseAddrPort(ce.Local); err != nil {
			return Event{}, true, fmt.Errorf("socket call in packet comment: local address: %w", err)
		}
	}
	if ce.Remote != "" {
		if ev.Remote, err = netip.ParseAddrPort(ce.Remote); err != nil {
			return Event{}, true, fmt.Errorf("socket call in packet comment: remote address: %w", err)
		}
	}
	if ce.Errno != "" {
		ev.Errno = errnoValue(ce.Errno)
	}
	return ev, true, nil
}

// errnoValue is the errno with the given symbolic name, or EINVAL for a
// name this system does not know.
func errnoValue(name string) syscall.Errno {
	for e := syscall.Errno(1); e < 4096; e++ {
		if ErrnoName(e) == name {
			return e
		}
	}
	return syscall.EINVAL
}
