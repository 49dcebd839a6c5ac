package capture

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"strconv"
	"time"
)

// pcapng (draft-ietf-opsawg-pcapng): a sequence of blocks, each
// type(4) length(4) body length(4), the length counting the whole block.
// A Section Header Block starts each section and fixes its byte order; the
// Interface Description Blocks of a section number its interfaces from 0;
// packets (Enhanced, Simple and the obsolete Packet Block) name their
// interface by that number.
const (
	ngBlockSHB = 0x0A0D0D0A // section header; a palindrome, same in both orders
	ngBlockIDB = 0x00000001 // interface description
	ngBlockPB  = 0x00000002 // packet (obsolete)
	ngBlockSPB = 0x00000003 // simple packet
	ngBlockISB = 0x00000005 // interface statistics
	ngBlockEPB = 0x00000006 // enhanced packet

	ngByteOrderMagic = 0x1A2B3C4D

	ngOptEnd     = 0
	ngOptComment = 1

	ngOptIfName        = 2
	ngOptIfDescription = 3
	ngOptIfTSResol     = 9
	ngOptIfTSOffset    = 14

	ngOptISBStartTime    = 2
	ngOptISBEndTime      = 3
	ngOptISBIfRecv       = 4
	ngOptISBIfDrop       = 5
	ngOptISBFilterAccept = 6
	ngOptISBOSDrop       = 7
	ngOptISBUsrDeliv     = 8
)

func (r *FileReader) initPcapng() error {
	r.format = FormatPcapng
	// The first block must be a section header; reading it sets the byte
	// order. Reading it here, not on the first ReadPacket, makes a file
	// with a broken header fail in NewFileReader.
	if err := r.fill(12); err != nil {
		return r.readErr(err, "the pcapng section header", 12)
	}
	if _, err := r.nextBlock(nil); err != nil {
		if err == io.EOF {
			err = r.truncated("the pcapng section header", 28)
		}
		return err
	}
	return nil
}

func (r *FileReader) readPcapng(p *Packet) error {
	for {
		ok, err := r.nextBlock(p)
		if err != nil || ok {
			return err
		}
	}
}

// nextBlock reads one block. It returns true when the block was a packet
// and p has been filled, false for any other block (p == nil means only a
// section header is expected: the first block of the file).
func (r *FileReader) nextBlock(p *Packet) (bool, error) {
	if r.end-r.start < 12 {
		if err := r.fill(12); err != nil {
			if err == io.EOF {
				return false, io.EOF
			}
			return false, r.readErr(err, "the block header "+r.nextPacketName(), 12)
		}
	}
	h := r.buf[r.start:]
	btype := u32(r.ngBig, h)
	if p == nil && btype != ngBlockSHB {
		return false, ErrNotCaptureFile
	}
	if btype == ngBlockSHB {
		// The byte-order magic follows the length, so the length can be
		// decoded only once the magic has been read.
		switch u32(false, h[8:]) {
		case ngByteOrderMagic:
			r.ngBig = false
		case 0x4D3C2B1A:
			r.ngBig = true
		default:
			if p == nil {
				return false, ErrNotCaptureFile
			}
			return false, r.corrupt("section header block with a bad byte-order magic 0x%08x", u32(false, h[8:]))
		}
	}
	blen := u32(r.ngBig, h[4:])
	if blen < 12 || blen%4 != 0 {
		return false, r.corrupt("block of type 0x%08x has an invalid length %d", btype, blen)
	}
	switch btype {
	case ngBlockSHB, ngBlockIDB, ngBlockPB, ngBlockSPB, ngBlockISB, ngBlockEPB:
	default:
		// A block socktrace ignores (name resolution, decryption
		// secrets, custom, ...): skip it without buffering it, however
		// long it says it is, then check its trailing length.
		start := r.Offset()
		if err := r.skip(int64(blen) - 4); err != nil {
			if err != io.ErrUnexpectedEOF {
				return false, r.readErr(err, fmt.Sprintf("a block of type 0x%08x", btype), int64(blen))
			}
			return false, fmt.Errorf("file truncated after packet %d: a block of type 0x%08x at byte offset %d needs %d bytes, the file has only %d more: %w",
				r.packets, btype, start, blen, r.Offset()-start, io.ErrUnexpectedEOF)
		}
		if err := r.fill(4); err != nil {
			return false, r.readErr(err, "the trailing length of a block", 4)
		}
		if t := u32(r.ngBig, r.buf[r.start:]); t != blen {
			return false, r.corrupt("block of type 0x%08x says it is %d bytes long at its start and %d at its end", btype, blen, t)
		}
		r.start += 4
		return false, nil
	}
	if blen > maxBlock {
		return false, r.corrupt("block of type 0x%08x is %d bytes long, more than the limit of %d", btype, blen, maxBlock)
	}
	n := int(blen)
	if r.end-r.start < n {
		if err := r.fill(n); err != nil {
			return false, r.readErr(err, "the block "+r.nextPacketName(), int64(n))
		}
	}
	b := r.buf[r.start : r.start+n]
	if t := u32(r.ngBig, b[n-4:]); t != blen {
		return false, r.corrupt("block of type 0x%08x says it is %d bytes long at its start and %d at its end", btype, blen, t)
	}
	body := b[8 : n-4]
	var err error
	switch btype {
	case ngBlockEPB:
		err = r.readEPB(p, body, false)
	case ngBlockSPB:
		err = r.readSPB(p, body)
	case ngBlockPB:
		err = r.readEPB(p, body, true)
	case ngBlockSHB:
		err = r.readSHB(body)
	case ngBlockIDB:
		err = r.readIDB(body)
	case ngBlockISB:
		err = r.readISB(body)
	}
	if err != nil {
		return false, err
	}
	// The block's bytes stay in the buffer until the next fill, which
	// happens no sooner than the next ReadPacket: p.Data stays valid.
	r.start += n
	switch btype {
	case ngBlockEPB, ngBlockSPB, ngBlockPB:
		return true, nil
	}
	return false, nil
}

