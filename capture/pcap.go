package capture

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"time"
)

// The libpcap savefile format: a 24-byte file header, then for each packet a
// 16-byte record header and the captured bytes. The magic number says the
// byte order and whether the fraction of a second is in microseconds or
// nanoseconds; 0xa1b2cd34 is the "modified" format of some old Linux
// patches, whose record header carries 8 more bytes (ifindex, protocol,
// packet type), which are skipped.
const pcapFileHeaderLen = 24

func (r *FileReader) initPcap(magic uint32) error {
	r.format = FormatPcap
	r.pcapHdrLen = 16
	switch magic {
	case 0xa1b2c3d4:
	case 0xd4c3b2a1:
		r.pcapBig = true
	case 0xa1b23c4d:
		r.pcapNano = true
	case 0x4d3cb2a1:
		r.pcapBig, r.pcapNano = true, true
	case 0xa1b2cd34:
		r.pcapHdrLen = 24
	case 0x34cdb2a1:
		r.pcapBig, r.pcapHdrLen = true, 24
	}
	if err := r.fill(pcapFileHeaderLen); err != nil {
		return r.readErr(err, "the pcap file header", pcapFileHeaderLen)
	}
	h := r.buf[r.start : r.start+pcapFileHeaderLen]
	major, minor := u16(r.pcapBig, h[4:]), u16(r.pcapBig, h[6:])
	if major != 2 {
		// Version 2.x is the only one libpcap has ever written (2.4
		// since 1998); anything else is not a file we know how to read.
		return fmt.Errorf("unsupported pcap version %d.%d", major, minor)
	}
	r.pcapSnapLen = u32(r.pcapBig, h[16:])
	r.pcapLinkType = linkType(u32(r.pcapBig, h[20:]))
	r.start += pcapFileHeaderLen
	return nil
}

func (r *FileReader) readPcap(p *Packet) error {
	hl := r.pcapHdrLen
	if r.end-r.start < hl {
		if err := r.fill(hl); err != nil {
			if err == io.EOF {
				return io.EOF
			}
			return r.readErr(err, "the record header of packet "+strconv.FormatInt(r.packets+1, 10), int64(hl))
		}
	}
	h := r.buf[r.start : r.start+16]
	var sec, frac, caplen, length uint32
	if r.pcapBig {
		sec = binary.BigEndian.Uint32(h[0:])
		frac = binary.BigEndian.Uint32(h[4:])
		caplen = binary.BigEndian.Uint32(h[8:])
		length = binary.BigEndian.Uint32(h[12:])
	} else {
		sec = binary.LittleEndian.Uint32(h[0:])
		frac = binary.LittleEndian.Uint32(h[4:])
		caplen = binary.LittleEndian.Uint32(h[8:])
		length = binary.LittleEndian.Uint32(h[12:])
	}
	if caplen > MaxSnapLen {
		// Only lengths no capture can have are refused. A captured
		// length above the file's snap length is accepted, as libpcap
		// and Wireshark accept it: real files have it (tcpdump's own
		// test captures, several hundred bytes over; a 65549-byte frame
		// in a file declaring 65535), and the bytes are there.
		return r.corrupt("packet %d has a captured length of %d bytes, more than any capture has (limit %d)",
			r.packets+1, caplen, MaxSnapLen)
	}
	total := hl + int(caplen)
	if r.end-r.start < total {
		if err := r.fill(total); err != nil {
			return r.readErr(err, "packet "+strconv.FormatInt(r.packets+1, 10), int64(total))
		}
	}
	p.Data = r.buf[r.start+hl : r.start+total : r.start+total]
	r.start += total
	nsec := int64(frac)
	if !r.pcapNano {
		nsec *= 1000
	}
	p.Timestamp = time.Unix(int64(sec), nsec)
	p.LinkType = r.pcapLinkType
	p.Length = int(length)
	if p.Length < int(caplen) {
		// A wire length below the captured length is a writer's bug;
		// the bytes are there, so count them.
		p.Length = int(caplen)
	}
	p.InterfaceIndex = 0
	p.Comments = p.Comments[:0]
	return nil
}
