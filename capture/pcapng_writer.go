package capture

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// PcapngWriter writes a pcapng file that Wireshark, tshark and FileReader
// read: one little-endian section, any number of interfaces each with its
// own link type, packets with nanosecond timestamps and optional comments,
// and interface statistics (received and dropped counts) at the end.
//
// It is written here rather than taken from gopacket/pcapgo's NgWriter
// because NgWriter takes its comments from a per-call options struct that
// does not map onto Packet, has no isb_osdrop, and FileReader must read back
// whatever this writes, so both sides share the limits in this package
// (MaxSnapLen and the block limit). Writing a packet does not allocate.
//
// A PcapngWriter is not safe for concurrent use.
type PcapngWriter struct {
	w       *bufio.Writer
	nIfaces int
	err     error // sticky: the first write error ends the writer
	// scratch, hdr and val hold the bytes of headers and option values
	// on their way into w. They live in the struct, not on the stack,
	// because bufio may hand a slice straight to the underlying writer,
	// which would make a local array escape: an allocation per packet.
	scratch [32]byte
	hdr     [4]byte
	val     [8]byte
}

// PcapngWriterOptions fills the section header's descriptive options. All
// are optional.
type PcapngWriterOptions struct {
	// Application is shb_userappl, the program that wrote the file.
	Application string
	// OS is shb_os, the operating system the capture was made on.
	OS string
	// Hardware is shb_hardware.
	Hardware string
	// Comment is the section's comment.
	Comment string
}

const (
	ngOptSHBHardware = 2
	ngOptSHBOS       = 3
	ngOptSHBUserAppl = 4

	// maxOptionLen is the largest option value pcapng can carry (the
	// option length is 16 bits, and the value is padded to 4 bytes).
	maxOptionLen = 65532
)

// NewPcapngWriter writes a section header to w and returns a writer for the
// rest of the file. Add interfaces with AddInterface before writing packets
// on them. Output is buffered: call Flush or Close at the end.
func NewPcapngWriter(w io.Writer, opts PcapngWriterOptions) (*PcapngWriter, error) {
	pw := &PcapngWriter{w: bufio.NewWriterSize(w, 64<<10)}
	optLen := optionLen(opts.Comment) + optionLen(opts.Hardware) + optionLen(opts.OS) + optionLen(opts.Application)
	if optLen > 0 {
		optLen += 4 // opt_endofopt
	}
	blen := 28 + optLen
	b := pw.scratch[:24]
	le := binary.LittleEndian
	le.PutUint32(b[0:], ngBlockSHB)
	le.PutUint32(b[4:], uint32(blen))
	le.PutUint32(b[8:], ngByteOrderMagic)
	le.PutUint16(b[12:], 1) // version 1.0
	le.PutUint16(b[14:], 0)
	le.PutUint64(b[16:], ^uint64(0)) // section length not known in advance
	pw.write(b)
	pw.stringOption(ngOptComment, opts.Comment)
	pw.stringOption(ngOptSHBHardware, opts.Hardware)
	pw.stringOption(ngOptSHBOS, opts.OS)
	pw.stringOption(ngOptSHBUserAppl, opts.Application)
	if optLen > 0 {
		pw.endOptions()
	}
	pw.trailer(blen)
	if pw.err != nil {
		return nil, pw.err
	}
	return pw, nil
}

// AddInterface writes an Interface Description Block for ifc's Name,
// Description, LinkType and SnapLen, and returns the interface's index, the
// Packet.InterfaceIndex of packets written on it. Timestamps are written in
// nanoseconds whatever ifc.TSResolution says; ifc.Stats is ignored (see
// WriteInterfaceStats).
func (w *PcapngWriter) AddInterface(ifc Interface) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	optLen := optionLen(ifc.Name) + optionLen(ifc.Description) + 8 + 4 // + if_tsresol + end
	blen := 20 + optLen
	b := w.scratch[:16]
	le := binary.LittleEndian
	le.PutUint32(b[0:], ngBlockIDB)
	le.PutUint32(b[4:], uint32(blen))
	le.PutUint16(b[8:], uint16(ifc.LinkType))
	le.PutUint16(b[10:], 0)
	le.PutUint32(b[12:], ifc.SnapLen)
	w.write(b)
	w.stringOption(ngOptIfName, ifc.Name)
	w.stringOption(ngOptIfDescription, ifc.Description)
	w.option(ngOptIfTSResol, []byte{9}) // 10^-9 s: nanoseconds, as Packet carries
	w.endOptions()
	w.trailer(blen)
	if w.err != nil {
		return 0, w.err
	}
	w.nIfaces++
	return w.nIfaces - 1, nil
}

