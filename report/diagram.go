package report

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// DiagramOptions tune the sequence diagram.
type DiagramOptions struct {
	Lang Lang
	// ASCII draws with plain ASCII instead of Unicode box drawing, for
	// terminals and fonts without it.
	ASCII bool
	// Color colours the arrows by kind (SYN green, FIN yellow, RST red,
	// data plain) with ANSI escapes. The caller decides: on when stdout is
	// a terminal and NO_COLOR is unset, or as --color says.
	Color bool
	// MaxSteps bounds the segments kept per connection, as in
	// TextOptions. Zero means 200.
	MaxSteps int
	// Ephemeral is the kernel's ephemeral port range, as in TextOptions.
	Ephemeral [2]int
	// Width is the number of columns to keep to, as in TextOptions: zero
	// means 100, and less than 80 is raised to 80. Below 98 the margins
	// and arrows narrow.
	Width int
	// Explain is as in TextOptions: under ExplainAuto a connection whose
	// shape was drawn before gets one line.
	Explain Explain
}

// Diagram writes a two-column sequence diagram per connection (client on
// the left, server on the right), when the connection ends: one arrow per
// segment, each side's calls and states in its margin, the time at the
// left. Connections that overlap in time are shown once more, together, in
// a compact lane view before the summary.
//
// Diagram implements decode.Handler; call Summary at the end.
type Diagram struct {
	w      *bufio.Writer
	opt    DiagramOptions
	g      *glyphs
	rec    recorder
	lanes  laneLog
	legend bool
	// tw and aw are the widths of the time column and of the arrows for
	// the connection being drawn: a long-lived connection's offsets take
	// more columns, and its arrows give them up. mw is the width of each
	// margin, baseAW the arrows' width at the usual time width.
	tw, aw, mw, baseAW int

	// tx lends the text report's sentences (connection summary, totals)
	// so that both reports say the same thing in every language. It
	// writes through sink, which discards or forwards to w.
	tx   *Text
	sink *switchWriter
}

// NewDiagram returns a diagram writer on w.
func NewDiagram(w io.Writer, opt DiagramOptions) *Diagram {
	if opt.Lang == "" {
		opt.Lang = English
	}
	switch {
	case opt.Width == 0:
		opt.Width = 100
	case opt.Width < 80:
		opt.Width = 80
	}
	d := &Diagram{w: bufio.NewWriter(w), opt: opt, g: &unicodeGlyphs, rec: newRecorder(opt.MaxSteps)}
	// A row is time + margin + 3 + arrows + 3 + margin columns.
	d.mw, d.baseAW = marginW, arrowW
	if opt.Width < timeW+2*marginW+arrowW+6 {
		d.mw = 14
		d.baseAW = min(arrowW, opt.Width-timeW-2*d.mw-6)
	}
	if opt.ASCII {
		d.g = &asciiGlyphs
	}
	d.sink = &switchWriter{}
	d.tx = NewText(d.sink, TextOptions{Lang: opt.Lang, Ephemeral: opt.Ephemeral, MaxSteps: opt.MaxSteps, Width: opt.Width, Explain: opt.Explain})
	return d
}

// switchWriter discards what it is given unless it has somewhere to send it.
type switchWriter struct{ to io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) {
	if s.to == nil {
		return len(p), nil
	}
	return s.to.Write(p)
}

// withText runs f with the text report's output going to to.
func withText(tx *Text, sink *switchWriter, to io.Writer, f func()) {
	tx.w.Flush() // whatever was buffered was meant to be discarded
	sink.to = to
	f()
	tx.w.Flush()
	sink.to = nil
}

// glyphs are the characters a diagram is drawn with.
type glyphs struct {
	life, dash, dot, right, left string
	// Brackets beside a lifeline while a call blocks: the client's open
	// to the left, the server's to the right.
	cEnter, cExit, sEnter, sExit, bar string
	ret                               string // between a call and what it returned
	more                              string // ends what was cut short
}

var unicodeGlyphs = glyphs{
	life: "│", dash: "─", dot: "┄", right: "▶", left: "◀",
	cEnter: "┐", cExit: "┘", sEnter: "┌", sExit: "└", bar: "│",
	ret: "→", more: "…",
}

