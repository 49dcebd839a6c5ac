package report

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
)

// UDP datagrams and ICMP messages have no connection to hang them on:
// the text report keeps them, with the calls of the UDP sockets that
// sent and received them, and writes them as one timeline of their own
// before the summary.

// maxDatagrams bounds the datagrams and UDP calls the text report keeps;
// past it they are counted, not shown.
const maxDatagrams = 10000

// dgramRec is what the report keeps of a datagram: the decoded fields,
// with the payload already turned into its preview (the packet's bytes
// are reused).
type dgramRec struct {
	d       decode.Datagram
	preview string
}

// udpSock identifies a UDP socket among the calls.
type udpSock struct {
	pid, fd int
	side    calls.Side
}

// Datagram implements decode.DatagramHandler.
func (t *Text) Datagram(d *decode.Datagram) {
	if len(t.dgrams)+len(t.udpCalls) >= maxDatagrams {
		t.dgramsOmitted++
		return
	}
	r := dgramRec{d: *d}
	r.d.Payload = nil
	if len(d.Payload) > 0 {
		r.preview = Preview(d.Payload, 40)
	}
	t.dgrams = append(t.dgrams, r)
}

// datagramCall keeps a call made on a UDP socket for the datagram
// timeline, and reports whether it did.
func (t *Text) datagramCall(ev *calls.Event) bool {
	id := udpSock{ev.PID, ev.FD, ev.Side}
	if ev.Call == calls.Socket && strings.Contains(ev.Detail, "SOCK_DGRAM") && ev.Errno == 0 {
		id.fd = ev.Result
		if t.udpSocks == nil {
			t.udpSocks = make(map[udpSock]bool)
		}
		if len(t.udpSocks) < maxDatagrams {
			t.udpSocks[id] = true
		}
	} else if !t.udpSocks[id] {
		return false
	}
	if ev.Call == calls.Close {
		delete(t.udpSocks, id)
	}
	if len(t.dgrams)+len(t.udpCalls) >= maxDatagrams {
		t.dgramsOmitted++
		return true
	}
	t.udpCalls = append(t.udpCalls, *ev)
	return true
}

// dgramEntry is a line of the datagram timeline: a datagram or a call.
type dgramEntry struct {
	at   time.Time
	dg   *dgramRec
	call *calls.Event
}

// writeDatagrams writes the datagram timeline.
func (t *Text) writeDatagrams() {
	if len(t.dgrams) == 0 && len(t.udpCalls) == 0 {
		return
	}
	es := make([]dgramEntry, 0, len(t.dgrams)+len(t.udpCalls))
	sides := map[netip.AddrPort]calls.Side{} // the side each UDP socket's address belongs to
	for i := range t.udpCalls {
		ev := &t.udpCalls[i]
		at := ev.Enter
		if (ev.Call == calls.RecvFrom || ev.Call == calls.Read) && !ev.Exit.IsZero() {
			// A receive waits for its datagram: it goes where it
			// returned, after the datagram it got.
			at = ev.Exit
		}
		es = append(es, dgramEntry{at: at, call: ev})
		if ev.Local.IsValid() && ev.Local.Port() != 0 && ev.Side != "" {
			sides[ev.Local] = ev.Side
		}
	}
	for i := range t.dgrams {
		es = append(es, dgramEntry{at: t.dgrams[i].d.Time, dg: &t.dgrams[i]})
	}
	slices.SortStableFunc(es, func(a, b dgramEntry) int { return a.at.Compare(b.at) })
	start := es[0].at
	if !t.origin.IsZero() && t.origin.Before(start) {
		start = t.origin
	}
	t.printf("%s\n", t.wrap(t.m("dgram.header"), 0))
	for _, e := range es {
		var who, head, why string
		if ev := e.call; ev != nil {
			who = t.callSideName(ev.Side)
			head = t.m("call.instant", callTitle(ev), callResult(ev), duration(ev.Duration()))
			why = t.udpCallWhy(ev)
		} else {
			who, head, why = t.datagramLine(e.dg, sides)
		}
		b := t.w.AvailableBuffer()
		b = append(b, "  "...)
		b = appendOffset(b, e.at.Sub(start))
		b = append(b, "  "...)
		b = appendPadded(b, who, 15)
		b = append(b, "  "...)
		b = appendWrapped(b, head, cells(string(b)), 14, t.width())
		if t.err == nil {
			_, t.err = t.w.Write(append(b, '\n'))
		}
		if why != "" {
			t.writeWrapped(why, 14)
		}
	}
	if t.dgramsOmitted > 0 {
		t.printf("  %s\n", t.m("dgram.omitted", t.dgramsOmitted))
	}
	t.printf("\n")
}

