package report

import (
	"bufio"
	"bytes"
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/internal/neutral"
)

// HTMLOptions tune the HTML report.
type HTMLOptions struct {
	Lang Lang
	// Ephemeral and MaxSteps are as in TextOptions.
	Ephemeral [2]int
	MaxSteps  int
	// Title heads the page, such as the capture's file name; empty means
	// "socktrace report".
	Title string
	// Explain says which connections are drawn: ExplainAuto the first of
	// each shape and the notable ones, at most maxSections; ExplainAll
	// every one (memory stays bounded, as each section is written when
	// its connection ends, but the page grows with the capture);
	// ExplainNone none, only the summary table.
	Explain Explain
}

// HTML writes one self-contained HTML page: per connection a sequence
// diagram as inline SVG, with each step's explanation beside it and the
// details of every packet and call on hover, then a summary table. The
// page references nothing outside itself — no scripts, styles, fonts or
// images — so it can be mailed, archived and opened offline.
//
// It streams: the page's head is written with the first connection and
// each connection when it ends, so memory does not grow with the capture.
// HTML implements decode.Handler; call Summary at the end.
type HTML struct {
	w       *bufio.Writer
	opt     HTMLOptions
	rec     recorder
	lanes   laneLog
	started bool
	table   []htmlConnRow
	more    int // connections left out of the table
	// drawn counts the sections written; sameShape the connections not
	// drawn because one of their shape was; overCap those not drawn
	// because maxSections were.
	drawn, sameShape, overCap int
	notDrawn                  int // under ExplainNone

	// tx lends the text report's sentences, so that the page explains
	// each step with the same words in every language.
	tx   *Text
	sink *switchWriter
	buf  bytes.Buffer
}

// htmlConnRow is one line of the summary table.
type htmlConnRow struct {
	id                       int
	client, server           string
	opened, closed           string
	packets                  int
	c2s, s2c                 int64
	irtt, connState, history string
	// drawnAs is 0 when the row's connection is drawn, the number of the
	// connection of the same shape drawn instead, or -1 when none is.
	drawnAs int
}

// maxTableRows bounds the summary table, which is kept until the end.
const maxTableRows = 5000

// NewHTML returns an HTML report writer on w.
func NewHTML(w io.Writer, opt HTMLOptions) *HTML {
	if opt.Lang == "" {
		opt.Lang = English
	}
	h := &HTML{w: bufio.NewWriterSize(w, 64<<10), opt: opt, rec: newRecorder(opt.MaxSteps), sink: &switchWriter{}}
	explain := opt.Explain
	if explain == ExplainNone {
		explain = ExplainAuto // the shapes are still counted for the summary
	}
	h.tx = NewText(h.sink, TextOptions{Lang: opt.Lang, Ephemeral: opt.Ephemeral, MaxSteps: opt.MaxSteps, Explain: explain})
	return h
}

func (h *HTML) m(id msgID, args ...any) string {
	return fmt.Sprintf(msg(h.opt.Lang, id), args...)
}

func (h *HTML) printf(format string, args ...any) {
	fmt.Fprintf(h.w, format, args...) // bufio keeps the first error for Flush
}

// esc escapes text for HTML and SVG alike.
// esc makes any string safe in the page: neutralised (control bytes, bidi
// overrides) and then HTML-escaped.
func esc(s string) string { return html.EscapeString(neutral.String(s)) }

// Segment implements decode.Handler.
func (h *HTML) Segment(c *decode.Connection, st *decode.Step) { h.rec.segment(c, st) }

// Call implements decode.CallHandler: a call that belongs to no
// connection (a listening socket's close()) is listed before the summary.
func (h *HTML) Call(c *decode.Connection, ev *calls.Event) { h.tx.Call(c, ev) }

// Datagram implements decode.DatagramHandler.
func (h *HTML) Datagram(x *decode.Datagram) { h.tx.Datagram(x) }