var asciiGlyphs = glyphs{
	life: "|", dash: "-", dot: ".", right: ">", left: "<",
	cEnter: "+", cExit: "+", sEnter: "+", sExit: "+", bar: "|",
	ret: "=", more: "...",
}

// The diagram's columns: time, the client's margin, bracket and lifeline,
// the arrows, then the server's lifeline, bracket and margin. 10+21+46+21
// = 98 columns, inside the 100 the reports keep to.
const (
	timeW   = 10
	marginW = 18
	arrowW  = 46
)

// ANSI colours for the arrows.
const (
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiRed    = "\x1b[31m"
	ansiReset  = "\x1b[0m"
)

func (d *Diagram) m(id msgID, args ...any) string {
	return fmt.Sprintf(msg(d.opt.Lang, id), args...)
}

// Segment implements decode.Handler.
func (d *Diagram) Segment(c *decode.Connection, st *decode.Step) { d.rec.segment(c, st) }

// Call implements decode.CallHandler: a call that belongs to no
// connection (a listening socket's close()) is listed with the totals, in
// the text report's words.
func (d *Diagram) Call(c *decode.Connection, ev *calls.Event) { d.tx.Call(c, ev) }

// Datagram implements decode.DatagramHandler: datagrams are written as
// the text report writes them, before the summary.
func (d *Diagram) Datagram(x *decode.Datagram) { d.tx.Datagram(x) }

// Ended implements decode.Handler: it draws the connection.
func (d *Diagram) Ended(c *decode.Connection) {
	sc := d.rec.take(c)
	defer d.rec.release(sc) // drawn, if at all, before Ended returns
	d.lanes.add(c, sc, &d.rec)
	// The text report keeps the tallies its totals print and applies
	// the shape rule; a connection whose shape was drawn before gets its
	// compact line from it.
	full := true
	withText(d.tx, d.sink, d.w, func() {
		d.tx.tally(c)
		full, _ = d.tx.endShaped(c, &sc.shape)
	})
	if !full {
		return
	}
	cs, omittedCalls := copyCalls(c)
	cs = d.tx.withoutKnownListens(c, cs)
	if !d.legend {
		d.legend = true
		d.printf("%s\n\n", wrapCells(d.m("diagram.legend"), 0, d.opt.Width))
	}
	d.writeConnection(c, sc, cs, omittedCalls)
}

func (d *Diagram) printf(format string, args ...any) {
	fmt.Fprintf(d.w, format, args...) // bufio keeps the first error for Flush
}

// line writes one row of the diagram. mid is the arrow area, already
// d.aw columns wide (colour escapes take no columns).
func (d *Diagram) line(tcol, cText, cBr, mid, sBr, sText string) {
	var b strings.Builder
	b.WriteString(padRight(tcol, d.tw))
	b.WriteString(padLeft(fitWith(cText, d.mw, d.g.more), d.mw))
	b.WriteByte(' ')
	b.WriteString(cBr)
	b.WriteString(d.g.life)
	b.WriteString(mid)
	b.WriteString(d.g.life)
	b.WriteString(sBr)
	b.WriteByte(' ')
	b.WriteString(fitWith(sText, d.mw, d.g.more))
	d.printf("%s\n", strings.TrimRight(b.String(), " "))
}

