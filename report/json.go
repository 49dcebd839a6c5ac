package report

import (
	"io"
	"math/bits"
	"net/netip"
	"strconv"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/internal/neutral"
)

// JSON writes NDJSON as the README's schema fixes it: a "segment" line per
// segment as it happens, a "connection" object when a connection ends, a
// "call" line per socket call, and a "summary" line last. Lines are built
// by appending to one buffer, so writing a segment allocates nothing.
type JSON struct {
	w   io.Writer
	buf []byte // lines not yet written; a line is built at its end
	tc  timeCache
	// ends are the client's and server's addresses of the last
	// connection written, as text: its calls name them again and again.
	ends [2]jsonAddr
	// plain are strings written lately that needed no escaping: the
	// calls' sides, names and details, the same few again and again.
	plain     [16]string
	plainNext int
	err       error
}

// jsonAddr is an address and its quoted text.
type jsonAddr struct {
	a    netip.AddrPort
	text []byte
}

// jsonBufSize is how much output is gathered before a write. A line
// longer than the room left (a connection with many calls) grows the
// buffer; it shrinks back after the next write.
const jsonBufSize = 256 << 10

// NewJSON returns a JSON writer on w. Call Summary at the end, which also
// flushes.
func NewJSON(w io.Writer) *JSON {
	return &JSON{w: w, buf: make([]byte, 0, jsonBufSize)}
}

// line returns a buffer to build the next line in: the output buffer
// itself, so that a line is built in place, never copied.
func (j *JSON) line() []byte {
	if cap(j.buf)-len(j.buf) < 4096 {
		j.Flush()
	}
	return j.buf
}

// flushLine ends the line built in b, which extends the output buffer.
func (j *JSON) flushLine(b []byte) {
	j.buf = append(b, '\n')
}

// segRec is what a segment line says, copied out of the tracker's
// reused Step so that it can be written later, on another goroutine.
type segRec struct {
	conn           int
	time           time.Time
	relSeq, relAck uint32
	absSeq, absAck uint32
	len            int
	window         uint16
	flags          decode.Flags
	from           decode.Side
	after          [2]decode.State
	kind           decode.StepKind
	truncated      bool
	ce             bool
	reordered      bool
	fragments      int
	// What the segment shows of offload, capture gaps and SACK (present
	// in the line only when they hold): sack holds nSACK blocks,
	// relative to the receiver's ISN as ack is.
	offload              bool
	dsack, dsackSpurious bool
	nSACK                uint8
	ackedUnseen          uint32
	sack                 [4][2]uint32
}

func makeSegRec(c *decode.Connection, st *decode.Step) segRec {
	var r segRec
	r.set(c, st)
	return r
}

// set fills r field by field, in place: a record built as a literal and
// copied into a batch's slice was written on the stack by narrow stores
// and read back by wide loads, which the CPU cannot forward (a stall per
// segment).
func (r *segRec) set(c *decode.Connection, st *decode.Step) {
	s := st.Segment
	r.conn, r.time = c.ID, s.Time
	r.relSeq, r.relAck, r.absSeq, r.absAck = st.RelSeq, st.RelAck, s.Seq, s.Ack
	r.len, r.window, r.flags, r.from = s.Len, s.Window, s.Flags, st.From
	r.after[decode.Client], r.after[decode.Server] = st.After[decode.Client], st.After[decode.Server]
	r.kind, r.truncated, r.reordered, r.fragments = st.Kind, s.Truncated, st.Reordered, s.Fragments
	r.ce = s.ECN == decode.CE
	r.offload, r.ackedUnseen, r.dsack, r.dsackSpurious = st.Offload, st.AckedUnseen, st.DSACK, st.DSACKSpurious
	r.nSACK = 0
	if s.Flags&decode.ACK != 0 && s.Flags&(decode.SYN|decode.RST) == 0 {
		r.nSACK = s.Options.SACKBlocks
		for i := range r.nSACK {
			// Relative as the ACK number is: its distance from the ACK.
			r.sack[i][0] = st.RelAck + (s.Options.SACK[i][0] - s.Ack)
			r.sack[i][1] = st.RelAck + (s.Options.SACK[i][1] - s.Ack)
		}
	}
}