// writeConnICMP says, in a connection's summary, that ICMP errors
// answered its segments: a TCP SYN refused by a firewall is explained on
// its connection, not only in the datagram section.
func (t *Text) writeConnICMP(c *decode.Connection) {
	n, name, from := 0, "", netip.Addr{}
	for i := range t.dgrams {
		d := &t.dgrams[i].d
		if !d.Quoted || d.QuotedProtocol != decode.ProtoTCP {
			continue
		}
		if (d.QuotedSrc == c.Client && d.QuotedDst == c.Server) || (d.QuotedSrc == c.Server && d.QuotedDst == c.Client) {
			n++
			name, from = d.ICMPName(), d.Src.Addr()
		}
	}
	if n > 0 {
		t.printf("    %s\n", t.wrapRest(t.m("conn.icmp", n, name, from), 4))
	}
}

// callSideName is a call's side in the report's language.
func (t *Text) callSideName(s calls.Side) string {
	switch s {
	case calls.Server:
		return t.m("side.server")
	case calls.Client:
		return t.m("side.client")
	}
	return string(s)
}

// datagramLine is a datagram's column label, its line and its
// explanation.
func (t *Text) datagramLine(r *dgramRec, sides map[netip.AddrPort]calls.Side) (who, head, why string) {
	d := &r.d
	from, to := sides[d.Src], sides[d.Dst]
	if d.Quoted {
		// An ICMP error goes back to the sender of what it quotes.
		to = sides[d.QuotedSrc]
		if from == "" {
			from = sides[d.QuotedDst]
		}
	}
	switch {
	case from != "" && to != "" && from != to:
		who = t.callSideName(from) + " → " + t.callSideName(to)
	case from != "":
		who = t.callSideName(from) + " →"
	case to != "":
		who = "→ " + t.callSideName(to)
	}
	switch d.Protocol {
	case decode.ProtoUDP:
		head = fmt.Sprintf("UDP      %s → %s len=%d", d.Src, d.Dst, d.Len)
		if r.preview != "" {
			head += "  " + t.m("payload", r.preview)
		}
		why = t.m("dgram.udp", t.sideOr(from, d.Src), d.Len)
	default:
		proto := "ICMP"
		if d.Protocol == decode.ProtoICMPv6 {
			proto = "ICMPv6"
		}
		head = fmt.Sprintf("%-8s %s → %s %s", proto, d.Src.Addr(), d.Dst.Addr(), d.ICMPName())
		if d.Quoted {
			head += " " + t.m("dgram.quoting", d.QuotedProtocol.String(), d.QuotedSrc, d.QuotedDst)
		}
		switch {
		case d.PortUnreachable() && d.QuotedProtocol == decode.ProtoUDP:
			why = t.m("dgram.icmp.port", d.QuotedDst.Port(), d.ICMPName())
		case d.Quoted && d.QuotedProtocol == decode.ProtoTCP:
			why = t.m("dgram.icmp.tcp", d.ICMPName(), d.QuotedSrc, d.QuotedDst)
		case d.Quoted:
			why = t.m("dgram.icmp.error", d.ICMPName())
		}
	}
	return who, head, why
}

// sideOr names a side, or gives the address when the side is not known.
func (t *Text) sideOr(s calls.Side, a netip.AddrPort) string {
	if s != "" {
		return t.callSideName(s)
	}
	return a.String()
}

// udpCallWhy explains a call on a UDP socket.
func (t *Text) udpCallWhy(ev *calls.Event) string {
	switch ev.Call {
	case calls.Socket:
		return t.m("call.socket.udp", ev.Result)
	case calls.Bind:
		return t.bindWhy(ev)
	case calls.SendTo:
		if ev.Errno != 0 {
			return t.m("call.fail", string(ev.Call), errnoName(ev.Errno))
		}
		return t.m("call.sendto", ev.Result, ev.Remote)
	case calls.RecvFrom:
		if ev.Errno != 0 {
			return t.m("call.fail", string(ev.Call), errnoName(ev.Errno))
		}
		return t.m("call.recvfrom", ev.Result, ev.Remote)
	case calls.Connect:
		if ev.Errno != 0 {
			return t.m("call.fail", string(ev.Call), errnoName(ev.Errno))
		}
		return t.m("call.connect.udp", ev.Remote)
	case calls.Write:
		if ev.Errno != 0 {
			return t.m("call.fail", string(ev.Call), errnoName(ev.Errno))
		}
		return t.m("call.write.udp", ev.Result)
	case calls.Read:
		switch {
		case ev.Errno == syscall.ECONNREFUSED:
			return t.m("call.read.udp.refused")
		case ev.Errno != 0:
			return t.m("call.fail", string(ev.Call), errnoName(ev.Errno))
		}
		return t.m("call.recvfrom", ev.Result, ev.Remote)
	case calls.Close:
		return t.m("call.close.udp")
	}
	return ""
}