// Ended implements decode.Handler: it writes the connection's section.
func (h *HTML) Ended(c *decode.Connection) {
	sc := h.rec.take(c)
	h.lanes.add(c, sc, &h.rec)
	cs, omittedCalls := copyCalls(c)
	// The text report keeps the totals and applies the shape rule: a
	// connection whose shape was drawn before gets a row in the table,
	// linked to the one drawn, and no section; so do notable ones past
	// maxSections, so that the page stays bounded.
	full := true
	withText(h.tx, h.sink, nil, func() {
		h.tx.tally(c)
		full, _ = h.tx.endShaped(c, &sc.shape)
	})
	cs = h.tx.withoutKnownListens(c, cs)
	h.start()
	row := h.tableRow(c)
	switch {
	case h.opt.Explain == ExplainNone:
		h.notDrawn++
		row.drawnAs = -1
	case full && (h.drawn < maxSections || h.opt.Explain == ExplainAll):
		h.writeConnection(c, sc, cs, omittedCalls)
		h.drawn++
	case full:
		h.overCap++
		row.drawnAs = -1
	default:
		h.sameShape++
		row.drawnAs = h.tx.lastFirst
	}
	if len(h.table) < maxTableRows {
		h.table = append(h.table, row)
	} else {
		h.more++
	}
}

// maxSections bounds the connections drawn in full on one page.
const maxSections = 200

// textOf captures what f writes through the text report.
func (h *HTML) textOf(f func()) string {
	h.buf.Reset()
	withText(h.tx, h.sink, &h.buf, f)
	return h.buf.String()
}

const htmlStyle = `
:root{color-scheme:light;--fg:#1f2328;--mute:#656d76;--line:#8c959f;--syn:#1a7f37;--fin:#9a6700;--rst:#cf222e;--ack:#57606a;--data:#0550ae;--hl:#fff8c5;--state:#ddf4ff;--call:#fbefff}
*{box-sizing:border-box}
body{margin:0;padding:20px 28px;font:14px/1.45 "DejaVu Sans","Noto Sans KR","Apple SD Gothic Neo","Malgun Gothic",system-ui,sans-serif;color:var(--fg);background:#fff}
html:lang(ko) body{word-break:keep-all}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:22px 0 4px;font-family:"DejaVu Sans Mono",ui-monospace,monospace}
.lead{color:var(--mute);margin:0 0 10px;font-size:13px}
.preface{display:grid;grid-template-columns:repeat(3,1fr);gap:14px;font-size:12.5px;color:#333;margin:8px 0 4px}
.preface p{margin:0;padding:8px 10px;background:#f6f8fa;border-radius:6px}
.ports{margin:2px 0 8px;font-size:12.5px;color:var(--mute)}
.ports span{display:block}
svg.seq{display:block;max-width:100%;height:auto;font-size:13px}
svg.seq .t{font:11px "DejaVu Sans Mono",ui-monospace,monospace;fill:var(--mute)}
svg.seq .mono{font-family:"DejaVu Sans Mono",ui-monospace,monospace}
svg.seq .lbl{font:11.5px "DejaVu Sans Mono",ui-monospace,monospace}
svg.seq .pv{font:10.5px "DejaVu Sans Mono",ui-monospace,monospace;fill:var(--mute)}
svg.seq .why{fill:#333}
svg.seq .who{font-weight:bold;font-size:14px}
svg.seq .addr{font:11px "DejaVu Sans Mono",ui-monospace,monospace;fill:var(--mute)}
svg.seq .life{stroke:var(--line);stroke-width:1.5;stroke-dasharray:4 3}
svg.seq .act{fill:var(--call);stroke:#8250df;stroke-width:1}
svg.seq .st rect{fill:var(--state);stroke:#54aeff;stroke-width:.8}
svg.seq .st text{font:10.5px "DejaVu Sans Mono",ui-monospace,monospace;fill:#0a3069}
svg.seq .cl text{font:12px "DejaVu Sans Mono",ui-monospace,monospace;fill:#6639ba}
svg.seq .row .hl{fill:transparent}
svg.seq .row:hover .hl{fill:var(--hl)}
svg.seq .syn{color:var(--syn)} svg.seq .fin{color:var(--fin)} svg.seq .rst{color:var(--rst)}
svg.seq .ack{color:var(--ack)} svg.seq .data{color:var(--data)}
svg.seq .arrow line{stroke:currentColor;stroke-width:1.8}
svg.seq .arrow.dot line{stroke-dasharray:3 3}
svg.seq .arrow path{fill:currentColor}
svg.seq .arrow text{fill:currentColor}
pre.connsum{font:12px/1.5 "DejaVu Sans Mono",ui-monospace,monospace;background:#f6f8fa;padding:8px 12px;border-radius:6px;margin:6px 0 0;white-space:pre-wrap}
.note{font-size:12.5px;color:var(--mute)}
table.sum{border-collapse:collapse;font-size:12.5px;margin:6px 0}
table.sum th,table.sum td{border:1px solid #d0d7de;padding:3px 8px;text-align:left}
table.sum th{background:#f6f8fa}
table.sum td.n{text-align:right;font-family:"DejaVu Sans Mono",ui-monospace,monospace}
.totals p{margin:2px 0}
`

