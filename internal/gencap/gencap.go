// Package gencap writes large synthetic captures for benchmarks: many short
// TCP connections on 127.0.0.1 whose client ports are reused over and over,
// as they are on a busy loopback, with a new random initial sequence number
// each time. The output is a pcap file that tcpdump, tshark and socktrace
// read; the same Options (seed included) always give the same bytes.
package gencap

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// PacketsPerConnection is how many packets each connection has:
//
//	client → server  SYN
//	server → client  SYN-ACK
//	client → server  ACK           (handshake complete)
//	client → server  PSH-ACK       request data
//	server → client  PSH-ACK       reply data, which also ACKs the request
//	client → server  ACK           of the reply
//	client → server  FIN-ACK       the client closes first
//	server → client  ACK           of the client's FIN
//	server → client  FIN-ACK       the server closes
//	client → server  ACK           final ACK; the client enters TIME_WAIT
//
// The server's ACK of the request rides on the reply, as it does on
// loopback when the reply comes before the delayed-ACK timer.
const PacketsPerConnection = 10

// Options says what to generate. The zero value of each field picks the
// default written next to it.
type Options struct {
	// Connections is how many connections to write (default 1).
	Connections int
	// LinkType is layers.LinkTypeEthernet (default) or layers.LinkTypeRaw.
	LinkType layers.LinkType
	// Seed seeds the initial sequence numbers and timing jitter.
	Seed uint64
	// Start is the time of the first packet (default 2026-01-01 UTC).
	Start time.Time
	// ClientPorts is how many client ports are cycled through, starting
	// at FirstClientPort (default 1000): with more connections than
	// ports, every port is reused.
	ClientPorts int
	// FirstClientPort is the lowest client port (default 32768, the start
	// of Linux's ephemeral range).
	FirstClientPort uint16
	// ServerPort is the server's port (default 8080).
	ServerPort uint16
	// RequestLen and ReplyLen are the payload sizes (default 64 and 128).
	RequestLen, ReplyLen int
	// Interleave is how many connections are in flight at once: their
	// packets alternate, each keeping its own order (default 1: one
	// connection after another). At most ClientPorts × ClientIPs.
	Interleave int
	// ClientIPs is how many client addresses the ports are cycled
	// through, 127.0.0.1 upwards (default 1): with more than one, more
	// than 65535 connections can be open at once, as at a busy server.
	ClientIPs int
}