// nextPacketName says, for a truncation error, which packet was expected.
func (r *FileReader) nextPacketName() string {
	return "before packet " + strconv.FormatInt(r.packets+1, 10)
}

func (r *FileReader) readSHB(body []byte) error {
	if len(body) < 16 {
		return r.corrupt("section header block too short (%d bytes)", len(body)+12)
	}
	major, minor := u16(r.ngBig, body[4:]), u16(r.ngBig, body[6:])
	if major != 1 {
		return fmt.Errorf("unsupported pcapng version %d.%d", major, minor)
	}
	// Interface numbers restart with each section.
	r.sectionBase = len(r.ifaces)
	return nil
}

func (r *FileReader) readIDB(body []byte) error {
	if len(body) < 8 {
		return r.corrupt("interface description block too short (%d bytes)", len(body)+12)
	}
	if len(r.ifaces) >= MaxInterfaces {
		return r.corrupt("more than %d interfaces", MaxInterfaces)
	}
	ifc := ngInterface{
		Interface: Interface{
			LinkType: linkType(uint32(u16(r.ngBig, body))),
			SnapLen:  u32(r.ngBig, body[4:]),
			Stats:    UnknownInterfaceStats(),
		},
		unitsPerSec: 1e6,
	}
	for opts := body[8:]; ; {
		code, v, rest, ok := nextOption(r.ngBig, opts)
		if !ok {
			break
		}
		opts = rest
		switch code {
		case ngOptIfName:
			ifc.Name = optString(v)
		case ngOptIfDescription:
			ifc.Description = optString(v)
		case ngOptIfTSResol:
			if len(v) < 1 {
				continue
			}
			ups, ok := tsUnitsPerSec(v[0])
			if !ok {
				return r.corrupt("interface %d has an unusable timestamp resolution 0x%02x", len(r.ifaces)-r.sectionBase, v[0])
			}
			ifc.unitsPerSec = ups
		case ngOptIfTSOffset:
			if len(v) >= 8 {
				ifc.tsOffset = int64(u64(r.ngBig, v))
			}
		}
	}
	ifc.TSResolution = time.Duration(1e9 / ifc.unitsPerSec)
	if ifc.TSResolution == 0 {
		ifc.TSResolution = 1
	}
	r.ifaces = append(r.ifaces, ifc)
	return nil
}

// tsUnitsPerSec decodes if_tsresol: 10^-n seconds, or 2^-n when the top bit
// is set. Resolutions whose units per second overflow 64 bits are refused.
func tsUnitsPerSec(v byte) (uint64, bool) {
	n := uint(v & 0x7f)
	if v&0x80 != 0 {
		if n > 63 {
			return 0, false
		}
		return 1 << n, true
	}
	if n > 19 {
		return 0, false
	}
	ups := uint64(1)
	for range n {
		ups *= 10
	}
	return ups, true
}