func (d *Diagram) writeConnection(c *decode.Connection, sc *seqConn, cs []calls.Event, omittedCalls int) {
	// The text report's sentences name a self-connected socket "socket".
	d.tx.self = c.SelfConnect
	defer func() { d.tx.self = false }()
	d.printf("%s\n", wrapCells(d.tx.m("conn.header", c.ID, c.Client, c.Server), 2, d.opt.Width))
	for _, line := range tunnelLines(d.tx, c) {
		d.printf("  %s\n", wrapCells(line, 2, d.opt.Width))
	}
	cName, sName := d.tx.m("side.client"), d.tx.m("side.server")
	if c.SelfConnect {
		d.printf("  %s\n", wrapCells(d.tx.m("conn.self"), 2, d.opt.Width))
		cName, sName = d.m("diagram.self.sends"), d.m("diagram.self.receives")
	} else if c.RolesGuessed {
		d.printf("  %s\n", wrapCells(d.tx.m("conn.roles.guess"), 2, d.opt.Width))
	}
	d.printf("\n")
	rows := layout(c, sc, cs)
	start := timeOrigin(c, cs)
	d.tw, d.aw = timeW, d.baseAW
	if n := len(rows); n > 0 {
		if w := len(offset(rows[n-1].at.Sub(start))) + 1; w > d.tw {
			d.tw, d.aw = w, max(d.baseAW-(w-timeW), 30)
		}
	}
	// Side names and addresses end at the client's lifeline and start at
	// the server's.
	left := d.tw + d.mw + 3
	gap := strings.Repeat(" ", d.aw)
	d.printf("%s%s%s\n", padRight(d.m("diagram.time"), d.tw), padLeft(cName, left-d.tw), gap+sName)
	ca, sa := addrText(c.Client), addrText(c.Server)
	if max(left, cells(ca))+d.aw+cells(sa) <= d.opt.Width {
		d.printf("%s%s\n", padLeft(ca, left), gap+sa)
	} else {
		// Long IPv6 addresses: one line each, the server's kept inside
		// 100 columns.
		d.printf("%s\n%s\n", padLeft(ca, left), padLeft(sa, min(d.opt.Width, left+d.aw+cells(sa))))
	}

	blank := strings.Repeat(" ", d.aw)
	init := initialStates(c, sc.steps, cs)
	d.line("", init[decode.Client], " ", blank, " ", init[decode.Server])

	var open [2]int
	for _, r := range rows {
		var br [2]string
		for side := range br {
			br[side] = " "
			if open[side] > 0 {
				br[side] = d.g.bar
			}
		}
		at := offset(r.at.Sub(start))
		switch r.kind {
		case rowSegment:
			st := &sc.steps[r.step]
			var state [2]string
			for _, side := range [...]decode.Side{decode.Client, decode.Server} {
				if c.SelfConnect && side == decode.Server {
					break
				}
				if st.before[side] != st.after[side] {
					state[side] = st.after[side].String()
				}
			}
			toServer := st.from == decode.Client || c.SelfConnect
			label := segmentLabel(&st.textStep)
			arrow, ok := d.arrow(label, toServer, st.kind)
			if !ok {
				// The label is wider than the arrow: it goes on a row
				// of its own, just above.
				d.line("", "", br[0], "  "+padRight(fitWith(label, d.aw-2, d.g.more), d.aw-2), br[1], "")
				arrow, _ = d.arrow("", toServer, st.kind)
			}
			d.line(at, state[decode.Client], br[0], arrow, br[1], state[decode.Server])
			if st.hasPreview() {
				pv := st.preview()
				if d.opt.ASCII {
					// Preview escapes every byte that is not printable
					// ASCII; its own … is the one character left.
					pv = strings.ReplaceAll(pv, "…", d.g.more)
				}
				d.line("", "", br[0], "   "+padRight(fitWith(pv, d.aw-4, d.g.more), d.aw-3), br[1], "")
			}
			// A segment that moved a side through more than one state
			// (a FIN-ACK takes FIN_WAIT_1 through FIN_WAIT_2 to
			// TIME_WAIT) names the states it passed on the next row.
			var via [2]string
			for side := range via {
				if c.SelfConnect && decode.Side(side) == decode.Server {
					continue
				}
				var names []string
				for _, s := range st.passed[side][:max(len(st.passed[side])-1, 0)] {
					// LISTEN is where a server starts, shown above
					// its first row, not a state a segment passes.
					if s != decode.Listen {
						names = append(names, s.String())
					}
				}
				if len(names) > 0 {
					via[side] = d.m("diagram.via", strings.Join(names, ", "))
				}
			}
			if via != [2]string{} {
				d.line("", via[0], br[0], blank, br[1], via[1])
			}
		default:
			ev := &cs[r.call]
			if ev.Enter.IsZero() && ev.Exit.IsZero() {
				at = "" // placed by the step that implies it; it has no time
			}
			var text [2]string
			switch r.kind {
			case rowEnter:
				text[r.side] = callName(ev)
				open[r.side]++
				br[r.side] = d.g.cEnter
				if r.side == decode.Server {
					br[r.side] = d.g.sEnter
				}
			case rowExit:
				text[r.side] = d.callResult(ev)
				if open[r.side] > 0 {
					open[r.side]--
				}
				br[r.side] = d.g.cExit
				if r.side == decode.Server {
					br[r.side] = d.g.sExit
				}
			default:
				text[r.side] = callName(ev)
				switch {
				case isCompletion(ev) && ev.Detail == "failed":
					e := completionErrno(c.Handshake(), ev)
					name := "?"
					if e != 0 {
						name = errnoName(e)
					}
					text[r.side] = d.g.ret + " " + name
				case isCompletion(ev):
					text[r.side] = d.g.ret + " " + d.m("diagram.connected")
				case !ev.Exit.IsZero() && !ev.Inferred:
					text[r.side] += " " + shortResult(ev, d.g.ret)
				case ev.Exit.IsZero() && !ev.Enter.IsZero() && !ev.Inferred && blocks(ev.Call):
					text[r.side] += " " + d.g.more // entered, never seen returning
				}
			}
			d.line(at, text[0], br[0], blank, br[1], text[1])
			if s, ok := callState(ev); ok && r.kind != rowEnter {
				// The state the call made, on a row of its own.
				var state [2]string
				state[r.side] = s.String()
				for side := range br {
					if br[side] != d.g.bar {
						br[side] = " "
					}
				}
				d.line("", state[0], br[0], blank, br[1], state[1])
			}
		}
	}
	if sc.omitted > 0 {
		d.printf("  %s\n", d.tx.m("more.segments", sc.omitted))
	}
	if sc.cut > 0 {
		d.printf("  %s\n", d.tx.m("more.segments.cut", sc.cut))
	}
	if omittedCalls > 0 {
		d.printf("  %s\n", d.m("diagram.calls.omitted", omittedCalls))
	}
	d.printf("\n")
	withText(d.tx, d.sink, d.w, func() { d.tx.writeConnSummary(c) })
	d.printf("\n")
}

