package hostilecap

import (
	"encoding/binary"
	"fmt"
	"io"
)

// ExtremeTimestamps writes a pcapng file whose one interface has the given
// if_tsoffset (seconds) and a resolution of one second, and whose packets
// — a handshake and a FIN exchange, Client to Server — carry timestamps
// counted from ts. capture.PcapngWriter writes no if_tsoffset, so the
// blocks are laid out here.
func ExtremeTimestamps(out io.Writer, offset int64, ts uint64) error {
	le := binary.LittleEndian
	var b []byte
	block := func(btype uint32, body []byte) {
		n := 12 + len(body)
		b = le.AppendUint32(b, btype)
		b = le.AppendUint32(b, uint32(n))
		b = append(b, body...)
		b = le.AppendUint32(b, uint32(n))
	}
	// Section header: byte-order magic, version 1.0, length unknown.
	shb := le.AppendUint32(nil, 0x1A2B3C4D)
	shb = le.AppendUint16(shb, 1)
	shb = le.AppendUint16(shb, 0)
	shb = le.AppendUint64(shb, ^uint64(0))
	block(0x0A0D0D0A, shb)
	// Interface: LINKTYPE_RAW (101), if_tsresol 0 (seconds), if_tsoffset.
	idb := le.AppendUint16(nil, 101)
	idb = le.AppendUint16(idb, 0)
	idb = le.AppendUint32(idb, 0)
	idb = le.AppendUint16(idb, 9) // if_tsresol
	idb = le.AppendUint16(idb, 1)
	idb = append(idb, 0, 0, 0, 0)
	idb = le.AppendUint16(idb, 14) // if_tsoffset
	idb = le.AppendUint16(idb, 8)
	idb = le.AppendUint64(idb, uint64(offset))
	idb = append(idb, 0, 0, 0, 0) // opt_endofopt
	block(1, idb)
	// The frames of a handshake and a close, re-timed below.
	var fw Writer
	segs := []struct {
		fromClient bool
		flags      uint8
		seq, ack   uint32
	}{
		{true, SYN, 1000, 0},
		{false, SYN | ACK, 5000, 1001},
		{true, ACK, 1001, 5001},
		{true, FIN | ACK, 1001, 5001},
		{false, FIN | ACK, 5001, 1002},
		{true, ACK, 1002, 5002},
	}
	var frames [][]byte
	for _, s := range segs {
		src, dst := Client, Server
		if !s.fromClient {
			src, dst = Server, Client
		}
		f, err := fw.frameBytes(src, dst, s.flags, s.seq, s.ack, nil)
		if err != nil {
			return err
		}
		frames = append(frames, append([]byte(nil), f...))
	}
	for i, f := range frames {
		t := ts + uint64(i)
		epb := le.AppendUint32(nil, 0)
		epb = le.AppendUint32(epb, uint32(t>>32))
		epb = le.AppendUint32(epb, uint32(t))
		epb = le.AppendUint32(epb, uint32(len(f)))
		epb = le.AppendUint32(epb, uint32(len(f)))
		epb = append(epb, f...)
		for len(epb)%4 != 0 {
			epb = append(epb, 0)
		}
		block(6, epb)
	}
	if _, err := out.Write(b); err != nil {
		return fmt.Errorf("hostilecap: %w", err)
	}
	return nil
}