// start writes the page's head once.
func (h *HTML) start() {
	if h.started {
		return
	}
	h.started = true
	title := h.opt.Title
	if title == "" {
		title = h.m("html.title")
	}
	h.printf("<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n", esc(string(h.opt.Lang)))
	h.printf("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	h.printf("<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n", esc(title), htmlStyle)
	h.printf("<h1>%s</h1>\n<p class=\"lead\">%s %s</p>\n", esc(title), esc(h.m("html.legend")), esc(h.m("html.hover")))
	h.printf("<div class=\"preface\"><p>%s</p><p>%s</p><p>%s</p><p>%s</p></div>\n",
		esc(h.tx.prefacePorts()), esc(h.tx.m("preface.socket")), esc(h.tx.m("preface.flows")), esc(h.tx.m("preface.numbers")))
}

// SVG geometry, in pixels.
const (
	svgW       = 1180
	xTime      = 6
	xCMargin   = 232 // the client's margin text ends here
	xClient    = 252 // the client's lifeline
	xServer    = 560 // the server's lifeline
	xSMargin   = 580 // the server's margin text starts here
	xWhy       = 712 // the explanations start here
	whyUnits   = 62  // their width, in narrow characters (a wide one counts 2)
	lineH      = 16
	minRowH    = 34
	headH      = 58
	badgeCharW = 7.0 // pixels per character in a state badge
)

// svgRow is a laid-out row: where it is and how tall.
type svgRow struct {
	r    row
	y, h int
	why  []string
}

func (h *HTML) writeConnection(c *decode.Connection, sc *seqConn, cs []calls.Event, omittedCalls int) {
	tx := h.tx
	steps := make([]textStep, len(sc.steps))
	for i := range sc.steps {
		steps[i] = sc.steps[i].textStep
	}
	tx.current = steps      // the sentences count SYN retransmissions and find the handshake here
	tx.self = c.SelfConnect // and name a self-connected socket "socket", not client or server
	defer func() { tx.self = false }()
	first := time.Time{}
	if len(steps) > 0 {
		first = steps[0].time
	}
	start := timeOrigin(c, cs)

	h.printf("<section id=\"conn-%d\">\n<h2>%s</h2>\n<p class=\"ports\">", c.ID, esc(tx.m("conn.header", c.ID, c.Client, c.Server)))
	switch {
	case c.SelfConnect:
		h.printf("<span>%s; %s</span>", esc(tx.m("conn.self")), esc(tx.portText(c.Client.Port(), false)))
	default:
		h.printf("<span>%s</span><span>%s</span>",
			esc(tx.m("conn.client", tx.portText(c.Client.Port(), true))),
			esc(tx.m("conn.server", tx.portText(c.Server.Port(), false))))
	}
	if c.RolesGuessed {
		h.printf("<span>%s</span>", esc(tx.m("conn.roles.guess")))
	}
	for _, line := range tunnelLines(tx, c) {
		h.printf("<span class=\"tunnel\">%s</span>", esc(line))
	}
	h.printf("</p>\n")

	// Lay out the rows: each as tall as its explanation.
	rows := layout(c, sc, cs)
	laid := make([]svgRow, len(rows))
	y := headH + minRowH
	for i, r := range rows {
		var why string
		switch r.kind {
		case rowSegment:
			why = tx.explain(c, &sc.steps[r.step].textStep, first)
		default:
			if ev := &cs[r.call]; !ev.Inferred {
				why = tx.callWhy(c, ev, r.kind != rowEnter)
			}
		}
		lines := wrapLines(why, whyUnits)
		rh := max(minRowH, 10+lineH*len(lines))
		if r.kind != rowSegment && r.kind != rowEnter {
			if _, ok := callState(&cs[r.call]); ok {
				rh = max(rh, 44)
			}
		}
		if r.kind == rowSegment && sc.steps[r.step].hasPreview() {
			rh = max(rh, 44)
		}
		laid[i] = svgRow{r: r, y: y, h: rh, why: lines}
		y += rh
	}
	height := y + 14

	var b strings.Builder
	fmt.Fprintf(&b, "<svg class=\"seq\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">\n",
		svgW, height, svgW, height, esc(tx.m("conn.header", c.ID, c.Client, c.Server)))
	cName, sName := tx.m("side.client"), tx.m("side.server")
	if c.SelfConnect {
		cName, sName = h.m("diagram.self.sends"), h.m("diagram.self.receives")
	}
	fmt.Fprintf(&b, "<text class=\"who\" x=\"%d\" y=\"20\" text-anchor=\"middle\">%s</text>", xClient, esc(cName))
	fmt.Fprintf(&b, "<text class=\"who\" x=\"%d\" y=\"20\" text-anchor=\"middle\">%s</text>\n", xServer, esc(sName))
	fmt.Fprintf(&b, "<text class=\"addr\" x=\"%d\" y=\"38\" text-anchor=\"middle\">%s</text>", xClient, esc(addrText(c.Client)))
	fmt.Fprintf(&b, "<text class=\"addr\" x=\"%d\" y=\"38\" text-anchor=\"middle\">%s</text>\n", xServer, esc(addrText(c.Server)))
	fmt.Fprintf(&b, "<line class=\"life\" x1=\"%d\" y1=\"46\" x2=\"%d\" y2=\"%d\"/>", xClient, xClient, height-6)
	fmt.Fprintf(&b, "<line class=\"life\" x1=\"%d\" y1=\"46\" x2=\"%d\" y2=\"%d\"/>\n", xServer, xServer, height-6)

	// Activation bars for the calls that block, under everything else.
	bar := func(side decode.Side, y0, y1 int) {
		x := xClient
		if side == decode.Server {
			x = xServer
		}
		fmt.Fprintf(&b, "<rect class=\"act\" x=\"%d\" y=\"%d\" width=\"8\" height=\"%d\" rx=\"2\"/>\n", x-4, y0, y1-y0)
	}
	for i, lr := range laid {
		if lr.r.kind != rowEnter {
			continue
		}
		end := height - 10 // entered and never returned: to the end
		for _, later := range laid[i+1:] {
			if later.r.kind == rowExit && later.r.call == lr.r.call {
				end = later.y + 18
				break
			}
		}
		bar(lr.r.side, lr.y+10, end)
	}

	// The states before the first row.
	for side, s := range initialStates(c, sc.steps, cs) {
		if s != "" {
			h.stateBadge(&b, decode.Side(side), headH+minRowH/2, s)
		}
	}
	for _, lr := range laid {
		h.writeSVGRow(&b, c, sc, cs, lr, start)
	}
	b.WriteString("</svg>\n")
	h.printf("%s", b.String())

	if sc.omitted > 0 {
		h.printf("<p class=\"note\">%s</p>\n", esc(tx.m("more.segments", sc.omitted)))
	}
	if sc.cut > 0 {
		h.printf("<p class=\"note\">%s</p>\n", esc(tx.m("more.segments.cut", sc.cut)))
	}
	if omittedCalls > 0 {
		h.printf("<p class=\"note\">%s</p>\n", esc(h.m("diagram.calls.omitted", omittedCalls)))
	}
	sum := h.textOf(func() { tx.writeConnSummary(c) })
	h.printf("<pre class=\"connsum\">%s</pre>\n</section>\n", esc(strings.TrimRight(sum, "\n")))
}

// stateBadge draws a state name in a side's margin, centred on y.
func (h *HTML) stateBadge(b *strings.Builder, side decode.Side, y int, name string) {
	w := int(float64(len(name))*badgeCharW) + 12
	x := xCMargin - w
	if side == decode.Server {
		x = xSMargin
	}
	fmt.Fprintf(b, "<g class=\"st\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"17\" rx=\"8\"/><text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text></g>",
		x, y-9, w, x+w/2, y+4, esc(name))
}

func (h *HTML) writeSVGRow(b *strings.Builder, c *decode.Connection, sc *seqConn, cs []calls.Event, lr svgRow, start time.Time) {
	tx := h.tx
	r := lr.r
	var title []string
	timed := true
	if r.kind != rowSegment {
		ev := &cs[r.call]
		timed = !(ev.Enter.IsZero() && ev.Exit.IsZero())
	}
	fmt.Fprintf(b, "<g class=\"row\">")
	// The hover band goes first, so that it lies under the row.
	fmt.Fprintf(b, "<rect class=\"hl\" x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\"/>", lr.y, svgW, lr.h)
	if timed {
		fmt.Fprintf(b, "<text class=\"t\" x=\"%d\" y=\"%d\">%s</text>", xTime, lr.y+16, esc(offset(r.at.Sub(start))))
	}
	switch r.kind {
	case rowSegment:
		st := &sc.steps[r.step]
		toServer := st.from == decode.Client || c.SelfConnect
		x1, x2 := xClient+5, xServer-5
		if !toServer {
			x1, x2 = x2, x1
		}
		class := htmlKind(st.kind, st.flags, st.len)
		if st.kind == decode.StepSYNRetransmit || st.kind == decode.StepRetransmission || st.kind == decode.StepLate ||
			st.kind == decode.StepSpuriousRetransmission || st.kind == decode.StepRSTIgnored {
			class += " dot"
		}
		ay := lr.y + 20
		head := x2 - 9
		if !toServer {
			head = x2 + 9
		}
		fmt.Fprintf(b, "<g class=\"arrow %s\"><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>", class, x1, ay, head, ay)
		fmt.Fprintf(b, "<path d=\"M%d %d L%d %d L%d %d Z\"/>", x2, ay, head, ay-5, head, ay+5)
		fmt.Fprintf(b, "<text class=\"lbl\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text></g>",
			(xClient+xServer)/2, ay-5, esc(segmentLabel(&st.textStep)))
		if st.hasPreview() {
			fmt.Fprintf(b, "<text class=\"pv\" x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>",
				(xClient+xServer)/2, ay+15, esc(fit(st.preview(), 40)))
		}
		for _, side := range [...]decode.Side{decode.Client, decode.Server} {
			if c.SelfConnect && side == decode.Server {
				break
			}
			if st.before[side] != st.after[side] {
				h.stateBadge(b, side, ay, st.after[side].String())
			}
		}
		dir := tx.m("dir.c2s")
		switch {
		case c.SelfConnect:
			dir = strings.TrimSpace(tx.m("dir.self"))
		case st.from == decode.Server:
			dir = tx.m("dir.s2c")
		}
		title = append(title,
			h.m("html.seg.head", st.index, dir, st.flags),
			h.m("html.seg.numbers", st.relSeq, st.relAck, st.seq, st.ack, st.window, st.len),
			h.m("html.seg.time", st.time.UTC().Format("2006-01-02 15:04:05.000000000 UTC"), strings.TrimPrefix(offset(st.time.Sub(start)), "+")))
		for _, side := range [...]decode.Side{decode.Client, decode.Server} {
			if c.SelfConnect && side == decode.Server {
				break
			}
			if st.before[side] != st.after[side] {
				title = append(title, tx.stateChange(c, &st.textStep, side))
			}
		}
		if o := strings.TrimSpace(tx.synOptions(st.opts, st.flags&decode.ACK != 0)); o != "" && st.flags&decode.SYN != 0 {
			title = append(title, o)
		}
		if st.hasPreview() {
			title = append(title, tx.m("payload", st.preview()))
		}
	default:
		ev := &cs[r.call]
		label := callName(ev)
		switch r.kind {
		case rowExit:
			label = h.callResultText(ev)
		case rowCall:
			if !ev.Exit.IsZero() && !ev.Inferred {
				label += " " + shortResult(ev, "→")
			}
		}
		y := lr.y + 16
		if r.side == decode.Server {
			fmt.Fprintf(b, "<g class=\"cl\"><text x=\"%d\" y=\"%d\">%s</text></g>", xSMargin, y, esc(label))
		} else {
			fmt.Fprintf(b, "<g class=\"cl\"><text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text></g>", xCMargin, y, esc(label))
		}
		if s, ok := callState(ev); ok && r.kind != rowEnter {
			// The state the call made, below its name.
			h.stateBadge(b, r.side, lr.y+30, s.String())
		}
		title = h.callTitleLines(c, ev)
	}
	for i, line := range lr.why {
		fmt.Fprintf(b, "<text class=\"why\" x=\"%d\" y=\"%d\">%s</text>", xWhy, lr.y+16+i*lineH, esc(line))
	}
	fmt.Fprintf(b, "<title>%s</title></g>\n", esc(strings.Join(title, "\n")))
}

// htmlKind names the CSS class that colours a segment's arrow.
func htmlKind(k decode.StepKind, f decode.Flags, n int) string {
	switch k {
	case decode.StepRST, decode.StepRefused:
		return "rst"
	case decode.StepSYN, decode.StepSYNRetransmit, decode.StepSimultaneousSYN, decode.StepSYNACK:
		return "syn"
	case decode.StepFIN:
		return "fin"
	}
	return flagsKind(f, n)
}

// flagsKind names the colour class from the flags alone, for the lane
// view, which keeps no step kinds.
func flagsKind(f decode.Flags, n int) string {
	switch {
	case f&decode.RST != 0:
		return "rst"
	case f&decode.SYN != 0:
		return "syn"
	case f&decode.FIN != 0:
		return "fin"
	case n > 0:
		return "data"
	}
	return "ack"
}

func (h *HTML) callResultText(ev *calls.Event) string {
	if ev.Errno != 0 {
		return h.m("diagram.fails", errnoName(ev.Errno))
	}
	return h.m("diagram.returns", ev.Result)
}

// callTitleLines are a call's details, for its hover text.
func (h *HTML) callTitleLines(c *decode.Connection, ev *calls.Event) []string {
	lines := []string{h.m("html.call.head", string(ev.Call), h.tx.side(sideOf(c, ev)))}
	if ev.Inferred {
		lines = append(lines, h.m("html.call.inferred"))
		if ev.Detail != "" {
			lines = append(lines, ev.Detail)
		}
		return lines
	}
	lines = append(lines, callTitle(ev))
	if ev.FD >= 0 {
		lines = append(lines, h.m("html.call.fd", ev.FD))
	}
	const layout = "15:04:05.000000000"
	if !ev.Enter.IsZero() {
		lines = append(lines, h.m("html.call.enter", ev.Enter.UTC().Format(layout)))
	}
	if !ev.Exit.IsZero() {
		lines = append(lines, h.m("html.call.exit", ev.Exit.UTC().Format(layout), duration(ev.Duration())))
		if ev.Errno != 0 {
			lines = append(lines, h.m("html.call.errno", errnoName(ev.Errno)))
		} else {
			lines = append(lines, h.m("html.call.result", ev.Result))
		}
	}
	if ev.PID > 0 {
		lines = append(lines, h.m("html.call.pid", ev.PID, ev.Comm))
	}
	return lines
}

// wrapLines breaks s into lines of at most width units, a wide character
// counting two.
func wrapLines(s string, width int) []string {
	if s == "" {
		return nil
	}
	return strings.Split(wrapCells(s, 0, width), "\n")
}

func (h *HTML) tableRow(c *decode.Connection) htmlConnRow {
	tx := h.tx
	row := htmlConnRow{
		id: c.ID, client: addrText(c.Client), server: addrText(c.Server),
		opened:  tx.m(msgID("sum.handshake." + c.Handshake().String())),
		packets: c.Packets, c2s: c.Bytes[decode.Client], s2c: c.Bytes[decode.Server],
		connState: c.ConnState(), history: c.History(),
	}
	switch k := c.CloseKind(); k {
	case decode.Reset:
		row.closed = tx.m("sum.close.reset", tx.sides(c.RSTFrom))
	case decode.HalfClosed:
		row.closed = tx.m("sum.close.half-closed", tx.sides(c.FirstFIN))
	default:
		row.closed = tx.closeLabel(k.String())
	}
	if c.HasIRTT {
		row.irtt = duration(c.IRTT)
	}
	return row
}

// Summary writes the summary table and the totals, ends the page and
// flushes.
func (h *HTML) Summary(s Summary) error {
	h.start()
	tx := h.tx
	h.writeLanes()
	if len(tx.dgrams) > 0 || len(tx.udpCalls) > 0 {
		dg := h.textOf(tx.writeDatagrams)
		tx.dgrams, tx.udpCalls = nil, nil
		title, body, _ := strings.Cut(strings.TrimRight(dg, "\n"), "\n")
		h.printf("<section id=\"datagrams\">\n<h2>%s</h2>\n<pre class=\"connsum\">%s</pre>\n</section>\n", esc(title), esc(body))
	}
	if len(tx.loose) > 0 {
		// The text report lists them in its summary; here they get a
		// section of their own, and the summary is left the totals.
		loose := h.textOf(tx.writeLooseCalls)
		tx.loose = nil
		title, body, _ := strings.Cut(strings.TrimRight(loose, "\n"), "\n")
		h.printf("<section id=\"loose\">\n<h2>%s</h2>\n<pre class=\"connsum\">%s</pre>\n</section>\n", esc(title), esc(body))
	}
	h.printf("<section id=\"summary\">\n<h2>%s</h2>\n", esc(tx.m("total.header")))
	if len(h.table) > 0 {
		h.printf("<table class=\"sum\">\n<tr>")
		for _, id := range []msgID{"html.col.conn", "side.client", "side.server", "html.col.opened", "html.col.closed",
			"html.col.packets", "html.col.c2s", "html.col.s2c", "html.col.irtt", "html.col.zeek"} {
			h.printf("<th>%s</th>", esc(h.m(id)))
		}
		h.printf("</tr>\n")
		for _, r := range h.table {
			switch {
			case r.drawnAs == 0:
				h.printf("<tr><td><a href=\"#conn-%d\">#%d</a></td>", r.id, r.id)
			case r.drawnAs > 0:
				h.printf("<tr><td>#%d (<a href=\"#conn-%d\">%s</a>)</td>", r.id, r.drawnAs, esc(h.m("html.same", r.drawnAs)))
			default:
				h.printf("<tr><td>#%d</td>", r.id)
			}
			h.printf("<td>%s</td><td>%s</td><td>%s</td><td>%s</td>"+
				"<td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%d</td><td class=\"n\">%s</td><td>%s %s</td></tr>\n",
				esc(r.client), esc(r.server), esc(r.opened), esc(r.closed),
				r.packets, r.c2s, r.s2c, esc(r.irtt), esc(r.connState), esc(r.history))
		}
		h.printf("</table>\n")
		if h.more > 0 {
			h.printf("<p class=\"note\">%s</p>\n", esc(h.m("html.table.omitted", h.more)))
		}
		if h.notDrawn > 0 {
			h.printf("<p class=\"note\">%s</p>\n", esc(h.m("html.explain.none", h.notDrawn)))
		}
		if h.sameShape+h.overCap > 0 {
			h.printf("<p class=\"note\">%s</p>\n", esc(h.m("html.undrawn", h.sameShape+h.overCap, h.sameShape, h.overCap, maxSections)))
		}
	}
	var err error
	totals := h.textOf(func() { err = tx.Summary(s) })
	h.printf("<div class=\"totals\">")
	// Text writes its totals as indented lines, wrapped at 100 columns:
	// drop the heading (the <h2> above says it) and join the wraps.
	var para []string
	flush := func() {
		if len(para) > 0 {
			h.printf("<p>%s</p>", esc(strings.Join(para, " ")))
			para = para[:0]
		}
	}
	for i, line := range strings.Split(strings.TrimRight(totals, "\n"), "\n") {
		switch {
		case i == 0:
			continue
		case strings.HasPrefix(line, "    "):
			para = append(para, strings.TrimSpace(line))
		default:
			flush()
			para = append(para, strings.TrimSpace(line))
		}
	}
	flush()
	h.printf("</div>\n</section>\n</body>\n</html>\n")
	if ferr := h.w.Flush(); err == nil {
		err = ferr
	}
	return err
}

// Lane view geometry: one row per connection, time across.
const (
	laneLabelW  = 150
	laneRowH    = 22
	lanePlotW   = svgW - laneLabelW - 20
	maxSVGLanes = 40
)

// writeLanes draws each group of connections that overlap in time as
// lanes on one time axis: a bar for each connection's life, a tick for
// each segment, coloured by kind, with its label on hover.
func (h *HTML) writeLanes() {
	if h.lanes.full {
		h.printf("<p class=\"note\">%s</p>\n", esc(h.m("diagram.lanes.omitted", maxLaneConns, maxLaneEvents)))
		return
	}
	for _, g := range h.lanes.overlapGroups() {
		for len(g) > 1 {
			n := min(len(g), maxSVGLanes)
			h.writeLaneChunk(g[:n])
			g = g[n:]
		}
	}
}

func (h *HTML) writeLaneChunk(g []laneConn) {
	ids := make([]string, len(g))
	start, end := g[0].start, g[0].end
	for i := range g {
		ids[i] = "#" + strconv.Itoa(g[i].id)
		if g[i].end.After(end) {
			end = g[i].end
		}
	}
	span := end.Sub(start)
	if span <= 0 {
		span = time.Microsecond
	}
	x := func(t time.Time) float64 {
		return laneLabelW + float64(t.Sub(start))/float64(span)*lanePlotW
	}
	height := 30 + laneRowH*len(g)
	h.printf("<section class=\"lanes\">\n<p class=\"note\">%s</p>\n", esc(h.m("html.lanes", strings.Join(ids, ", "))))
	var b strings.Builder
	fmt.Fprintf(&b, "<svg class=\"seq lanes\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\">\n", svgW, height, svgW, height)
	fmt.Fprintf(&b, "<text class=\"t\" x=\"%d\" y=\"14\">+0</text><text class=\"t\" x=\"%d\" y=\"14\" text-anchor=\"end\">%s</text>\n",
		laneLabelW, laneLabelW+lanePlotW, esc(offset(span)))
	for i := range g {
		lc := &g[i]
		y := 24 + laneRowH*i
		fmt.Fprintf(&b, "<g class=\"row\"><rect class=\"hl\" x=\"0\" y=\"%d\" width=\"%d\" height=\"%d\"/>", y, svgW, laneRowH)
		fmt.Fprintf(&b, "<text class=\"addr\" x=\"4\" y=\"%d\"><a href=\"#conn-%d\">%s</a> %s</text>",
			y+15, lc.id, esc(ids[i]), esc(addrText(lc.client)))
		fmt.Fprintf(&b, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"6\" rx=\"3\" fill=\"#d0d7de\"/>",
			x(lc.start), y+8, max(x(lc.end)-x(lc.start), 2))
		for j := range lc.events {
			ev := &lc.events[j]
			dir := "→"
			if ev.from == decode.Server && !lc.self {
				dir = "←"
			}
			kind := flagsKind(ev.flags, ev.len)
			fmt.Fprintf(&b, "<g class=\"arrow %s\"><rect x=\"%.1f\" y=\"%d\" width=\"3\" height=\"16\" fill=\"currentColor\"><title>%s %s %s len=%d</title></rect></g>",
				kind, x(ev.at)-1.5, y+3, esc(strings.TrimPrefix(offset(ev.at.Sub(start)), "+")), dir, ev.flags, ev.len)
		}
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	h.printf("%s</section>\n", b.String())
}