// WritePacket writes p as an Enhanced Packet Block on interface
// p.InterfaceIndex, with each of p.Comments as a comment option (a comment
// longer than 65532 bytes is cut at a character boundary). A packet whose
// data is longer than MaxSnapLen, or whose comments make its block larger
// than FileReader accepts, is refused.
func (w *PcapngWriter) WritePacket(p *Packet) error {
	if w.err != nil {
		return w.err
	}
	if p.InterfaceIndex < 0 || p.InterfaceIndex >= w.nIfaces {
		return fmt.Errorf("capture: writing a packet on interface %d, but %d interface(s) were added", p.InterfaceIndex, w.nIfaces)
	}
	if len(p.Data) > MaxSnapLen {
		return fmt.Errorf("capture: writing a packet of %d bytes, more than the limit of %d", len(p.Data), MaxSnapLen)
	}
	optLen := 0
	for _, c := range p.Comments {
		optLen += optionLen(c)
	}
	if optLen > 0 {
		optLen += 4
	}
	pad := (len(p.Data)+3)&^3 - len(p.Data)
	blen := 32 + len(p.Data) + pad + optLen
	if blen > maxBlock {
		return fmt.Errorf("capture: a packet with %d bytes of comments makes a block of %d bytes, more than the limit of %d", optLen, blen, maxBlock)
	}
	length := p.Length
	if length < len(p.Data) {
		length = len(p.Data)
	}
	ts := uint64(p.Timestamp.UnixNano())
	if p.Timestamp.IsZero() || p.Timestamp.Before(time.Unix(0, 0)) {
		ts = 0
	}
	b := w.scratch[:28]
	le := binary.LittleEndian
	le.PutUint32(b[0:], ngBlockEPB)
	le.PutUint32(b[4:], uint32(blen))
	le.PutUint32(b[8:], uint32(p.InterfaceIndex))
	le.PutUint32(b[12:], uint32(ts>>32))
	le.PutUint32(b[16:], uint32(ts))
	le.PutUint32(b[20:], uint32(len(p.Data)))
	le.PutUint32(b[24:], uint32(length))
	w.write(b)
	w.write(p.Data)
	w.pad(pad)
	for _, c := range p.Comments {
		w.stringOption(ngOptComment, c)
	}
	if optLen > 0 {
		w.endOptions()
	}
	w.trailer(blen)
	return w.err
}