func (o *Options) setDefaults() error {
	if o.Connections == 0 {
		o.Connections = 1
	}
	if o.LinkType == 0 {
		o.LinkType = layers.LinkTypeEthernet
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.ClientPorts == 0 {
		o.ClientPorts = 1000
	}
	if o.FirstClientPort == 0 {
		o.FirstClientPort = 32768
	}
	if o.ServerPort == 0 {
		o.ServerPort = 8080
	}
	if o.RequestLen == 0 {
		o.RequestLen = 64
	}
	if o.ReplyLen == 0 {
		o.ReplyLen = 128
	}
	if o.Interleave == 0 {
		o.Interleave = 1
	}
	if o.ClientIPs == 0 {
		o.ClientIPs = 1
	}
	switch {
	case o.Connections < 0:
		return errors.New("gencap: negative Connections")
	case o.LinkType != layers.LinkTypeEthernet && o.LinkType != layers.LinkTypeRaw:
		return fmt.Errorf("gencap: link type %v not supported (Ethernet or Raw)", o.LinkType)
	case o.ClientPorts < 0 || int(o.FirstClientPort)+o.ClientPorts > 65536:
		return fmt.Errorf("gencap: %d client ports from %d do not fit below 65536", o.ClientPorts, o.FirstClientPort)
	case o.RequestLen < 0 || o.ReplyLen < 0 || o.RequestLen > 16384 || o.ReplyLen > 16384:
		return errors.New("gencap: RequestLen and ReplyLen must be between 0 and 16384")
	case o.ClientIPs < 0 || o.ClientIPs > 1<<16:
		return fmt.Errorf("gencap: ClientIPs %d must be between 1 and 65536", o.ClientIPs)
	case o.Interleave < 0 || o.Interleave > o.ClientPorts*o.ClientIPs:
		return fmt.Errorf("gencap: Interleave %d must be between 1 and ClientPorts × ClientIPs (%d)", o.Interleave, o.ClientPorts*o.ClientIPs)
	}
	return nil
}

// WriteFile writes a capture to the file at path, replacing it.
func WriteFile(path string, opts Options) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Write(f, opts); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Write writes a pcap file (microsecond timestamps, snap length 262144) of
// opts.Connections connections of PacketsPerConnection packets each to w.
func Write(w io.Writer, opts Options) error {
	if err := opts.setDefaults(); err != nil {
		return err
	}
	g := &gen{
		opts: opts,
		w:    bufio.NewWriterSize(w, 256<<10),
		rng:  rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed_50c7_7ace)),
		now:  opts.Start,
	}
	var hdr [24]byte
	le := binary.LittleEndian
	le.PutUint32(hdr[0:], 0xa1b2c3d4)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 262144)
	le.PutUint32(hdr[20:], uint32(opts.LinkType))
	g.w.Write(hdr[:])

	conns := make([]conn, opts.Interleave)
	port, ip := 0, 0
	for done := 0; done < opts.Connections; {
		k := min(opts.Interleave, opts.Connections-done)
		for i := range conns[:k] {
			conns[i] = g.newConn(opts.FirstClientPort+uint16(port), ip)
			if port = (port + 1) % opts.ClientPorts; port == 0 {
				ip = (ip + 1) % opts.ClientIPs
			}
		}
		for step := range PacketsPerConnection {
			for i := range conns[:k] {
				g.step(&conns[i], step)
			}
		}
		done += k
		// The gap between rounds of connections.
		g.now = g.now.Add(time.Duration(20+g.rng.IntN(80)) * time.Microsecond)
	}
	if g.err != nil {
		return g.err
	}
	return g.w.Flush()
}

type gen struct {
	opts Options
	w    *bufio.Writer
	rng  *rand.Rand
	now  time.Time
	ipID uint16
	buf  [14 + 20 + 40 + 16384]byte
	rec  [16]byte // a record header; in the struct so it does not escape per packet
	err  error
}

// conn is one connection's state: its ports and the next sequence number
// each side sends.
type conn struct {
	cport      uint16
	cip        [4]byte
	cseq, sseq uint32
}

func (g *gen) newConn(cport uint16, ip int) conn {
	return conn{cport: cport, cip: [4]byte{127, byte((ip + 1) >> 16), byte((ip + 1) >> 8), byte(ip + 1)}, cseq: g.rng.Uint32(), sseq: g.rng.Uint32()}
}

const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagPSH = 0x08
	flagACK = 0x10
)

// step writes packet number step (0-based, as PacketsPerConnection lists
// them) of connection c.
func (g *gen) step(c *conn, step int) {
	req, rep := uint32(g.opts.RequestLen), uint32(g.opts.ReplyLen)
	switch step {
	case 0:
		g.packet(c, true, flagSYN, c.cseq, 0, 0)
	case 1:
		g.packet(c, false, flagSYN|flagACK, c.sseq, c.cseq+1, 0)
	case 2:
		g.packet(c, true, flagACK, c.cseq+1, c.sseq+1, 0)
	case 3:
		g.packet(c, true, flagPSH|flagACK, c.cseq+1, c.sseq+1, req)
	case 4:
		g.packet(c, false, flagPSH|flagACK, c.sseq+1, c.cseq+1+req, rep)
	case 5:
		g.packet(c, true, flagACK, c.cseq+1+req, c.sseq+1+rep, 0)
	case 6:
		g.packet(c, true, flagFIN|flagACK, c.cseq+1+req, c.sseq+1+rep, 0)
	case 7:
		g.packet(c, false, flagACK, c.sseq+1+rep, c.cseq+2+req, 0)
	case 8:
		g.packet(c, false, flagFIN|flagACK, c.sseq+1+rep, c.cseq+2+req, 0)
	case 9:
		g.packet(c, true, flagACK, c.cseq+2+req, c.sseq+2+rep, 0)
	}
}

