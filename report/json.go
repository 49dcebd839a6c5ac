package report

import (
	"bufio"
	"io"
	"net/netip"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// JSON writes NDJSON as DESIGN.md's schema fixes it: a "segment" line per
// segment as it happens, a "connection" object when a connection ends, a
// "call" line per socket call, and a "summary" line last. Lines are built
// by appending to one buffer, so writing a segment allocates nothing.
type JSON struct {
	w   *bufio.Writer
	tc  timeCache
	err error
}

// NewJSON returns a JSON writer on w. Call Summary at the end, which also
// flushes.
func NewJSON(w io.Writer) *JSON {
	return &JSON{w: bufio.NewWriterSize(w, 256<<10)}
}

// line returns a buffer to build the next line in: the unused part of the
// output buffer itself, so that a line is written once, not built and then
// copied.
func (j *JSON) line() []byte {
	if j.w.Available() < 4096 {
		if err := j.w.Flush(); err != nil && j.err == nil {
			j.err = err
		}
	}
	return j.w.AvailableBuffer()
}

// flushLine ends the line built in b and hands it to the output buffer.
// When b still lies in the buffer's free space, Write copies nothing.
func (j *JSON) flushLine(b []byte) {
	b = append(b, '\n')
	if j.err == nil {
		_, j.err = j.w.Write(b)
	}
}

// Segment implements decode.Handler.
func (j *JSON) Segment(c *decode.Connection, st *decode.Step) {
	s := st.Segment
	b := j.line()
	b = append(b, `{"type":"segment","conn":`...)
	b = strconv.AppendInt(b, int64(c.ID), 10)
	b = append(b, `,"time":`...)
	b = j.tc.appendTime(b, s.Time)
	b = append(b, `,"from":"`...)
	b = append(b, st.From.String()...)
	b = append(b, `","flags":[`...)
	first := true
	for _, f := range [...]decode.Flags{decode.SYN, decode.ACK, decode.FIN, decode.RST, decode.PSH, decode.URG, decode.ECE, decode.CWR} {
		if s.Flags&f != 0 {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = append(b, '"')
			b = append(b, f.Name()...)
			b = append(b, '"')
		}
	}
	b = append(b, `],"seq":`...)
	b = strconv.AppendUint(b, uint64(st.RelSeq), 10)
	b = append(b, `,"ack":`...)
	b = strconv.AppendUint(b, uint64(st.RelAck), 10)
	b = append(b, `,"len":`...)
	b = strconv.AppendInt(b, int64(s.Len), 10)
	b = append(b, `,"client_state":`...)
	b = appendState(b, st.After[decode.Client])
	b = append(b, `,"server_state":`...)
	b = appendState(b, st.After[decode.Server])
	b = append(b, `,"kind":"`...)
	b = append(b, st.Kind.String()...)
	b = append(b, `","abs_seq":`...)
	b = strconv.AppendUint(b, uint64(s.Seq), 10)
	b = append(b, `,"abs_ack":`...)
	b = strconv.AppendUint(b, uint64(s.Ack), 10)
	b = append(b, `,"window":`...)
	b = strconv.AppendUint(b, uint64(s.Window), 10)
	if s.Truncated {
		b = append(b, `,"truncated":true`...)
	}
	b = append(b, '}')
	j.flushLine(b)
}

// Ended implements decode.Handler: it writes the connection object.
func (j *JSON) Ended(c *decode.Connection) {
	b := j.line()
	b = append(b, `{"type":"connection","id":`...)
	b = strconv.AppendInt(b, int64(c.ID), 10)
	b = append(b, `,"client":`...)
	b = appendAddr(b, c.Client)
	b = append(b, `,"server":`...)
	b = appendAddr(b, c.Server)
	b = append(b, `,"start":`...)
	b = j.tc.appendTime(b, c.Start)
	b = append(b, `,"end":`...)
	b = j.tc.appendTime(b, c.End)
	b = append(b, `,"handshake":"`...)
	b = append(b, c.Handshake().String()...)
	b = append(b, `","close":"`...)
	b = append(b, c.CloseKind().String()...)
	b = append(b, `","first_fin":`...)
	b = appendSides(b, c.FirstFIN)
	b = append(b, `,"rst_from":`...)
	b = appendSides(b, c.RSTFrom)
	b = append(b, `,"time_wait":`...)
	b = appendSides(b, c.TimeWait)
	b = append(b, `,"half_close":`...)
	b = strconv.AppendBool(b, c.HalfClose)
	b = append(b, `,"syn_retransmits":`...)
	b = strconv.AppendInt(b, int64(c.SYNRetransmits), 10)
	b = append(b, `,"irtt_us":`...)
	if c.HasIRTT {
		b = strconv.AppendFloat(b, float64(c.IRTT.Nanoseconds())/1e3, 'f', -1, 64)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"packets":`...)
	b = strconv.AppendInt(b, int64(c.Packets), 10)
	b = append(b, `,"bytes_c2s":`...)
	b = strconv.AppendInt(b, c.Bytes[decode.Client], 10)
	b = append(b, `,"bytes_s2c":`...)
	b = strconv.AppendInt(b, c.Bytes[decode.Server], 10)
	b = append(b, `,"conn_state":"`...)
	b = append(b, c.ConnState()...)
	b = append(b, `","history":`...)
	b = appendString(b, c.History())
	b = append(b, `,"states":{"client":`...)
	b = appendStates(b, c.States(decode.Client))
	b = append(b, `,"server":`...)
	b = appendStates(b, c.States(decode.Server))
	b = append(b, `},"calls":[`...)
	for i := range c.Calls {
		if i > 0 {
			b = append(b, ',')
		}
		b = j.appendCallFields(append(b, '{'), &c.Calls[i])
		b = append(b, '}')
	}
	b = append(b, ']')
	if c.Scenario != "" {
		b = append(b, `,"scenario":`...)
		b = appendString(b, c.Scenario)
	}
	if c.SelfConnect {
		b = append(b, `,"self_connect":true`...)
	}
	if c.RolesGuessed {
		b = append(b, `,"roles_guessed":true`...)
	}
	b = append(b, '}')
	j.flushLine(b)
}

// Call implements decode.CallHandler: it writes a "call" line. c is nil
// for a call that belongs to no connection.
func (j *JSON) Call(c *decode.Connection, ev *calls.Event) {
	b := append(j.line(), `{"type":"call","conn":`...)
	if c != nil {
		b = strconv.AppendInt(b, int64(c.ID), 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, ',')
	b = j.appendCallFields(b, ev)
	j.flushLine(append(b, '}'))
}

// Summary writes the last line and flushes. dropped < 0 means "not
// applicable" (a file has no kernel drops) and is written as null.
func (j *JSON) Summary(s Summary) error {
	b := append(j.line(), `{"type":"summary","packets":`...)
	b = strconv.AppendInt(b, s.Counts.Packets, 10)
	b = append(b, `,"tcp":`...)
	b = strconv.AppendInt(b, s.Counts.TCP, 10)
	b = append(b, `,"other":`...)
	b = strconv.AppendInt(b, s.Counts.Other, 10)
	b = append(b, `,"malformed":`...)
	b = strconv.AppendInt(b, s.Counts.Malformed, 10)
	b = append(b, `,"connections":`...)
	b = strconv.AppendInt(b, s.Connections, 10)
	b = append(b, `,"dropped":`...)
	if s.Dropped < 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, s.Dropped, 10)
	}
	b = append(b, `,"evicted":`...)
	b = strconv.AppendInt(b, s.Evicted, 10)
	if s.Err != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, s.Err)
	}
	j.flushLine(append(b, '}'))
	if err := j.w.Flush(); j.err == nil {
		j.err = err
	}
	return j.err
}