// connRec is what a connection object says. Its slices alias the
// connection's own for a synchronous write and are copies otherwise.
type connRec struct {
	id                          int
	client, server              netip.AddrPort
	start, end                  time.Time
	handshake                   decode.Handshake
	close                       decode.CloseKind
	firstFIN, rstFrom, timeWait decode.Sides
	halfClose                   bool
	synRetransmits              int
	irtt                        time.Duration
	hasIRTT                     bool
	packets                     int
	bytes                       [2]int64
	connState                   string // one of Zeek's constants: no copy needed
	history                     [32]byte
	historyLen                  int
	states                      [2][]decode.State
	calls                       []calls.Event
	callsOmitted                int
	scenario                    string
	selfConnect, rolesGuessed   bool
	evicted, resumed            bool
	kernel                      decode.KernelView
	hasKernel                   bool
	// owners is the connection's own array (watch), never changed once
	// the connection has ended; nil for most connections.
	owners                  *[2]decode.Owner
	synackMissed, reordered bool
	fastOpen, oneDirection  decode.Sides
	rstsIgnored             int
	tunnel, serverTunnel    *decode.Tunnel // never changed once made
	uncaptured              [2]int64
	offload, dsackSpurious  [2]int
	offloadMSS, offloadMax  int
	mssEstimated            bool
}

func makeConnRec(c *decode.Connection) connRec {
	r := connRec{
		id: c.ID, client: c.Client, server: c.Server, start: c.Start, end: c.End,
		handshake: c.Handshake(), close: c.CloseKind(), firstFIN: c.FirstFIN, rstFrom: c.RSTFrom, timeWait: c.TimeWait,
		halfClose: c.HalfClose, synRetransmits: c.SYNRetransmits, irtt: c.IRTT, hasIRTT: c.HasIRTT,
		packets: c.Packets, bytes: c.Bytes, connState: c.ConnState(),
		states: [2][]decode.State{c.States(decode.Client), c.States(decode.Server)},
		calls:  c.Calls, callsOmitted: c.CallsOmitted,
		scenario: c.Scenario, selfConnect: c.SelfConnect, rolesGuessed: c.RolesGuessed,
		synackMissed: c.SYNACKMissed, reordered: c.Reordered, fastOpen: c.FastOpen, oneDirection: c.OneDirection(),
		rstsIgnored: c.RSTsIgnored,
		evicted:     c.Evicted, resumed: c.Resumed,
		tunnel: c.Tunnel(), serverTunnel: c.ServerTunnel(),
		uncaptured: c.Uncaptured, offload: c.Offload, dsackSpurious: c.DSACKSpurious,
		offloadMSS: c.OffloadMSS, offloadMax: c.OffloadLargest, mssEstimated: c.MSSEstimated,
	}
	r.historyLen = len(c.AppendHistory(r.history[:0]))
	r.kernel, r.hasKernel = c.Kernel()
	r.owners = c.Owners
	return r
}

// Segment implements decode.Handler.
func (j *JSON) Segment(c *decode.Connection, st *decode.Step) {
	r := makeSegRec(c, st)
	j.writeSegment(&r)
}

// Ended implements decode.Handler: it writes the connection object.
func (j *JSON) Ended(c *decode.Connection) {
	r := makeConnRec(c)
	j.writeConnection(&r)
}

