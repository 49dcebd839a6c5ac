// Package craftcap writes small captures, packet by packet, for the
// classes of issue 10 that real sockets on one machine cannot produce on
// demand: a SYN-ACK lost before the capture point, segments reordered or
// lost on the way, forged RSTs, IP fragments, a capture that sees one
// direction or starts midstream, and the odd packets Zeek's states are
// defined on. Each capture is a pcap of raw IPv4/IPv6 packets with correct
// checksums, so tcpdump and tshark read it as they would a real one; the
// same build always writes the same bytes.
package craftcap

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// TCP flags.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
)

// Packet is one packet of a crafted capture.
type Packet struct {
	At       time.Duration // from the capture's start
	Src, Dst netip.AddrPort
	Flags    uint8
	Seq, Ack uint32
	Len      int    // payload bytes (filled with a repeating pattern)
	Options  []byte // TCP options, padded to 4 bytes
	// Fragments, when > 1, splits the IP payload into that many IP
	// fragments of equal size (multiples of 8 bytes).
	Fragments int
	IPID      uint16
}

// Capture is a named list of packets and what it shows.
type Capture struct {
	Name    string // file name without .pcap
	Shows   string
	Packets []Packet
}

var start = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// Write writes c as a pcap file (microsecond timestamps, LINKTYPE_RAW).
func Write(w io.Writer, c Capture) error {
	bw := bufio.NewWriter(w)
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], 101) // LINKTYPE_RAW
	bw.Write(hdr)
	for _, p := range c.Packets {
		for _, frame := range frames(p) {
			t := start.Add(p.At)
			rec := make([]byte, 16)
			binary.LittleEndian.PutUint32(rec[0:], uint32(t.Unix()))
			binary.LittleEndian.PutUint32(rec[4:], uint32(t.Nanosecond()/1000))
			binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
			binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
			bw.Write(rec)
			bw.Write(frame)
		}
	}
	return bw.Flush()
}

// WriteAll writes every capture of All into dir as NAME.pcap.
func WriteAll(dir string) error {
	for _, c := range All() {
		f, err := os.Create(filepath.Join(dir, c.Name+".pcap"))
		if err != nil {
			return err
		}
		if err := Write(f, c); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// segment builds the TCP header and payload.
func segment(p Packet) []byte {
	opts := append([]byte(nil), p.Options...)
	for len(opts)%4 != 0 {
		opts = append(opts, 0)
	}
	h := make([]byte, 20+len(opts)+p.Len)
	binary.BigEndian.PutUint16(h[0:], p.Src.Port())
	binary.BigEndian.PutUint16(h[2:], p.Dst.Port())
	binary.BigEndian.PutUint32(h[4:], p.Seq)
	if p.Flags&ACK != 0 {
		binary.BigEndian.PutUint32(h[8:], p.Ack)
	}
	h[12] = byte((20+len(opts))/4) << 4
	h[13] = p.Flags
	binary.BigEndian.PutUint16(h[14:], 64240)
	copy(h[20:], opts)
	for i := 20 + len(opts); i < len(h); i++ {
		h[i] = 'a' + byte(i%26)
	}
	// Checksum over the pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1).
	src, dst := p.Src.Addr().AsSlice(), p.Dst.Addr().AsSlice()
	var s uint32
	s = sum(src, s)
	s = sum(dst, s)
	s += 6 + uint32(len(h))
	s = sum(h, s)
	binary.BigEndian.PutUint16(h[16:], ^fold(s))
	return h
}

// frames returns the IP packet, or its fragments.
func frames(p Packet) [][]byte {
	payload := segment(p)
	n := max(p.Fragments, 1)
	piece := (len(payload)/n + 7) &^ 7
	var out [][]byte
	for off := 0; off < len(payload); off += piece {
		end := min(off+piece, len(payload))
		more := end < len(payload)
		if n == 1 {
			more = false
		}
		if p.Src.Addr().Is4() {
			out = append(out, ipv4(p, payload[off:end], off, more, n > 1))
		} else {
			out = append(out, ipv6(p, payload[off:end], off, more, n > 1))
		}
	}
	return out
}

func ipv4(p Packet, data []byte, off int, more, fragmented bool) []byte {
	h := make([]byte, 20, 20+len(data))
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(data)))
	binary.BigEndian.PutUint16(h[4:], p.IPID)
	field := uint16(off / 8)
	if more {
		field |= 0x2000
	}
	if !fragmented {
		field = 0x4000 // DF
	}
	binary.BigEndian.PutUint16(h[6:], field)
	h[8] = 64
	h[9] = 6
	s4, d4 := p.Src.Addr().As4(), p.Dst.Addr().As4()
	copy(h[12:], s4[:])
	copy(h[16:], d4[:])
	binary.BigEndian.PutUint16(h[10:], ^fold(sum(h, 0)))
	return append(h, data...)
}

func ipv6(p Packet, data []byte, off int, more, fragmented bool) []byte {
	var ext []byte
	next := byte(6)
	if fragmented {
		ext = make([]byte, 8)
		ext[0] = 6
		field := uint16(off)
		if more {
			field |= 1
		}
		binary.BigEndian.PutUint16(ext[2:], field)
		binary.BigEndian.PutUint32(ext[4:], uint32(p.IPID)+0x10000)
		next = 44
	}
	h := make([]byte, 40, 40+len(ext)+len(data))
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(ext)+len(data)))
	h[6] = next
	h[7] = 64
	s6, d6 := p.Src.Addr().As16(), p.Dst.Addr().As16()
	copy(h[8:], s6[:])
	copy(h[24:], d6[:])
	return append(append(h, ext...), data...)
}

func sum(b []byte, s uint32) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