// The times a timestamp may give: years 1 to 9999, which every date format
// can print. A pcapng timestamp is 64 bits of any unit plus a 64-bit
// offset in seconds, which reaches far past both.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// timestamp converts a pcapng timestamp of an interface to wall-clock time.
// A time outside years 1–9999 is clamped to the nearer end, and inRange
// is false.
func (ifc *ngInterface) timestamp(hi, lo uint32) (t time.Time, inRange bool) {
	ts := uint64(hi)<<32 | uint64(lo)
	var sec, nsec uint64
	switch ifc.unitsPerSec {
	case 1e6:
		sec, nsec = ts/1e6, ts%1e6*1e3
	case 1e9:
		sec, nsec = ts/1e9, ts%1e9
	default:
		ups := ifc.unitsPerSec
		sec = ts / ups
		// rem*1e9/ups without overflow: rem < ups, so the 128-bit
		// product's high word is below ups and Div64 cannot panic.
		hi, lo := bits.Mul64(ts%ups, 1e9)
		nsec, _ = bits.Div64(hi, lo, ups)
	}
	// sec < 2^64 and |tsOffset| < 2^63: checked in 128 bits' worth of
	// comparisons rather than added, which could overflow.
	const maxSec, minSec = 253402300799, -62135596800 // maxTime, minTime in Unix seconds
	switch {
	case sec > maxSec || ifc.tsOffset > maxSec-int64(sec):
		return maxTime, false
	case int64(sec)+ifc.tsOffset < minSec:
		return minTime, false
	}
	return time.Unix(int64(sec)+ifc.tsOffset, int64(nsec)), true
}

// iface returns the interface a packet block names, by its number in the
// current section.
func (r *FileReader) iface(id uint32) (*ngInterface, int, error) {
	n := len(r.ifaces) - r.sectionBase
	if uint64(id) >= uint64(n) {
		return nil, 0, r.corrupt("packet %d is on interface %d, but its section describes %d interface(s)", r.packets+1, id, n)
	}
	i := r.sectionBase + int(id)
	return &r.ifaces[i], i, nil
}

// checkCapLen refuses a captured length that no capture can have. As for
// pcap files (see readPcap), one above the interface's snap length is read.
func (r *FileReader) checkCapLen(caplen uint32) error {
	if caplen > MaxSnapLen {
		return r.corrupt("packet %d has a captured length of %d bytes, more than any capture has (limit %d)",
			r.packets+1, caplen, MaxSnapLen)
	}
	return nil
}

// readEPB reads an Enhanced Packet Block, or, with obsolete set, the
// Packet Block it replaced: the same layout, but a 16-bit interface ID
// followed by a 16-bit drop count.
func (r *FileReader) readEPB(p *Packet, body []byte, obsolete bool) error {
	if len(body) < 20 {
		name := "enhanced packet block"
		if obsolete {
			name = "packet block"
		}
		return r.corrupt("%s too short (%d bytes)", name, len(body)+12)
	}
	id := u32(r.ngBig, body)
	if obsolete {
		id = uint32(u16(r.ngBig, body))
	}
	ifc, idx, err := r.iface(id)
	if err != nil {
		return err
	}
	caplen := u32(r.ngBig, body[12:])
	if err := r.checkCapLen(caplen); err != nil {
		return err
	}
	if uint64(caplen) > uint64(len(body)-20) {
		return r.corrupt("packet %d has a captured length of %d bytes, more than its block holds", r.packets+1, caplen)
	}
	var inRange bool
	p.Timestamp, inRange = ifc.timestamp(u32(r.ngBig, body[4:]), u32(r.ngBig, body[8:]))
	if !inRange {
		r.tsOutOfRange++
	}
	r.setPacket(p, ifc, idx, body[20:], caplen, u32(r.ngBig, body[16:]))
	return nil
}