func (j *JSON) appendCallFields(b []byte, ev *calls.Event) []byte {
	b = append(b, `"side":`...)
	if ev.Side == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, string(ev.Side))
	}
	b = append(b, `,"call":`...)
	b = appendString(b, string(ev.Call))
	b = append(b, `,"fd":`...)
	if ev.FD < 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(ev.FD), 10)
	}
	b = append(b, `,"enter":`...)
	b = j.tc.appendTime(b, ev.Enter)
	b = append(b, `,"exit":`...)
	b = j.tc.appendTime(b, ev.Exit)
	b = append(b, `,"result":`...)
	if ev.Inferred && ev.Errno == 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendInt(b, int64(ev.Result), 10)
	}
	b = append(b, `,"errno":`...)
	if ev.Errno == 0 {
		b = append(b, "null"...)
	} else {
		b = appendString(b, errnoName(ev.Errno))
	}
	b = append(b, `,"inferred":`...)
	b = strconv.AppendBool(b, ev.Inferred)
	b = append(b, `,"pid":`...)
	b = appendOptInt(b, ev.PID)
	b = append(b, `,"comm":`...)
	if ev.Comm == "" {
		b = append(b, "null"...)
	} else {
		b = appendString(b, ev.Comm)
	}
	if ev.Local.IsValid() {
		b = append(b, `,"local":`...)
		b = appendAddr(b, ev.Local)
	}
	if ev.Remote.IsValid() {
		b = append(b, `,"remote":`...)
		b = appendAddr(b, ev.Remote)
	}
	if ev.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendString(b, ev.Detail)
	}
	if ev.TID != 0 {
		b = append(b, `,"tid":`...)
		b = strconv.AppendInt(b, int64(ev.TID), 10)
	}
	return b
}