// blocks reports whether a call is one that waits for the other side.
func blocks(c calls.Call) bool {
	switch c {
	case calls.Connect, calls.Accept, calls.Read:
		return true
	}
	return false
}

// segmentLabel is what an arrow says: flags, relative numbers, length.
func segmentLabel(st *textStep) string {
	b := append(make([]byte, 0, 48), st.flags.String()...)
	b = append(b, ' ')
	return string(st.appendNumbers(b))
}

// arrow draws a segment's arrow, arrowW columns wide, with its label; ok
// is false when the label does not fit.
func (d *Diagram) arrow(label string, toServer bool, kind decode.StepKind) (string, bool) {
	dash := d.g.dash
	switch kind {
	case decode.StepSYNRetransmit, decode.StepRetransmission, decode.StepSpuriousRetransmission,
		decode.StepLate, decode.StepRSTIgnored:
		dash = d.g.dot // sent before, no longer needed, or ignored
	}
	lw := cells(label)
	body := ""
	if label == "" {
		body = strings.Repeat(dash, d.aw-1)
	} else {
		rest := d.aw - 5 - lw
		if rest < 1 {
			return "", false
		}
		if toServer {
			body = dash + dash + " " + label + " " + strings.Repeat(dash, rest)
		} else {
			body = strings.Repeat(dash, rest) + " " + label + " " + dash + dash
		}
	}
	var s string
	if toServer {
		s = body + d.g.right
	} else {
		s = d.g.left + body
	}
	if d.opt.Color {
		if col := colorOf(kind); col != "" {
			s = col + s + ansiReset
		}
	}
	return s, true
}

// colorOf picks an arrow's colour: RST red, SYN green, FIN yellow, and
// the rest (data, ACKs) in the terminal's own colour.
func colorOf(kind decode.StepKind) string {
	switch kind {
	case decode.StepRST, decode.StepRefused, decode.StepRSTIgnored:
		return ansiRed
	case decode.StepSYN, decode.StepSYNRetransmit, decode.StepSimultaneousSYN, decode.StepSYNACK:
		return ansiGreen
	case decode.StepFIN:
		return ansiYellow
	}
	return ""
}