// WriteInterfaceStats writes an Interface Statistics Block for interface
// iface, stamped at ts: the counters of st that are not negative, and its
// Start and End times when set. Write it after the interface's last packet;
// readers keep the last block for each interface.
func (w *PcapngWriter) WriteInterfaceStats(iface int, ts time.Time, st InterfaceStats) error {
	if w.err != nil {
		return w.err
	}
	if iface < 0 || iface >= w.nIfaces {
		return fmt.Errorf("capture: writing statistics for interface %d, but %d interface(s) were added", iface, w.nIfaces)
	}
	type opt struct {
		code uint16
		v    uint64
	}
	var opts [7]opt
	n := 0
	if !st.Start.IsZero() {
		opts[n] = opt{ngOptISBStartTime, nanos(st.Start)}
		n++
	}
	if !st.End.IsZero() {
		opts[n] = opt{ngOptISBEndTime, nanos(st.End)}
		n++
	}
	for _, c := range []opt{
		{ngOptISBIfRecv, uint64(st.Received)},
		{ngOptISBIfDrop, uint64(st.IfDrop)},
		{ngOptISBFilterAccept, uint64(st.FilterAccept)},
		{ngOptISBOSDrop, uint64(st.OSDrop)},
		{ngOptISBUsrDeliv, uint64(st.UserDelivered)},
	} {
		if int64(c.v) >= 0 {
			opts[n] = c
			n++
		}
	}
	optLen := 12 * n
	if n > 0 {
		optLen += 4
	}
	blen := 24 + optLen
	t := nanos(ts)
	b := w.scratch[:20]
	le := binary.LittleEndian
	le.PutUint32(b[0:], ngBlockISB)
	le.PutUint32(b[4:], uint32(blen))
	le.PutUint32(b[8:], uint32(iface))
	le.PutUint32(b[12:], uint32(t>>32))
	le.PutUint32(b[16:], uint32(t))
	w.write(b)
	for _, o := range opts[:n] {
		v := w.val[:]
		switch o.code {
		case ngOptISBStartTime, ngOptISBEndTime:
			// Timestamps are two 32-bit words, high first, as in
			// packet blocks: not one 64-bit integer.
			le.PutUint32(v[0:], uint32(o.v>>32))
			le.PutUint32(v[4:], uint32(o.v))
		default:
			le.PutUint64(v, o.v)
		}
		w.option(o.code, v)
	}
	if n > 0 {
		w.endOptions()
	}
	w.trailer(blen)
	return w.err
}

// Flush writes buffered blocks to the underlying writer.
func (w *PcapngWriter) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("writing pcapng: %w", err)
	}
	return w.err
}

// Close flushes the writer and ends it. It does not close the underlying
// io.Writer, which belongs to the caller.
func (w *PcapngWriter) Close() error {
	err := w.Flush()
	if w.err == nil {
		w.err = errors.New("capture: write to a closed PcapngWriter")
	}
	return err
}

func nanos(t time.Time) uint64 {
	if t.IsZero() || t.Before(time.Unix(0, 0)) {
		return 0
	}
	return uint64(t.UnixNano())
}

// optionLen is the encoded size of a string option, 0 when s is empty.
func optionLen(s string) int {
	if s == "" {
		return 0
	}
	return 4 + (len(cutOption(s))+3)&^3
}

// cutOption cuts s to the longest value an option holds, at a UTF-8
// character boundary (pcapng strings are UTF-8, and a cut character would
// not be).
func cutOption(s string) string {
	if len(s) <= maxOptionLen {
		return s
	}
	n := maxOptionLen
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (w *PcapngWriter) write(b []byte) {
	if w.err != nil {
		return
	}
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("writing pcapng: %w", err)
	}
}

func (w *PcapngWriter) writeString(s string) {
	if w.err != nil {
		return
	}
	if _, err := w.w.WriteString(s); err != nil {
		w.err = fmt.Errorf("writing pcapng: %w", err)
	}
}

var zeros [4]byte

func (w *PcapngWriter) pad(n int) { w.write(zeros[:n]) }

// stringOption writes a text option, cut by cutOption, unless s is empty.
func (w *PcapngWriter) stringOption(code uint16, s string) {
	if s == "" {
		return
	}
	s = cutOption(s)
	h := w.hdr[:]
	binary.LittleEndian.PutUint16(h[0:], code)
	binary.LittleEndian.PutUint16(h[2:], uint16(len(s)))
	w.write(h)
	w.writeString(s)
	w.pad((len(s)+3)&^3 - len(s))
}

func (w *PcapngWriter) option(code uint16, v []byte) {
	h := w.hdr[:]
	binary.LittleEndian.PutUint16(h[0:], code)
	binary.LittleEndian.PutUint16(h[2:], uint16(len(v)))
	w.write(h)
	w.write(v)
	w.pad((len(v)+3)&^3 - len(v))
}

func (w *PcapngWriter) endOptions() { w.write(zeros[:4]) }

func (w *PcapngWriter) trailer(blen int) {
	b := w.hdr[:]
	binary.LittleEndian.PutUint32(b, uint32(blen))
	w.write(b)
}
