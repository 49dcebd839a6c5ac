package calls

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// CallsCommentPrefix starts the pcapng packet comment that carries the
// socket calls socktrace placed on a packet: the calls made nearest to it
// in time, all in one comment so that Wireshark shows them as one item
// (not one item per call piled on the packet). The first line says how
// many calls came before and after the packet; then one line per call, in
// words, with its time relative to the packet; then the same calls as JSON,
// one object per line, from which a replay rebuilds them exactly:
//
//	socktrace calls: 2 before this packet
//	  -312.412ms  server python3[5013] listen(3) → 0 after 8µs
//	  -76µs  client curl[5016] connect(5, 127.0.0.1:18094) → -1 EINPROGRESS after 121µs
//	{"side":"server","call":"listen",...}
//	{"side":"client","call":"connect",...}
const CallsCommentPrefix = "socktrace calls: "

// CommentPrefix starts the comments of socktrace before CallsCommentPrefix:
// one call per comment, in words on the first line and as JSON on the
// second (or, older still, the JSON alone). ParseComments reads them all.
const CommentPrefix = "socktrace call: "

// maxCommentCalls bounds the calls read from one comment. socktrace writes
// the calls nearest one packet, a handful; a hostile file could fill a
// comment with millions of tiny objects.
const maxCommentCalls = 4096

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
	// Two lines: the call as a person reads it (Wireshark shows the
	// comment as it is), then the same call as JSON, which ParseComment
	// reads back (JSON has no raw newline, so the last line is all of it).
	return CommentPrefix + commentText(&safe) + "\n" + string(commentJSON(&safe))
}

// commentJSON is ev as one JSON object (commentEvent).
func commentJSON(ev *Event) []byte {
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
	return b
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

// FormatCalls renders the calls placed on the packet captured at "at" as
// one comment (see CallsCommentPrefix), their strings neutralised:
// Wireshark shows comments as they are. It returns "" when there are no
// calls.
func FormatCalls(evs []Event, at time.Time) string {
	if len(evs) == 0 {
		return ""
	}
	before, after := 0, 0
	for i := range evs {
		if evs[i].Enter.Before(at) {
			before++
		} else {
			after++
		}
	}
	var b strings.Builder
	b.WriteString(CallsCommentPrefix)
	switch {
	case after == 0:
		fmt.Fprintf(&b, "%d before this packet", before)
	case before == 0:
		fmt.Fprintf(&b, "%d after this packet", after)
	default:
		fmt.Fprintf(&b, "%d before this packet, %d after", before, after)
	}
	for i := range evs {
		ev := evs[i]
		ev.Neutralise()
		d := ev.Enter.Sub(at).Round(time.Microsecond)
		sign := "+"
		if d < 0 {
			sign, d = "-", -d
		}
		fmt.Fprintf(&b, "\n  %s%v  %s", sign, d, commentText(&ev))
	}
	for i := range evs {
		ev := evs[i]
		ev.Neutralise()
		b.WriteByte('\n')
		b.Write(commentJSON(&ev))
	}
	return b.String()
}

// ParseComments passes each socket call a packet comment carries to fn, in
// the order written, its strings neutralised (whoever wrote the file may
// have put escape sequences in). It reads every format socktrace has
// written (CallsCommentPrefix, CommentPrefix). ok is false for a comment
// that is not socktrace's; err is set for one that is but cannot be read
// whole, and the calls before the fault have been passed to fn.
func ParseComments(s string, fn func(Event)) (ok bool, err error) {
	if strings.HasPrefix(s, CommentPrefix) {
		ev, ok, err := ParseComment(s)
		if ok && err == nil {
			fn(ev)
		}
		return ok, err
	}
	rest, found := strings.CutPrefix(s, CallsCommentPrefix)
	if !found {
		return false, nil
	}
	n := 0
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if !strings.HasPrefix(line, "{") {
			continue // the calls in words
		}
		if n == maxCommentCalls {
			return true, fmt.Errorf("socket calls in packet comment: more than %d", maxCommentCalls)
		}
		n++
		ev, err := parseCommentJSON(line)
		if err != nil {
			return true, fmt.Errorf("socket call %d in packet comment: %w", n, err)
		}
		fn(ev)
	}
	return true, nil
}

// ParseComment reads a call back from a one-call comment (CommentPrefix;
// ParseComments reads every format), its strings
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
	ev, err = parseCommentJSON(rest)
	if err != nil {
		return Event{}, true, fmt.Errorf("socket call in packet comment: %w", err)
	}
	return ev, true, nil
}

// parseCommentJSON reads one call written by commentJSON, its strings
// neutralised.
func parseCommentJSON(s string) (ev Event, err error) {
	var ce commentEvent
	if err := json.Unmarshal([]byte(s), &ce); err != nil {
		return Event{}, err
	}
	ev = Event{
		Side: ce.Side, Call: ce.Call, FD: ce.FD, Enter: ce.Enter, Exit: ce.Exit,
		Result: ce.Result, Detail: ce.Detail, Inferred: ce.Inferred,
		PID: ce.PID, TID: ce.TID, Comm: ce.Comm, Scenario: ce.Scenario,
	}
	ev.Neutralise()
	if ce.Local != "" {
		if ev.Local, err = netip.ParseAddrPort(ce.Local); err != nil {
			return Event{}, fmt.Errorf("local address: %w", err)
		}
	}
	if ce.Remote != "" {
		if ev.Remote, err = netip.ParseAddrPort(ce.Remote); err != nil {
			return Event{}, fmt.Errorf("remote address: %w", err)
		}
	}
	if ce.Errno != "" {
		ev.Errno = errnoValue(ce.Errno)
	}
	return ev, nil
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
