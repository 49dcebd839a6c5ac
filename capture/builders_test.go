package capture

import (
	"bytes"
	"encoding/binary"
)

// Builders of small capture files byte by byte, so that every magic number,
// byte order and block kind can be tested without a capture tool.

func order(big bool) binary.ByteOrder {
	if big {
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// pcapBuilder writes a pcap file.
type pcapBuilder struct {
	big, nano, modified bool
	buf                 bytes.Buffer
}

func newPcap(big, nano, modified bool, linkType, snaplen uint32) *pcapBuilder {
	b := &pcapBuilder{big: big, nano: nano, modified: modified}
	o := order(big)
	magic := uint32(0xa1b2c3d4)
	switch {
	case nano:
		magic = 0xa1b23c4d
	case modified:
		magic = 0xa1b2cd34
	}
	h := make([]byte, 24)
	o.PutUint32(h[0:], magic)
	o.PutUint16(h[4:], 2)
	o.PutUint16(h[6:], 4)
	o.PutUint32(h[16:], snaplen)
	o.PutUint32(h[20:], linkType)
	b.buf.Write(h)
	return b
}

// packet appends a record; frac is µs or ns as the file says.
func (b *pcapBuilder) packet(sec, frac uint32, data []byte, length uint32) *pcapBuilder {
	return b.record(sec, frac, uint32(len(data)), length, data)
}

// record appends a record whose captured length field may lie.
func (b *pcapBuilder) record(sec, frac, caplen, length uint32, data []byte) *pcapBuilder {
	o := order(b.big)
	n := 16
	if b.modified {
		n = 24
	}
	h := make([]byte, n)
	o.PutUint32(h[0:], sec)
	o.PutUint32(h[4:], frac)
	o.PutUint32(h[8:], caplen)
	o.PutUint32(h[12:], length)
	b.buf.Write(h)
	b.buf.Write(data)
	return b
}

func (b *pcapBuilder) bytes() []byte { return bytes.Clone(b.buf.Bytes()) }

// ngBuilder writes a pcapng file; the byte order can change per section.
type ngBuilder struct {
	big bool
	buf bytes.Buffer
}

type ngOpt struct {
	code uint16
	val  []byte
}

func strOpt(code uint16, s string) ngOpt { return ngOpt{code, []byte(s)} }

func (b *ngBuilder) o() binary.ByteOrder { return order(b.big) }

func (b *ngBuilder) u64Opt(code uint16, v uint64) ngOpt {
	val := make([]byte, 8)
	b.o().PutUint64(val, v)
	return ngOpt{code, val}
}

// tsOpt encodes a timestamp option as packet blocks do: upper 32 bits
// first, then lower, each in the section's byte order.
func (b *ngBuilder) tsOpt(code uint16, v uint64) ngOpt {
	val := make([]byte, 8)
	b.o().PutUint32(val, uint32(v>>32))
	b.o().PutUint32(val[4:], uint32(v))
	return ngOpt{code, val}
}

func (b *ngBuilder) encodeOpts(opts []ngOpt) []byte {
	if len(opts) == 0 {
		return nil
	}
	var out []byte
	for _, op := range opts {
		h := make([]byte, 4)
		b.o().PutUint16(h, op.code)
		b.o().PutUint16(h[2:], uint16(len(op.val)))
		out = append(out, h...)
		out = append(out, op.val...)
		out = append(out, make([]byte, (4-len(op.val)%4)%4)...)
	}
	return append(out, 0, 0, 0, 0)
}

// block appends a block with the given body (padded to 4 bytes).
func (b *ngBuilder) block(btype uint32, body []byte) *ngBuilder {
	body = append(body, make([]byte, (4-len(body)%4)%4)...)
	n := uint32(12 + len(body))
	h := make([]byte, 8)
	b.o().PutUint32(h, btype)
	b.o().PutUint32(h[4:], n)
	b.buf.Write(h)
	b.buf.Write(body)
	t := make([]byte, 4)
	b.o().PutUint32(t, n)
	b.buf.Write(t)
	return b
}

func (b *ngBuilder) shb(big bool, opts ...ngOpt) *ngBuilder {
	b.big = big
	body := make([]byte, 16)
	b.o().PutUint32(body, ngByteOrderMagic)
	b.o().PutUint16(body[4:], 1)
	b.o().PutUint64(body[8:], ^uint64(0))
	return b.block(ngBlockSHB, append(body, b.encodeOpts(opts)...))
}

func (b *ngBuilder) idb(linkType uint16, snaplen uint32, opts ...ngOpt) *ngBuilder {
	body := make([]byte, 8)
	b.o().PutUint16(body, linkType)
	b.o().PutUint32(body[4:], snaplen)
	return b.block(ngBlockIDB, append(body, b.encodeOpts(opts)...))
}

func (b *ngBuilder) epb(iface uint32, ts uint64, data []byte, length uint32, opts ...ngOpt) *ngBuilder {
	body := make([]byte, 20)
	b.o().PutUint32(body, iface)
	b.o().PutUint32(body[4:], uint32(ts>>32))
	b.o().PutUint32(body[8:], uint32(ts))
	b.o().PutUint32(body[12:], uint32(len(data)))
	b.o().PutUint32(body[16:], length)
	body = append(body, data...)
	body = append(body, make([]byte, (4-len(data)%4)%4)...)
	return b.block(ngBlockEPB, append(body, b.encodeOpts(opts)...))
}

func (b *ngBuilder) pb(iface uint16, ts uint64, data []byte, length uint32, opts ...ngOpt) *ngBuilder {
	body := make([]byte, 20)
	b.o().PutUint16(body, iface)
	b.o().PutUint32(body[4:], uint32(ts>>32))
	b.o().PutUint32(body[8:], uint32(ts))
	b.o().PutUint32(body[12:], uint32(len(data)))
	b.o().PutUint32(body[16:], length)
	body = append(body, data...)
	body = append(body, make([]byte, (4-len(data)%4)%4)...)
	return b.block(ngBlockPB, append(body, b.encodeOpts(opts)...))
}

func (b *ngBuilder) spb(data []byte, length uint32) *ngBuilder {
	body := make([]byte, 4)
	b.o().PutUint32(body, length)
	return b.block(ngBlockSPB, append(body, data...))
}

func (b *ngBuilder) isb(iface uint32, ts uint64, opts ...ngOpt) *ngBuilder {
	body := make([]byte, 12)
	b.o().PutUint32(body, iface)
	b.o().PutUint32(body[4:], uint32(ts>>32))
	b.o().PutUint32(body[8:], uint32(ts))
	return b.block(ngBlockISB, append(body, b.encodeOpts(opts)...))
}

func (b *ngBuilder) bytes() []byte { return bytes.Clone(b.buf.Bytes()) }