func (j *JSON) writeSegment(r *segRec) {
	b := j.line()
	b = append(b, `{"type":"segment","conn":`...)
	b = appendInt(b, int64(r.conn))
	b = append(b, `,"time":`...)
	b = j.tc.appendTime(b, r.time)
	b = append(b, fromFlags(r.from, r.flags)...)
	b = appendUint(b, uint64(r.relSeq))
	b = append(b, `,"ack":`...)
	b = appendUint(b, uint64(r.relAck))
	b = append(b, `,"len":`...)
	b = appendInt(b, int64(r.len))
	b = append(b, `,"client_state":`...)
	b = appendState(b, r.after[decode.Client])
	b = append(b, `,"server_state":`...)
	b = appendState(b, r.after[decode.Server])
	b = append(b, kindField(r.kind)...)
	b = appendUint(b, uint64(r.absSeq))
	b = append(b, `,"abs_ack":`...)
	b = appendUint(b, uint64(r.absAck))
	b = append(b, `,"window":`...)
	b = appendUint(b, uint64(r.window))
	if r.truncated {
		b = append(b, `,"truncated":true`...)
	}
	if r.reordered {
		b = append(b, `,"reordered":true`...)
	}
	if r.ce {
		b = append(b, `,"ce":true`...)
	}
	if r.fragments > 0 {
		b = append(b, `,"fragments":`...)
		b = appendInt(b, int64(r.fragments))
	}
	if r.offload {
		b = append(b, `,"offload":true`...)
	}
	if r.ackedUnseen > 0 {
		b = append(b, `,"acked_unseen":`...)
		b = appendUint(b, uint64(r.ackedUnseen))
	}
	if r.nSACK > 0 {
		b = append(b, `,"sack":[`...)
		for i := range r.nSACK {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = appendUint(b, uint64(r.sack[i][0]))
			b = append(b, ',')
			b = appendUint(b, uint64(r.sack[i][1]))
			b = append(b, ']')
		}
		b = append(b, ']')
	}
	if r.dsack {
		b = append(b, `,"dsack":true`...)
	}
	if r.dsackSpurious {
		b = append(b, `,"dsack_spurious":true`...)
	}
	b = append(b, '}')
	j.flushLine(b)
}