// readSPB reads a Simple Packet Block: interface 0, no timestamp (the
// packet gets the zero time), and a captured length that is the smaller of
// the wire length and the snap length.
func (r *FileReader) readSPB(p *Packet, body []byte) error {
	if len(body) < 4 {
		return r.corrupt("simple packet block too short (%d bytes)", len(body)+12)
	}
	ifc, idx, err := r.iface(0)
	if err != nil {
		return err
	}
	length := u32(r.ngBig, body)
	caplen := length
	if ifc.SnapLen != 0 && caplen > ifc.SnapLen {
		caplen = ifc.SnapLen
	}
	if room := uint32(len(body) - 4); caplen > room {
		caplen = room
	}
	if err := r.checkCapLen(caplen); err != nil {
		return err
	}
	p.Timestamp = time.Time{}
	r.setPacket(p, ifc, idx, body[4:], caplen, length)
	// A Simple Packet Block has no options: its data runs to the end.
	p.Comments = p.Comments[:0]
	return nil
}

// setPacket fills p from a packet block whose data (and then options) start
// at rest.
func (r *FileReader) setPacket(p *Packet, ifc *ngInterface, idx int, rest []byte, caplen, length uint32) {
	p.Data = rest[:caplen:caplen]
	p.Length = int(length)
	if p.Length < int(caplen) {
		p.Length = int(caplen)
	}
	p.LinkType = ifc.LinkType
	p.InterfaceIndex = idx
	p.Comments = p.Comments[:0]
	pad := (int(caplen) + 3) &^ 3
	if pad >= len(rest) {
		return
	}
	for opts := rest[pad:]; ; {
		code, v, next, ok := nextOption(r.ngBig, opts)
		if !ok {
			break
		}
		opts = next
		if code == ngOptComment {
			// Comments are rare (socktrace writes one per socket call,
			// not per packet), so allocating their strings is fine.
			p.Comments = append(p.Comments, string(v))
		}
	}
}

func (r *FileReader) readISB(body []byte) error {
	if len(body) < 12 {
		return r.corrupt("interface statistics block too short (%d bytes)", len(body)+12)
	}
	id := u32(r.ngBig, body)
	n := len(r.ifaces) - r.sectionBase
	if uint64(id) >= uint64(n) {
		// Statistics for an interface that does not exist: nothing to
		// attach them to, and the packets are unaffected.
		return nil
	}
	ifc := &r.ifaces[r.sectionBase+int(id)]
	st := UnknownInterfaceStats()
	for opts := body[12:]; ; {
		code, v, rest, ok := nextOption(r.ngBig, opts)
		if !ok {
			break
		}
		opts = rest
		if len(v) < 8 {
			continue
		}
		switch code {
		case ngOptISBStartTime:
			st.Start, _ = ifc.timestamp(u32(r.ngBig, v), u32(r.ngBig, v[4:]))
		case ngOptISBEndTime:
			st.End, _ = ifc.timestamp(u32(r.ngBig, v), u32(r.ngBig, v[4:]))
		case ngOptISBIfRecv:
			st.Received = counter(u64(r.ngBig, v))
		case ngOptISBIfDrop:
			st.IfDrop = counter(u64(r.ngBig, v))
		case ngOptISBFilterAccept:
			st.FilterAccept = counter(u64(r.ngBig, v))
		case ngOptISBOSDrop:
			st.OSDrop = counter(u64(r.ngBig, v))
		case ngOptISBUsrDeliv:
			st.UserDelivered = counter(u64(r.ngBig, v))
		}
	}
	ifc.Stats = st
	return nil
}

func counter(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// nextOption splits the first option off b: its code and value, and the
// options after it. ok is false at opt_endofopt, at the end of b, and at an
// option that does not fit: options are optional extras, so a malformed
// one loses the options, not the packet.
func nextOption(big bool, b []byte) (code uint16, v, rest []byte, ok bool) {
	if len(b) < 4 {
		return 0, nil, nil, false
	}
	code, n := u16(big, b), int(u16(big, b[2:]))
	if code == ngOptEnd || 4+n > len(b) {
		return 0, nil, nil, false
	}
	return code, b[4 : 4+n], b[min(4+(n+3)&^3, len(b)):], true
}

// optString copies an option's text, dropping a NUL terminator some
// writers add, and bounded so that interface names cannot hold much memory.
func optString(v []byte) string {
	for len(v) > 0 && v[len(v)-1] == 0 {
		v = v[:len(v)-1]
	}
	if len(v) > maxNameLen {
		v = v[:maxNameLen]
	}
	return string(v)
}