// packet writes one segment as a pcap record.
func (g *gen) packet(c *conn, fromClient bool, flags uint8, seq, ack, payload uint32) {
	if g.err != nil {
		return
	}
	b := g.buf[:]
	off := 0
	if g.opts.LinkType == layers.LinkTypeEthernet {
		// Loopback frames carry all-zero MAC addresses.
		clear(b[:12])
		binary.BigEndian.PutUint16(b[12:], 0x0800)
		off = 14
	}
	tcpHdr := 32 // NOP NOP timestamps
	if flags&flagSYN != 0 {
		tcpHdr = 40 // MSS, SACK-permitted, timestamps, NOP, window scale
	}
	ipLen := 20 + tcpHdr + int(payload)

	ip := b[off : off+20]
	ip[0] = 0x45
	ip[1] = 0
	binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
	g.ipID++
	binary.BigEndian.PutUint16(ip[4:], g.ipID)
	binary.BigEndian.PutUint16(ip[6:], 0x4000) // DF
	ip[8] = 64
	ip[9] = 6
	ip[10], ip[11] = 0, 0
	src, dst := c.cip, [4]byte{127, 0, 0, 1}
	if !fromClient {
		src, dst = dst, src
	}
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip, 0)))

	tcp := b[off+20 : off+20+tcpHdr]
	sport, dport := c.cport, g.opts.ServerPort
	if !fromClient {
		sport, dport = dport, sport
	}
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12] = uint8(tcpHdr/4) << 4
	tcp[13] = flags
	win := uint16(512) // 65536 >> 7 after the window scale
	if flags&flagSYN != 0 {
		win = 65495
	}
	binary.BigEndian.PutUint16(tcp[14:], win)
	tcp[16], tcp[17], tcp[18], tcp[19] = 0, 0, 0, 0
	tsval := uint32(g.now.UnixMilli())
	tsecr := tsval
	if flags == flagSYN {
		tsecr = 0
	}
	o := tcp[20:]
	if flags&flagSYN != 0 {
		o[0], o[1] = 2, 4 // MSS 65495, loopback's
		binary.BigEndian.PutUint16(o[2:], 65495)
		o[4], o[5] = 4, 2 // SACK permitted
		o[6], o[7] = 8, 10
		binary.BigEndian.PutUint32(o[8:], tsval)
		binary.BigEndian.PutUint32(o[12:], tsecr)
		o[16] = 1 // NOP
		o[17], o[18], o[19] = 3, 3, 7
	} else {
		o[0], o[1], o[2], o[3] = 1, 1, 8, 10
		binary.BigEndian.PutUint32(o[4:], tsval)
		binary.BigEndian.PutUint32(o[8:], tsecr)
	}
	data := b[off+20+tcpHdr : off+ipLen]
	for i := range data {
		data[i] = 'a' + byte(i%26)
	}
	// TCP checksum over the pseudo-header (addresses, protocol, length)
	// and the segment.
	s := sum(ip[12:20], 0)
	s += 6 + uint32(tcpHdr) + payload
	binary.BigEndian.PutUint16(tcp[16:], ^fold(sum(b[off+20:off+ipLen], s)))

	g.record(b[:off+ipLen])
	g.now = g.now.Add(time.Duration(5+g.rng.IntN(45)) * time.Microsecond)
}

func (g *gen) record(frame []byte) {
	h := g.rec[:]
	le := binary.LittleEndian
	us := g.now.UnixMicro()
	le.PutUint32(h[0:], uint32(us/1e6))
	le.PutUint32(h[4:], uint32(us%1e6))
	le.PutUint32(h[8:], uint32(len(frame)))
	le.PutUint32(h[12:], uint32(len(frame)))
	if _, err := g.w.Write(h); err != nil {
		g.err = err
		return
	}
	if _, err := g.w.Write(frame); err != nil {
		g.err = err
	}
}

// sum adds b as big-endian 16-bit words to s (the Internet checksum before
// folding).
func sum(b []byte, s uint32) uint32 {
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}