func (j *JSON) writeConnection(c *connRec) {
	b := j.line()
	b = append(b, `{"type":"connection","id":`...)
	b = appendInt(b, int64(c.id))
	b = append(b, `,"client":`...)
	b = j.ends[0].set(b, c.client)
	b = append(b, `,"server":`...)
	b = j.ends[1].set(b, c.server)
	b = append(b, `,"start":`...)
	b = j.tc.appendTime(b, c.start)
	b = append(b, `,"end":`...)
	b = j.tc.appendTime(b, c.end)
	b = append(b, `,"handshake":"`...)
	b = append(b, c.handshake.String()...)
	b = append(b, `","close":"`...)
	b = append(b, c.close.String()...)
	b = append(b, `","first_fin":`...)
	b = appendSides(b, c.firstFIN)
	b = append(b, `,"rst_from":`...)
	b = appendSides(b, c.rstFrom)
	b = append(b, `,"time_wait":`...)
	b = appendSides(b, c.timeWait)
	b = append(b, `,"half_close":`...)
	b = strconv.AppendBool(b, c.halfClose)
	b = append(b, `,"syn_retransmits":`...)
	b = appendInt(b, int64(c.synRetransmits))
	// Written only when set: they mark a connection split by a full
	// table (a later line with the same id and "resumed" continues it).
	if c.evicted {
		b = append(b, `,"evicted":true`...)
	}
	if c.resumed {
		b = append(b, `,"resumed":true`...)
	}
	b = append(b, `,"irtt_us":`...)
	if c.hasIRTT {
		b = appendMicros(b, c.irtt.Nanoseconds())
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"packets":`...)
	b = appendInt(b, int64(c.packets))
	b = append(b, `,"bytes_c2s":`...)
	b = appendInt(b, c.bytes[decode.Client])
	b = append(b, `,"bytes_s2c":`...)
	b = appendInt(b, c.bytes[decode.Server])
	b = append(b, `,"conn_state":"`...)
	b = append(b, c.connState...)
	b = append(b, `","history":"`...)
	b = append(b, c.history[:c.historyLen]...) // Zeek's letters: nothing to escape
	b = append(b, `","states":{"client":`...)
	b = appendStates(b, c.states[decode.Client])
	b = append(b, `,"server":`...)
	b = appendStates(b, c.states[decode.Server])
	b = append(b, '}')
	if c.owners != nil && (c.owners[decode.Client].Known() || c.owners[decode.Server].Known()) {
		b = appendOwners(b, c.owners)
	}
	if c.hasKernel {
		b = appendKernel(b, &c.kernel)
	}
	b = append(b, `,"calls":[`...)
	for i := range c.calls {
		if i > 0 {
			b = append(b, ',')
		}
		ev := &c.calls[i]
		if e := completionErrno(c.handshake, ev); e != ev.Errno {
			// A failed non-blocking connect: the errno the kernel gave
			// the program, known from the segments (calls.go).
			cp := *ev
			cp.Errno, ev = e, &cp
		}
		b = j.appendCallFields(append(b, '{'), ev)
		b = append(b, '}')
	}
	b = append(b, ']')
	if c.scenario != "" {
		b = append(b, `,"scenario":`...)
		b = appendString(b, c.scenario)
	}
	if c.selfConnect {
		b = append(b, `,"self_connect":true`...)
	}
	if c.rolesGuessed {
		b = append(b, `,"roles_guessed":true`...)
	}
	// Facts about the capture, written only when they hold (additive to
	// the schema): the handshake completed without a SYN-ACK in the
	// capture, the capture's timestamps are out of order, only one
	// direction was captured, RSTs the kernel ignored, TCP Fast Open.
	if c.synackMissed {
		b = append(b, `,"syn_ack_missed":true`...)
	}
	if c.reordered {
		b = append(b, `,"reordered":true`...)
	}
	if c.oneDirection != decode.NoSide {
		b = append(b, `,"unseen_side":`...)
		b = appendSides(b, c.oneDirection)
	}
	if c.rstsIgnored > 0 {
		b = append(b, `,"rsts_ignored":`...)
		b = appendInt(b, int64(c.rstsIgnored))
	}
	if c.fastOpen != decode.NoSide {
		b = append(b, `,"fast_open":`...)
		b = appendSides(b, c.fastOpen)
	}
	if c.offload != [2]int{} {
		b = appendBySide(append(b, `,"offload":`...), int64(c.offload[decode.Client]), int64(c.offload[decode.Server]))
		b = append(b[:len(b)-1], `,"mss":`...)
		b = appendInt(b, int64(c.offloadMSS))
		if c.mssEstimated {
			b = append(b, `,"mss_estimated":true`...)
		}
		b = append(b, `,"largest":`...)
		b = appendInt(b, int64(c.offloadMax))
		b = append(b, '}')
	}
	if c.uncaptured != [2]int64{} {
		b = appendBySide(append(b, `,"capture_gap":`...), c.uncaptured[decode.Client], c.uncaptured[decode.Server])
	}
	if c.dsackSpurious != [2]int{} {
		b = appendBySide(append(b, `,"dsack_spurious":`...), int64(c.dsackSpurious[decode.Client]), int64(c.dsackSpurious[decode.Server]))
	}
	if c.callsOmitted > 0 {
		b = append(b, `,"calls_omitted":`...)
		b = appendInt(b, int64(c.callsOmitted))
	}
	if c.tunnel != nil {
		b = appendTunnel(append(b, `,"tunnel":`...), c.tunnel)
	}
	if c.serverTunnel != nil {
		b = appendTunnel(append(b, `,"server_tunnel":`...), c.serverTunnel)
	}
	b = append(b, '}')
	j.flushLine(b)
}

// Call implements decode.CallHandler: it writes a "call" line. c is nil
// for a call that belongs to no connection.
func (j *JSON) Call(c *decode.Connection, ev *calls.Event) {
	id := 0
	if c != nil {
		id = c.ID
	}
	j.writeCall(id, ev)
}

// writeCall writes a "call" line; conn 0 means none.
func (j *JSON) writeCall(conn int, ev *calls.Event) {
	b := append(j.line(), `{"type":"call","conn":`...)
	if conn != 0 {
		b = appendInt(b, int64(conn))
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
	b = appendInt(b, int64(s.Counts.Packets))
	b = append(b, `,"tcp":`...)
	b = appendInt(b, int64(s.Counts.TCP))
	b = append(b, `,"other":`...)
	b = appendInt(b, int64(s.Counts.Other))
	b = append(b, `,"malformed":`...)
	b = appendInt(b, int64(s.Counts.Malformed))
	if s.Counts.Datagrams > 0 {
		b = append(b, `,"datagrams":`...)
		b = appendInt(b, s.Counts.Datagrams)
	}
	b = append(b, `,"connections":`...)
	b = appendInt(b, int64(s.Connections))
	b = append(b, `,"dropped":`...)
	if s.Dropped < 0 {
		b = append(b, "null"...)
	} else {
		b = appendInt(b, int64(s.Dropped))
	}
	b = append(b, `,"evicted":`...)
	b = appendInt(b, int64(s.Evicted))
	if s.CallsOmitted > 0 {
		b = append(b, `,"calls_omitted":`...)
		b = appendInt(b, s.CallsOmitted)
	}
	if s.Resumed > 0 {
		b = append(b, `,"resumed":`...)
		b = appendInt(b, s.Resumed)
	}
	if s.Late > 0 {
		b = append(b, `,"late":`...)
		b = appendInt(b, s.Late)
	}
	if s.LeftOut > 0 {
		b = append(b, `,"left_out":`...)
		b = appendInt(b, s.LeftOut)
	}
	// These fields are left out when there is nothing to count, so that
	// plain captures read as they always did.
	if s.Duplicates > 0 {
		b = append(b, `,"duplicates":`...)
		b = appendInt(b, s.Duplicates)
	}
	if s.Counts.SampledTCP > 0 {
		b = append(b, `,"sampled_tcp":`...)
		b = appendInt(b, s.Counts.SampledTCP)
	}
	if s.Counts.Fragments > 0 {
		b = append(b, `,"tcp_fragments":`...)
		b = appendInt(b, s.Counts.Fragments)
	}
	if len(s.Counts.Undecoded) > 0 {
		b = appendUndecoded(append(b, `,"undecoded":`...), &s.Counts)
	}
	if s.Err != "" {
		b = append(b, `,"error":`...)
		b = appendString(b, s.Err)
	}
	j.flushLine(append(b, '}'))
	j.Flush()
	return j.err
}

func (j *JSON) appendCallFields(b []byte, ev *calls.Event) []byte {
	b = append(b, `"side":`...)
	if ev.Side == "" {
		b = append(b, "null"...)
	} else {
		b = j.appendString(b, string(ev.Side))
	}
	b = append(b, `,"call":`...)
	b = j.appendString(b, string(ev.Call))
	b = append(b, `,"fd":`...)
	if ev.FD < 0 {
		b = append(b, "null"...)
	} else {
		b = appendInt(b, int64(int64(ev.FD)))
	}
	b = append(b, `,"enter":`...)
	b = j.tc.appendTime(b, ev.Enter)
	b = append(b, `,"exit":`...)
	b = j.tc.appendTime(b, ev.Exit)
	b = append(b, `,"result":`...)
	if ev.Inferred && ev.Errno == 0 {
		b = append(b, "null"...)
	} else {
		b = appendInt(b, int64(int64(ev.Result)))
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
		b = j.appendAddr(b, ev.Local)
	}
	if ev.Remote.IsValid() {
		b = append(b, `,"remote":`...)
		b = j.appendAddr(b, ev.Remote)
	}
	if ev.Detail != "" {
		b = append(b, `,"detail":`...)
		b = j.appendString(b, ev.Detail)
	}
	if ev.TID != 0 {
		b = append(b, `,"tid":`...)
		b = appendInt(b, int64(int64(ev.TID)))
	}
	return b
}

func appendOptInt(b []byte, v int) []byte {
	if v == 0 {
		return append(b, "null"...)
	}
	return appendInt(b, int64(int64(v)))
}

// appendTime writes t as a quoted RFC 3339 time with nanoseconds in UTC.
// Formatting the date is the costliest part of a line, and a capture's
// lines come many to a second, so the text up to the second of the last
// second written ("2006-01-02T15:04:05.) is kept and only the nanoseconds
// are written, two digits at a time.
func (tc *timeCache) appendTime(b []byte, t time.Time) []byte {
	sec, ns := t.Unix(), uint32(t.Nanosecond())
	if sec == zeroTimeUnix && ns == 0 { // t.IsZero(), without reading t again
		return append(b, "null"...)
	}
	if sec != tc.sec || !tc.valid {
		tc.fill(sec)
	}
	b = append(b, tc.prefix[:tc.n]...)
	// The nanoseconds go straight into b, as appendUint's digits do: an
	// array built byte by byte on the stack and appended was read back
	// by wide loads the CPU could not forward from the narrow stores.
	l := len(b)
	if cap(b)-l >= 11 {
		b = b[:l+11]
	} else {
		b = append(b, `nnnnnnnnnZ"`...)
	}
	d := b[l : l+11]
	r := ns % 1e8
	d[0] = byte('0' + ns/1e8)
	put4(d[1:5], r/10000)
	put4(d[5:9], r%10000)
	d[9], d[10] = 'Z', '"'
	return b
}

// fill formats the second sec into the prefix. The date comes from the
// time package once a day; the time of day is arithmetic.
func (tc *timeCache) fill(sec int64) {
	day := sec / 86400
	if sec < 0 && sec%86400 != 0 {
		day--
	}
	if day != tc.day || !tc.valid {
		// Years past 9999 or before 0 make a longer date: kept whole.
		p := append(tc.prefix[:1], time.Unix(day*86400, 0).UTC().AppendFormat(tc.scratch[:0], "2006-01-02T")...)
		tc.prefix[0] = '"'
		tc.dateLen = len(p)
		tc.day = day
	}
	s := sec - day*86400
	p := tc.prefix[tc.dateLen : tc.dateLen+9]
	p[0], p[1] = byte('0'+s/36000), byte('0'+s/3600%10)
	p[2] = ':'
	p[3], p[4] = byte('0'+s/600%6), byte('0'+s/60%10)
	p[5] = ':'
	p[6], p[7] = byte('0'+s%60/10), byte('0'+s%10)
	p[8] = '.'
	tc.n = tc.dateLen + 9
	tc.sec, tc.valid = sec, true
}

// appendMicros writes ns nanoseconds as microseconds, the shortest
// decimal that reads back as float64(ns)/1e3. Whole microseconds (every
// pcap's resolution) are the integer they are: strconv's shortest float
// took ~5 % of the writer's time.
func appendMicros(b []byte, ns int64) []byte {
	if ns%1000 == 0 && ns > -1<<53 && ns < 1<<53 {
		return appendInt(b, ns/1000)
	}
	return strconv.AppendFloat(b, float64(ns)/1e3, 'f', -1, 64)
}

// zeroTimeUnix is the zero time.Time's Unix seconds (year 1).
var zeroTimeUnix = time.Time{}.Unix()

// timeCache holds the text of the last second appendTime wrote.
type timeCache struct {
	valid   bool
	day     int64
	sec     int64
	dateLen int      // of `"2006-01-02T` in prefix
	n       int      // of `"2006-01-02T15:04:05.` in prefix
	prefix  [48]byte // `"2006-01-02T15:04:05.`
	scratch [32]byte
}

// appendString writes s as the package's appendString does, without
// looking at each byte of a string it wrote lately: a string compares
// equal to itself at once.
func (j *JSON) appendString(b []byte, s string) []byte {
	for i := range j.plain {
		if p := j.plain[i]; len(p) == len(s) && p == s {
			b = append(b, '"')
			b = append(b, s...)
			return append(b, '"')
		}
	}
	if needsEscape(s) {
		return appendString(b, s)
	}
	j.plain[j.plainNext] = s
	j.plainNext = (j.plainNext + 1) % len(j.plain)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// needsEscape reports whether s has a byte appendString changes.
func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return true
		}
	}
	return false
}