// callName is how a call appears in a margin: "connect()", with * when it
// was inferred, and a short argument note when one was observed
// ("shutdown(SHUT_WR)").
func callName(ev *calls.Event) string {
	name := string(ev.Call) + "()"
	if ev.Inferred {
		return name + "*"
	}
	if syscallName(ev) != string(ev.Call) {
		// A data call's own system call (sendto, writev): its name,
		// not write(sendto); with the flag that changes what it does,
		// where it fits: recvfrom(PEEK), sendto(FASTOPEN) (the connect).
		name = syscallName(ev) + "()"
		short := ""
		switch {
		case isPeek(ev):
			short = "PEEK"
		case isFastOpen(ev):
			short = "FASTOPEN"
		}
		if s := syscallName(ev) + "(" + short + ")"; short != "" && cells(s) <= marginW-2 {
			name = s
		}
		return name
	}
	// A traced program's call notes can carry its own strings: show only
	// short, plain ones.
	if ev.Detail != "" && printableASCII(ev.Detail) {
		if s := string(ev.Call) + "(" + ev.Detail + ")"; cells(s) <= marginW-2 {
			name = s
		}
	}
	return name
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// ColorMode decides DiagramOptions.Color from --color (auto, always or
// never; empty means auto), whether stdout is a terminal, and the value
// of NO_COLOR (https://no-color.org: any non-empty value turns colour off
// unless --color=always asks for it).
func ColorMode(flag string, terminal bool, noColor string) (bool, error) {
	switch flag {
	case "always":
		return true, nil
	case "never":
		return false, nil
	case "auto", "":
		return terminal && noColor == "", nil
	}
	return false, fmt.Errorf("unknown --color %q: use auto, always or never", flag)
}

// callResult is what a call returned: "returns 0", "fails ECONNREFUSED".
func (d *Diagram) callResult(ev *calls.Event) string {
	if ev.Errno != 0 {
		return d.m("diagram.fails", errnoName(ev.Errno))
	}
	return d.m("diagram.returns", ev.Result)
}

// Summary writes the lane view of overlapping connections and the totals,
// and flushes.
func (d *Diagram) Summary(s Summary) error {
	d.writeLanes()
	var err error
	withText(d.tx, d.sink, d.w, func() { err = d.tx.Summary(s) })
	if ferr := d.w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// Lane view bounds: it is drawn at the end, so what it needs is kept for
// every connection until then.
const (
	maxLaneConns  = 256
	maxLaneEvents = 4096
	laneW         = 11
)

type laneEvent struct {
	at    time.Time
	from  decode.Side
	flags decode.Flags
	len   int
}

type laneConn struct {
	id         int
	client     netip.AddrPort
	start, end time.Time
	self       bool
	events     []laneEvent
}

// laneLog keeps what the lane view needs, within bounds; past them, and
// after forgetting what cannot overlap, it gives up and says so.
type laneLog struct {
	conns  []laneConn
	events int
	full   bool
}

func (l *laneLog) add(c *decode.Connection, sc *seqConn, pending *recorder) {
	if l.full {
		return
	}
	if len(l.conns) >= maxLaneConns || l.events+len(sc.steps) > maxLaneEvents {
		l.prune(pending)
	}
	if len(l.conns) >= maxLaneConns || l.events+len(sc.steps) > maxLaneEvents {
		l.full, l.conns = true, nil
		return
	}
	lc := laneConn{id: c.ID, client: c.Client, start: c.Start, end: c.End, self: c.SelfConnect, events: make([]laneEvent, len(sc.steps))}
	for i := range sc.steps {
		st := &sc.steps[i]
		lc.events[i] = laneEvent{at: st.time, from: st.from, flags: st.flags, len: st.len}
	}
	if len(sc.steps) > 0 {
		lc.start = sc.steps[0].time
		lc.end = sc.steps[len(sc.steps)-1].time
	}
	l.events += len(sc.steps)
	l.conns = append(l.conns, lc)
}

// prune forgets the connections that overlap no other and never will: a
// connection still open can overlap only those that end after it began.
// Most captures are one connection after another (a port scan, a test
// loop): pruning keeps the lane view's memory to the overlapping ones.
func (l *laneLog) prune(pending *recorder) {
	var open time.Time // the earliest start of a connection still open
	for _, sc := range pending.pending {
		if len(sc.steps) > 0 && (open.IsZero() || sc.steps[0].time.Before(open)) {
			open = sc.steps[0].time
		}
	}
	var kept []laneConn
	events := 0
	for _, g := range l.overlapGroups() {
		if len(g) == 1 && (open.IsZero() || g[0].end.Before(open)) {
			continue
		}
		for i := range g {
			events += len(g[i].events)
		}
		kept = append(kept, g...)
	}
	l.conns, l.events = kept, events
}

// overlapGroups splits connections, in order of start, into groups whose
// lifetimes overlap.
func (l *laneLog) overlapGroups() [][]laneConn {
	cs := slices.Clone(l.conns)
	slices.SortStableFunc(cs, func(a, b laneConn) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return a.id - b.id
	})
	var groups [][]laneConn
	for i := 0; i < len(cs); {
		end := cs[i].end
		j := i + 1
		for j < len(cs) && cs[j].start.Before(end) {
			if cs[j].end.After(end) {
				end = cs[j].end
			}
			j++
		}
		groups = append(groups, cs[i:j])
		i = j
	}
	return groups
}

func (d *Diagram) writeLanes() {
	if d.lanes.full {
		d.printf("%s\n\n", wrapCells(d.m("diagram.lanes.omitted", maxLaneConns, maxLaneEvents), 0, d.opt.Width))
		return
	}
	for _, g := range d.lanes.overlapGroups() {
		for len(g) > 1 {
			n := min(len(g), lanesFor(g, d.opt.Width))
			d.writeLaneChunk(g[:n])
			g = g[n:]
		}
	}
}

// laneTimeW is the width of a lane view's time column.
func laneTimeW(g []laneConn) int {
	var end time.Time
	for i := range g {
		if g[i].end.After(end) {
			end = g[i].end
		}
	}
	return max(timeW, len(offset(end.Sub(g[0].start)))+1)
}

// lanesFor is how many lanes fit beside the time column in 100 columns.
func lanesFor(g []laneConn, width int) int { return max(2, (width-laneTimeW(g))/laneW) }

func (d *Diagram) writeLaneChunk(g []laneConn) {
	tw := laneTimeW(g)
	ids := make([]string, len(g))
	for i := range g {
		ids[i] = "#" + strconv.Itoa(g[i].id)
	}
	d.printf("%s\n\n", wrapCells(d.m("diagram.lanes", strings.Join(ids, ", ")), 0, d.opt.Width))
	var b strings.Builder
	b.WriteString(padRight(d.m("diagram.time"), tw))
	for _, id := range ids {
		b.WriteString(padRight(id, laneW))
	}
	d.printf("%s\n", strings.TrimRight(b.String(), " "))
	// The client ports under the numbers: connections that share a
	// server port are told apart by the rest of the 4-tuple.
	b.Reset()
	b.WriteString(strings.Repeat(" ", tw))
	for i := range g {
		b.WriteString(padRight(":"+strconv.Itoa(int(g[i].client.Port())), laneW))
	}
	d.printf("%s\n", strings.TrimRight(b.String(), " "))

	type ref struct{ lane, ev int }
	var refs []ref
	for i := range g {
		for j := range g[i].events {
			refs = append(refs, ref{i, j})
		}
	}
	slices.SortStableFunc(refs, func(a, b ref) int {
		return g[a.lane].events[a.ev].at.Compare(g[b.lane].events[b.ev].at)
	})
	start := g[0].start
	for _, r := range refs {
		ev := &g[r.lane].events[r.ev]
		b.Reset()
		b.WriteString(padRight(offset(ev.at.Sub(start)), tw))
		for i := range g {
			cell := ""
			switch {
			case i == r.lane:
				cell = d.laneCell(ev, g[i].self)
			case !ev.at.Before(g[i].start) && !ev.at.After(g[i].end):
				cell = d.g.life
			}
			b.WriteString(padRight(cell, laneW))
		}
		d.printf("%s\n", strings.TrimRight(b.String(), " "))
	}
	d.printf("\n")
}

// laneCell is a segment in a lane: its direction and a short name.
func (d *Diagram) laneCell(ev *laneEvent, self bool) string {
	name := ev.flags.String()
	if ev.len > 0 {
		name = "len=" + strconv.Itoa(ev.len)
		if ev.flags&decode.FIN != 0 {
			name += "+FIN"
		}
	}
	arrow := d.g.right + " "
	if ev.from == decode.Server && !self {
		arrow = d.g.left + " "
	}
	return fitWith(arrow+name, laneW-1, d.g.more)
}
