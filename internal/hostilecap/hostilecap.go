// Package hostilecap writes the captures an adversary would feed socktrace:
// socket calls whose strings are terminal escape sequences, a storm of
// identical SYNs, a million RSTs or calls on one connection. They are real
// pcapng files, written with capture.PcapngWriter, that tcpdump and tshark
// read; tests and benchmarks use them to hold socktrace to its bounds.
package hostilecap

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
)

// Client and Server are the two ends of every generated connection.
var (
	Client = netip.MustParseAddrPort("10.0.0.1:40000")
	Server = netip.MustParseAddrPort("10.0.0.2:8080")
)

// Start is the time of the first packet.
var Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// TCP flags, as on the wire.
const (
	FIN = 0x01
	SYN = 0x02
	RST = 0x04
	PSH = 0x08
	ACK = 0x10
)

// Writer writes raw IPv4 packets into a pcapng file, one microsecond apart.
type Writer struct {
	pw    *capture.PcapngWriter
	frame [40 + 1500]byte
	pkt   capture.Packet
	now   time.Time
}

// NewWriter starts a pcapng file on w with one raw-IP interface.
func NewWriter(w io.Writer) (*Writer, error) {
	pw, err := capture.NewPcapngWriter(w, capture.PcapngWriterOptions{Application: "socktrace internal/hostilecap"})
	if err != nil {
		return nil, fmt.Errorf("hostilecap: %w", err)
	}
	if _, err := pw.AddInterface(capture.Interface{Name: "hostile", LinkType: layers.LinkTypeRaw, SnapLen: 65535}); err != nil {
		return nil, fmt.Errorf("hostilecap: %w", err)
	}
	return &Writer{pw: pw, now: Start}, nil
}

// Now is the time the next packet will carry.
func (w *Writer) Now() time.Time { return w.now }

// Packet writes one TCP segment from src to dst with the given payload and
// comments, and advances the clock by a microsecond.
func (w *Writer) Packet(src, dst netip.AddrPort, flags uint8, seq, ack uint32, payload []byte, comments ...string) error {
	b, err := w.frameBytes(src, dst, flags, seq, ack, payload)
	if err != nil {
		return err
	}
	w.pkt = capture.Packet{Timestamp: w.now, LinkType: layers.LinkTypeRaw, Data: b, Length: len(b), Comments: comments}
	w.now = w.now.Add(time.Microsecond)
	if err := w.pw.WritePacket(&w.pkt); err != nil {
		return fmt.Errorf("hostilecap: %w", err)
	}
	return nil
}

// frameBytes lays out an IPv4 packet carrying a TCP segment, checksums
// right, in w.frame.
func (w *Writer) frameBytes(src, dst netip.AddrPort, flags uint8, seq, ack uint32, payload []byte) ([]byte, error) {
	n := 40 + len(payload)
	if n > len(w.frame) {
		return nil, fmt.Errorf("hostilecap: payload of %d bytes is too long", len(payload))
	}
	b := w.frame[:n]
	clear(b[:40])
	be := binary.BigEndian
	b[0] = 0x45
	be.PutUint16(b[2:], uint16(n))
	b[8] = 64
	b[9] = 6 // TCP
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	copy(b[12:16], s4[:])
	copy(b[16:20], d4[:])
	be.PutUint16(b[10:], checksum(b[:20], 0))
	t := b[20:]
	be.PutUint16(t[0:], src.Port())
	be.PutUint16(t[2:], dst.Port())
	be.PutUint32(t[4:], seq)
	be.PutUint32(t[8:], ack)
	t[12] = 5 << 4
	t[13] = flags
	be.PutUint16(t[14:], 65535)
	copy(t[20:], payload)
	// The pseudo-header, then the segment.
	var ph [12]byte
	copy(ph[0:4], s4[:])
	copy(ph[4:8], d4[:])
	ph[9] = 6
	be.PutUint16(ph[10:], uint16(20+len(payload)))
	be.PutUint16(t[16:], checksum(t[:20+len(payload)], sum(ph[:], 0)))
	return b, nil
}

// Close flushes the file.
func (w *Writer) Close() error {
	if err := w.pw.Close(); err != nil {
		return fmt.Errorf("hostilecap: %w", err)
	}
	return nil
}

// Call returns ev as a packet comment, its times set to the writer's
// clock. Unlike calls.FormatComment it leaves the strings as they are: the
// point is to write what an adversary would.
func (w *Writer) Call(ev calls.Event) string {
	c := comment{Side: string(ev.Side), Call: string(ev.Call), FD: ev.FD, Enter: w.now, Exit: w.now,
		Result: ev.Result, Detail: ev.Detail, PID: ev.PID, Comm: ev.Comm, Scenario: ev.Scenario}
	if ev.Local.IsValid() {
		c.Local = ev.Local.String()
	}
	if ev.Remote.IsValid() {
		c.Remote = ev.Remote.String()
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "" // strings and numbers only: cannot fail
	}
	return calls.CommentPrefix + string(b)
}

// comment is a call as the "socktrace call:" comments spell it (see
// calls.FormatComment). encoding/json writes control characters as \u00XX,
// which a reader turns back into the raw bytes.
type comment struct {
	Side     string    `json:"side,omitempty"`
	Call     string    `json:"call"`
	FD       int       `json:"fd"`
	Local    string    `json:"local,omitempty"`
	Remote   string    `json:"remote,omitempty"`
	Enter    time.Time `json:"enter"`
	Exit     time.Time `json:"exit"`
	Result   int       `json:"result"`
	Detail   string    `json:"detail,omitempty"`
	PID      int       `json:"pid,omitempty"`
	Comm     string    `json:"comm,omitempty"`
	Scenario string    `json:"scenario,omitempty"`
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

func checksum(b []byte, s uint32) uint16 {
	s = sum(b, s)
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