// appendString writes s as a JSON string, neutralised first (package
// internal/neutral): control bytes, invalid UTF-8 and invisible runes become
// visible escapes such as \\x1b, so that even `jq -r` prints nothing a
// terminal would obey.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	// Most strings (addresses, details, names) need no escaping at all.
	if !needsEscape(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	s = neutral.String(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\', c)
		} else {
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// set writes a as appendAddr does and keeps it, with its text.
func (t *jsonAddr) set(b []byte, a netip.AddrPort) []byte {
	n := len(b)
	b = appendAddr(b, a)
	t.a, t.text = a, append(t.text[:0], b[n:]...)
	return b
}

// appendAddr writes a as appendAddr does, copying the text of the last
// connection's client or server when a is one of them, as a connection's
// calls mostly are.
func (j *JSON) appendAddr(b []byte, a netip.AddrPort) []byte {
	for i := range j.ends {
		if e := &j.ends[i]; e.a == a && len(e.text) > 0 {
			return append(b, e.text...)
		}
	}
	return appendAddr(b, a)
}

// appendAddr writes "ip:port", with IPv6 in brackets.
func appendAddr(b []byte, a netip.AddrPort) []byte {
	b = append(b, '"')
	b = a.AppendTo(b)
	return append(b, '"')
}

func appendState(b []byte, s decode.State) []byte {
	if int(s) < len(stateJSON) {
		return append(b, stateJSON[s]...)
	}
	return append(b, `"INVALID"`...)
}

func appendStates(b []byte, states []decode.State) []byte {
	b = append(b, '[')
	for i, s := range states {
		if i > 0 {
			b = append(b, ',')
		}
		if s != decode.Unknown && int(s) < len(stateJSON) {
			b = append(b, stateJSON[s]...) // quoted already
			continue
		}
		b = append(b, '"')
		b = append(b, s.String()...)
		b = append(b, '"')
	}
	return append(b, ']')
}

// appendBySide writes {"client":CLIENT,"server":SERVER}.
func appendBySide(b []byte, client, server int64) []byte {
	b = append(b, `{"client":`...)
	b = appendInt(b, client)
	b = append(b, `,"server":`...)
	b = appendInt(b, server)
	return append(b, '}')
}

func appendSides(b []byte, s decode.Sides) []byte {
	if s == decode.NoSide {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = append(b, s.String()...)
	return append(b, '"')
}

// appendUint writes v in decimal straight into b: lines are mostly
// numbers, and strconv.AppendUint formats into a buffer of its own and
// copies. Digits are made four at a time from the end, each four as two
// independent pairs in 32-bit arithmetic, so that a 10-digit sequence
// number takes two dependent divisions instead of five.
func appendUint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	// The number of digits from the number of bits: bits.Len64(v)*1233>>12
	// is log10(2^len), one too few when v is past that power of ten.
	n := bits.Len64(v) * 1233 >> 12
	if v >= pow10[n] {
		n++
	}
	l := len(b)
	if cap(b)-l >= n {
		b = b[:l+n]
	} else {
		b = append(b, digitPairs[:n]...)
	}
	d := b[l:]
	i := len(d)
	for v >= 10000 {
		r := uint32(v % 10000)
		v /= 10000
		i -= 4
		put4(d[i:i+4], r)
	}
	r := uint32(v)
	switch {
	case r >= 1000:
		put4(d[i-4:i], r)
	case r >= 100:
		*(*[2]byte)(d[i-2 : i]) = digits2[r%100]
		d[i-3] = byte('0' + r/100)
	case r >= 10:
		*(*[2]byte)(d[i-2 : i]) = digits2[r]
	default:
		d[i-1] = byte('0' + r)
	}
	return b
}

// put4 writes r, below 10000, as exactly four digits into d.
func put4(d []byte, r uint32) {
	*(*[2]byte)(d[0:2]) = digits2[r/100%100]
	*(*[2]byte)(d[2:4]) = digits2[r%100]
}

// digits2[i] is i as two digits, "00" to "99".
var digits2 = func() (t [100][2]byte) {
	for i := range t {
		t[i] = [2]byte{digitPairs[2*i], digitPairs[2*i+1]}
	}
	return t
}()

// pow10[i] is 10^i, for appendUint's count of digits.
var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// digitPairs holds "00" to "99" back to back.
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		return appendUint(append(b, '-'), uint64(-v))
	}
	return appendUint(b, uint64(v))
}

