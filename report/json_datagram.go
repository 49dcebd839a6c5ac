package report

import (
	"github.com/socktrace/socktrace/decode"
)

// A datagram line, for a UDP datagram or an ICMP message (a compatible
// extension of the schema: lines of a new type, with a "protocol" field;
// segment lines are TCP and say nothing of it):
//
//	{"type":"datagram","protocol":"udp","time":T,"src":"127.0.0.1:5000",
//	 "dst":"127.0.0.1:6000","len":15,"payload":"first datagram\n"}
//	{"type":"datagram","protocol":"icmp","time":T,"src":"127.0.0.1",
//	 "dst":"127.0.0.1","icmp_type":3,"icmp_code":3,"icmp":"port unreachable",
//	 "quoted":{"protocol":"udp","src":"127.0.0.1:5000","dst":"127.0.0.1:6001"}}
//
// payload is a preview of the captured UDP payload (printable, cut at 40
// bytes), absent when empty.

// dgramLine is a datagram as its JSON line needs it, copied out of the
// tracker's reused Datagram.
type dgramLine struct {
	d       decode.Datagram
	preview string
}

func makeDgramLine(d *decode.Datagram) dgramLine {
	r := dgramLine{d: *d}
	r.d.Payload = nil
	if len(d.Payload) > 0 {
		r.preview = Preview(d.Payload, 40)
	}
	return r
}

// Datagram implements decode.DatagramHandler.
func (j *JSON) Datagram(d *decode.Datagram) {
	r := makeDgramLine(d)
	j.writeDatagram(&r)
}

func (j *JSON) writeDatagram(r *dgramLine) {
	d := &r.d
	b := append(j.line(), `{"type":"datagram","protocol":"`...)
	b = append(b, d.Protocol.String()...)
	b = append(b, `","time":`...)
	b = j.tc.appendTime(b, d.Time)
	b = append(b, `,"src":`...)
	if d.Protocol == decode.ProtoUDP {
		b = appendString(b, d.Src.String())
		b = append(b, `,"dst":`...)
		b = appendString(b, d.Dst.String())
		b = append(b, `,"len":`...)
		b = appendInt(b, int64(d.Len))
		if r.preview != "" {
			b = append(b, `,"payload":`...)
			b = appendString(b, r.preview)
		}
	} else {
		b = appendString(b, d.Src.Addr().String())
		b = append(b, `,"dst":`...)
		b = appendString(b, d.Dst.Addr().String())
		b = append(b, `,"icmp_type":`...)
		b = appendInt(b, int64(d.ICMPType))
		b = append(b, `,"icmp_code":`...)
		b = appendInt(b, int64(d.ICMPCode))
		b = append(b, `,"icmp":`...)
		b = appendString(b, d.ICMPName())
		if d.Quoted {
			b = append(b, `,"quoted":{"protocol":"`...)
			b = append(b, d.QuotedProtocol.String()...)
			b = append(b, `","src":`...)
			b = appendString(b, d.QuotedSrc.String())
			b = append(b, `,"dst":`...)
			b = appendString(b, d.QuotedDst.String())
			b = append(b, '}')
		}
	}
	j.flushLine(append(b, '}'))
}

// Datagram implements decode.DatagramHandler.
func (a *BatchJSON) Datagram(d *decode.Datagram) {
	b := &a.b
	b.dgrams = append(b.dgrams, makeDgramLine(d))
	a.add(itemDatagram, len(b.dgrams)-1)
}