func appendOptInt(b []byte, v int) []byte {
	if v == 0 {
		return append(b, "null"...)
	}
	return strconv.AppendInt(b, int64(v), 10)
}

// appendTime writes t as a quoted RFC 3339 time with nanoseconds in UTC.
// Formatting the date is the costliest part of a line, and a capture's
// times share their day, so the "2006-01-02T" prefix of the last day
// written is kept and the time of day is written with arithmetic.
func (tc *timeCache) appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	sec := t.Unix()
	day := sec / 86400
	if sec < 0 {
		day = (sec - 86399) / 86400
	}
	if day != tc.day || tc.n == 0 {
		p := time.Unix(day*86400, 0).UTC().AppendFormat(tc.prefix[:0], "2006-01-02T")
		tc.n = copy(tc.prefix[:], p)
		tc.day = day
	}
	b = append(b, '"')
	b = append(b, tc.prefix[:tc.n]...)
	s := sec - day*86400
	ns := t.Nanosecond()
	var d [19]byte // hh:mm:ss.nnnnnnnnnZ
	d[0], d[1] = byte('0'+s/36000), byte('0'+s/3600%10)
	d[2] = ':'
	d[3], d[4] = byte('0'+s/600%6), byte('0'+s/60%10)
	d[5] = ':'
	d[6], d[7] = byte('0'+s%60/10), byte('0'+s%10)
	d[8] = '.'
	for i := 17; i >= 9; i-- {
		d[i] = byte('0' + ns%10)
		ns /= 10
	}
	d[18] = 'Z'
	b = append(b, d[:]...)
	return append(b, '"')
}

// timeCache holds the formatted date of the last day appendTime wrote.
type timeCache struct {
	day    int64
	prefix [32]byte
	n      int
}

// appendString writes s as a JSON string. Bytes outside printable ASCII
// are escaped as \u00XX, invalid UTF-8 and invisible runes as U+FFFD, so the
// output is valid JSON and safe on a terminal whatever the input.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	// Most strings (addresses, details, names) need no escaping at all.
	safe := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			safe = false
			break
		}
	}
	if safe {
		b = append(b, s...)
		return append(b, '"')
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x20 && c < 0x7f:
			b = append(b, c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c >= utf8.RuneSelf:
			// Printable UTF-8 (Korean text, arrows) passes; invalid
			// bytes and invisible runes become U+FFFD.
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError || !unicode.IsPrint(r) {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size - 1
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
	}
	return append(b, '"')
}

// appendAddr writes "ip:port", with IPv6 in brackets.
func appendAddr(b []byte, a netip.AddrPort) []byte {
	b = append(b, '"')
	b = a.AppendTo(b)
	return append(b, '"')
}

func appendState(b []byte, s decode.State) []byte {
	if s == decode.Unknown {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = append(b, s.String()...)
	return append(b, '"')
}

func appendStates(b []byte, states []decode.State) []byte {
	b = append(b, '[')
	for i, s := range states {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, s.String()...)
		b = append(b, '"')
	}
	return append(b, ']')
}

func appendSides(b []byte, s decode.Sides) []byte {
	if s == decode.NoSide {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = append(b, s.String()...)
	return append(b, '"')
}