// Flush pushes buffered lines out. A live report calls it on a timer, so
// that lines show within a moment of happening. After a failed write
// nothing more is written, and Summary returns the error.
func (j *JSON) Flush() {
	if len(j.buf) > 0 && j.err == nil {
		if _, err := j.w.Write(j.buf); err != nil {
			j.err = err
		}
	}
	if cap(j.buf) > 2*jsonBufSize {
		j.buf = make([]byte, 0, jsonBufSize)
	}
	j.buf = j.buf[:0]
}

// appendOwners writes the processes that held the connection's sockets,
// by side, where watch found them: "processes":{"client":{"pid":...,
// "comm":...,"uid":...,"user":...,"before_start":true,
// "state_at_start":"ESTABLISHED"},"server":null}.
func appendOwners(b []byte, owners *[2]decode.Owner) []byte {
	b = append(b, `,"processes":{`...)
	for i, side := range [...]decode.Side{decode.Client, decode.Server} {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, side.String()...)
		b = append(b, `":`...)
		o := &owners[side]
		if !o.Known() {
			b = append(b, "null"...)
			continue
		}
		b = append(b, `{"pid":`...)
		b = appendInt(b, int64(o.PID))
		b = append(b, `,"comm":`...)
		b = appendString(b, o.Comm)
		if o.User == "" {
			// Not known (the process had gone before /proc was read):
			// not uid 0, which would say root.
			b = append(b, `,"uid":null,"user":null`...)
		} else {
			b = append(b, `,"uid":`...)
			b = appendInt(b, int64(o.UID))
			b = append(b, `,"user":`...)
			b = appendString(b, o.User)
		}
		if o.Before {
			b = append(b, `,"before_start":true,"state_at_start":"`...)
			b = append(b, o.State.String()...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendKernel writes the kernel's own view of a connection (run with the
// eBPF recorder):
//
//	"kernel":{"states":{"client":[...],"server":[...]},"agree":true,
//	 "notes":["time-wait","request-socket"],
//	 "client":{"pid":N,"retransmits":0,"resets_sent":0,"resets_received":0,"errors":0},
//	 "server":{...}}
//
// The states are the kernel's names (SYN_RECV, FIN_WAIT1, CLOSE), next to
// "states", the ones inferred from the packets (RFC 9293 names).
func appendKernel(b []byte, v *decode.KernelView) []byte {
	b = append(b, `,"kernel":{"states":{"client":`...)
	for i, side := range [...]decode.Side{decode.Client, decode.Server} {
		if i > 0 {
			b = append(b, `,"server":`...)
		}
		b = append(b, '[')
		for j, s := range v.States[side] {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '"')
			b = append(b, s.String()...)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	b = append(b, `},"agree":`...)
	b = strconv.AppendBool(b, v.Agree)
	b = append(b, `,"notes":[`...)
	for i, n := range v.Notes {
		if i > 0 {
			b = append(b, ',')
		}
		switch n {
		case decode.NoteTimeWait:
			b = append(b, `"time-wait"`...)
		case decode.NoteRequestSocket:
			b = append(b, `"request-socket"`...)
		}
	}
	b = append(b, ']')
	for _, side := range [...]decode.Side{decode.Client, decode.Server} {
		b = append(b, `,"`...)
		b = append(b, side.String()...)
		b = append(b, `":{"pid":`...)
		b = appendInt(b, int64(v.PID[side]))
		b = append(b, `,"retransmits":`...)
		b = appendInt(b, int64(v.Retransmits[side]))
		b = append(b, `,"resets_sent":`...)
		b = appendInt(b, int64(v.ResetsSent[side]))
		b = append(b, `,"resets_received":`...)
		b = appendInt(b, int64(v.ResetsReceived[side]))
		b = append(b, `,"errors":`...)
		b = appendInt(b, int64(v.Errors[side]))
		b = append(b, '}')
	}
	return append(b, '}')
}
