package capture

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// This file holds FileReader, which reads pcap and pcapng files.
//
// It does not use gopacket/pcapgo on purpose. pcapgo's NgReader reports one
// link type per file (a file with an Ethernet and a LINUX_SLL2 interface
// would be decoded wrongly), allocates a fresh buffer per packet unless the
// caller goes through ZeroCopyReadPacketData, and allocates option values
// sized by the file's own length fields; its Reader copies every packet out
// of a bufio.Reader. FileReader instead reads both formats from one fixed
// buffer that it allocates once: a packet's bytes are handed out in place,
// so the hot path does no allocation and no copy, and no length read from
// the file ever sizes an allocation.

// ErrNotCaptureFile is returned by OpenFile and NewFileReader when the input
// starts with neither a pcap nor a pcapng magic number. Its text is what the
// command line shows after the file name.
var ErrNotCaptureFile = errors.New("not a pcap or pcapng file")

// ErrCorruptFile is wrapped by the errors a FileReader returns when a length
// or a field in the file cannot be right (a captured length beyond the snap
// length, a block whose trailing length differs from its leading one, ...).
// Packets read before such an error are good.
var ErrCorruptFile = errors.New("corrupt capture file")

const (
	// MaxSnapLen is the largest captured length FileReader accepts for one
	// packet. Loopback captures by tcpdump use a 262144-byte snap length
	// and carry frames of up to 64 KiB, so this is comfortably above any
	// real capture and still small enough to bound memory.
	MaxSnapLen = 262144

	// maxBlock bounds a pcapng block that has to be held in memory whole
	// (packet, section header, interface description and statistics
	// blocks): a packet of MaxSnapLen bytes plus room for its options and
	// comments. Larger blocks of the kinds FileReader ignores are skipped
	// without being buffered.
	maxBlock = MaxSnapLen + 64<<10

	// bufSize is the size of the one read buffer. It holds any block of
	// maxBlock bytes after the unread tail of the previous one, and is
	// large enough that refills are rare (one read(2) per few thousand
	// small packets).
	bufSize = 2 * maxBlock

	// maxNameLen bounds the interface names and descriptions kept: 128
	// bytes hold any OS's interface name (Linux's are at most 15, a
	// Windows NPF device name some 50) and the descriptions tools write.
	// A file of nothing but MaxInterfaces interface blocks with
	// 300-byte names and descriptions peaked at 61–65 MiB with 256.
	maxNameLen = 128
)

// MaxInterfaces bounds the interfaces a pcapng file may declare, so that a
// file made of nothing but interface blocks cannot grow memory without
// limit; FileReader refuses a file with more. Real files have a handful.
const MaxInterfaces = 1 << 16

// Interface describes one capture interface of a file: the single implicit
// interface of a pcap file or one pcapng Interface Description Block.
type Interface struct {
	// Name is if_name from the file (empty for pcap files and when absent).
	Name string
	// Description is if_description from the file, if any.
	Description string
	// LinkType says how the interface's packets begin.
	LinkType layers.LinkType
	// SnapLen is the largest captured length the file declares for the
	// interface (0 means no limit was declared).
	SnapLen uint32
	// TSResolution is the duration of one timestamp unit in the file,
	// rounded to a nanosecond (pcapng if_tsresol; 1µs or 1ns for pcap).
	TSResolution time.Duration
	// Stats holds the counters of the last Interface Statistics Block read
	// for this interface; every counter is -1 until one is read, so read
	// them after ReadPacket returned io.EOF.
	Stats InterfaceStats
}

// InterfaceStats are the counters of a pcapng Interface Statistics Block.
// A negative counter is unknown: the reader sets -1 when the block lacks the
// option, and PcapngWriter leaves negative counters out.
type InterfaceStats struct {
	// Start and End are isb_starttime and isb_endtime (zero when absent).
	Start, End time.Time
	// Received is isb_ifrecv: packets the interface received.
	Received int64
	// IfDrop is isb_ifdrop: packets dropped by the interface for lack of
	// resources (for an AF_PACKET ring, packets the kernel dropped).
	IfDrop int64
	// FilterAccept is isb_filteraccept: packets the capture filter accepted.
	FilterAccept int64
	// OSDrop is isb_osdrop: packets the operating system dropped.
	OSDrop int64
	// UserDelivered is isb_usrdeliv: packets delivered to the user.
	UserDelivered int64
}

// UnknownInterfaceStats returns InterfaceStats with every counter unknown.
func UnknownInterfaceStats() InterfaceStats {
	return InterfaceStats{Received: -1, IfDrop: -1, FilterAccept: -1, OSDrop: -1, UserDelivered: -1}
}

// FileStats tells how far a FileReader has got, for a progress line.
type FileStats struct {
	// BytesRead is how many bytes have been read from the file so far. It
	// advances by whole buffer refills, up to 640 KiB at a time, ahead of
	// the packets handed out.
	BytesRead int64
	// Size is the file's size in bytes, or -1 when it is not known (a
	// pipe, or a reader that is not a regular file).
	Size int64
}

// Format names a capture file format.
type Format int

const (
	FormatPcap   Format = iota + 1 // libpcap savefile
	FormatPcapng                   // pcap next generation
)

func (f Format) String() string {
	switch f {
	case FormatPcap:
		return "pcap"
	case FormatPcapng:
		return "pcapng"
	}
	return "unknown"
}

// FileReader reads packets from a pcap or pcapng file. It implements Source.
//
// ReadPacket and the accessors must be called from one goroutine, except
// Stats, which may be called from any goroutine at any time.
type FileReader struct {
	src    io.Reader
	closer io.Closer // the file opened by OpenFile, nil otherwise
	file   *os.File  // the same, for Interrupt

	// buf[start:end] holds bytes read from src but not yet consumed; base
	// is the file offset of buf[0].
	buf        []byte
	start, end int
	base       int64
	srcErr     error // sticky error from src (io.EOF included)

	bytesRead atomic.Int64 // mirrors base+end for Stats
	size      int64

	format  Format
	packets int64 // packets handed out so far
	// tsOutOfRange counts packets whose timestamp was clamped to years
	// 1–9999.
	tsOutOfRange int64
	err          error // sticky error that ended the reader

	// pcap
	pcapBig      bool // byte order of the file is big-endian
	pcapNano     bool
	pcapHdrLen   int // 16, or 24 for the modified (Kuznetzov) format
	pcapLinkType layers.LinkType
	pcapSnapLen  uint32

	// pcapng
	ngBig       bool
	ifaces      []ngInterface // every interface of every section so far
	sectionBase int           // index in ifaces of the current section's interface 0
}

// ngInterface is an Interface plus what converting its timestamps needs.
type ngInterface struct {
	Interface
	unitsPerSec uint64 // timestamp units per second (from if_tsresol)
	tsOffset    int64  // if_tsoffset, seconds
}

// OpenFile opens the capture file at path and reads its header. Close the
// reader to close the file.
func OpenFile(path string) (*FileReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewFileReader(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.closer, r.file = f, f
	return r, nil
}

// OpenFileContext is OpenFile for a path that may be a FIFO or a pipe
// whose writer never comes or stalls: when ctx ends while open(2) waits
// for a writer, it returns ctx.Err() at once (the open left behind is
// closed if it ever completes); when ctx ends while the header is being
// read, the read is interrupted. Once it has returned a reader, call
// Interrupt to end a stalled ReadPacket. Bytes read with the header stay
// in the reader: whatever was read is handed out by ReadPacket, so a
// packet that arrived just before Ctrl-C is not lost.
func OpenFileContext(ctx context.Context, path string) (*FileReader, error) {
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.Open(path)
		ch <- opened{f, err}
	}()
	var f *os.File
	select {
	case o := <-ch:
		if o.err != nil {
			return nil, o.err
		}
		f = o.f
	case <-ctx.Done():
		go func() {
			if o := <-ch; o.f != nil {
				o.f.Close()
			}
		}()
		return nil, ctx.Err()
	}
	stop := context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Unix(1, 0)) })
	r, err := NewFileReader(f)
	interrupted := !stop()
	if err != nil {
		f.Close()
		if interrupted && errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, ctx.Err()
		}
		return nil, err
	}
	r.closer, r.file = f, f
	if interrupted {
		r.Interrupt() // later reads too: the deadline is already set
	}
	return r, nil
}

// Interrupt makes a ReadPacket blocked on a pipe or FIFO that has stalled
// return at once, with an error wrapping os.ErrDeadlineExceeded; so do all
// later reads. It may be called from any goroutine (Ctrl-C). A regular
// file never stalls, and is not affected.
func (r *FileReader) Interrupt() {
	if r.file != nil {
		r.file.SetReadDeadline(time.Unix(1, 0)) // long past
	}
}

// NewFileReader reads a capture file's header from src and returns a reader
// for its packets. src needs no buffering of its own: FileReader reads it in
// large chunks. When src is a regular *os.File, Stats reports its size.
// Close does not close src.
func NewFileReader(src io.Reader) (*FileReader, error) {
	r := &FileReader{src: src, buf: make([]byte, bufSize), size: -1}
	if f, ok := src.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			r.size = fi.Size()
		}
	}
	if err := r.fill(4); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			// Fewer than four bytes: no magic number, so not a capture
			// file (an empty file included).
			return nil, ErrNotCaptureFile
		}
		return nil, err
	}
	magic := binary.LittleEndian.Uint32(r.buf[r.start:])
	var err error
	switch magic {
	case ngBlockSHB:
		err = r.initPcapng()
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0xa1b2cd34, 0x34cdb2a1:
		err = r.initPcap(magic)
	default:
		return nil, ErrNotCaptureFile
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

var errClosed = errors.New("capture: read from a closed FileReader")

// ReadPacket fills p with the next packet. p.Data points into the reader's
// buffer and p.Comments is reused: both are valid until the next call.
// It returns io.EOF after the last packet. A file that ends inside a packet
// gives an error wrapping io.ErrUnexpectedEOF that says where; a length that
// cannot be right gives one wrapping ErrCorruptFile. Either ends the reader.
func (r *FileReader) ReadPacket(p *Packet) error {
	if r.err != nil {
		return r.err
	}
	var err error
	if r.format == FormatPcap {
		err = r.readPcap(p)
	} else {
		err = r.readPcapng(p)
	}
	if err != nil {
		r.err = err
		return err
	}
	r.packets++
	return nil
}

// Close releases the reader's resources and closes the file if OpenFile
// opened it. It does not close a reader passed to NewFileReader.
func (r *FileReader) Close() error {
	r.err = errClosed
	r.buf = nil
	r.start, r.end = 0, 0
	if r.closer != nil {
		c := r.closer
		r.closer = nil
		return c.Close()
	}
	return nil
}

// Format reports whether the file is pcap or pcapng.
func (r *FileReader) Format() Format { return r.format }

// LinkType is the link type of a pcap file, or of the first interface of a
// pcapng file (each Packet carries its own).
func (r *FileReader) LinkType() layers.LinkType {
	if r.format == FormatPcap {
		return r.pcapLinkType
	}
	if len(r.ifaces) > 0 {
		return r.ifaces[0].LinkType
	}
	return layers.LinkTypeNull
}

// Interface returns interface i of Interfaces, without copying the others:
// a file may describe tens of thousands, and a packet on each would make
// copying them all for each one quadratic.
func (r *FileReader) Interface(i int) (Interface, bool) {
	if r.format == FormatPcap {
		if i != 0 {
			return Interface{}, false
		}
		return r.Interfaces()[0], true
	}
	if i < 0 || i >= len(r.ifaces) {
		return Interface{}, false
	}
	return r.ifaces[i].Interface, true
}

// Interfaces returns the interfaces read so far: one for a pcap file, every
// Interface Description Block of every section for pcapng, in file order,
// so that Packet.InterfaceIndex indexes it. Statistics blocks usually come
// last: call it after io.EOF to see drop counts.
func (r *FileReader) Interfaces() []Interface {
	if r.format == FormatPcap {
		res := time.Microsecond
		if r.pcapNano {
			res = time.Nanosecond
		}
		return []Interface{{
			LinkType:     r.pcapLinkType,
			SnapLen:      r.pcapSnapLen,
			TSResolution: res,
			Stats:        UnknownInterfaceStats(),
		}}
	}
	out := make([]Interface, len(r.ifaces))
	for i := range r.ifaces {
		out[i] = r.ifaces[i].Interface
	}
	return out
}

// TimestampsOutOfRange counts the packets so far whose timestamp fell
// outside years 1–9999 (an extreme if_tsoffset or if_tsresol) and was
// clamped to the nearer end.
func (r *FileReader) TimestampsOutOfRange() int64 { return r.tsOutOfRange }

// Packets is how many packets ReadPacket has returned.
func (r *FileReader) Packets() int64 { return r.packets }

// Offset is the file offset of the first byte not yet consumed: after a
// packet, where the next record or block begins.
func (r *FileReader) Offset() int64 { return r.base + int64(r.start) }

// Stats reports how many bytes have been read and the file's size. It is
// safe to call concurrently with ReadPacket.
func (r *FileReader) Stats() FileStats {
	return FileStats{BytesRead: r.bytesRead.Load(), Size: r.size}
}

// fill makes sure at least n bytes (n <= bufSize/2) are buffered at
// r.buf[r.start:]. It returns io.EOF when the file ends before any of them,
// io.ErrUnexpectedEOF when it ends part way, or the read error.
func (r *FileReader) fill(n int) error {
	if r.end-r.start >= n {
		return nil
	}
	if r.srcErr != nil {
		return r.fillErr()
	}
	if r.start+n > len(r.buf) {
		// Move the unread tail to the front. It is shorter than n, so
		// at most half the buffer: the copy is cheap and rare.
		copy(r.buf, r.buf[r.start:r.end])
		r.base += int64(r.start)
		r.end -= r.start
		r.start = 0
	}
	for empty := 0; r.end-r.start < n; {
		m, err := r.src.Read(r.buf[r.end:])
		if m < 0 || m > len(r.buf)-r.end {
			r.srcErr = errors.New("capture: reader returned an invalid count")
			return r.srcErr
		}
		r.end += m
		if err != nil {
			r.srcErr = err
			break
		}
		if m == 0 {
			// A reader returning 0, nil forever would hang us; give up
			// as bufio.Reader does.
			if empty++; empty >= 100 {
				r.srcErr = io.ErrNoProgress
				break
			}
		}
	}
	r.bytesRead.Store(r.base + int64(r.end))
	if r.end-r.start >= n {
		return nil
	}
	return r.fillErr()
}

func (r *FileReader) fillErr() error {
	if r.srcErr == io.EOF {
		if r.end == r.start {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	return r.srcErr
}

// skip consumes n bytes, buffered or not, without holding them.
func (r *FileReader) skip(n int64) error {
	for n > 0 {
		if r.end == r.start {
			r.base += int64(r.end)
			r.start, r.end = 0, 0
			if err := r.fill(1); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := int64(r.end - r.start)
		if k > n {
			k = n
		}
		r.start += int(k)
		n -= k
	}
	return nil
}

// truncated builds the error for a file that ends inside a record: what is
// being read, where it starts, how many bytes it needed and how many there
// were.
func (r *FileReader) truncated(what string, need int64) error {
	have := int64(r.end - r.start)
	return fmt.Errorf("file truncated after packet %d: %s at byte offset %d needs %d bytes, the file has only %d more: %w",
		r.packets, what, r.Offset(), need, have, io.ErrUnexpectedEOF)
}

// readErr turns an error from fill into the reader's error for a record.
func (r *FileReader) readErr(err error, what string, need int64) error {
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		return r.truncated(what, need)
	}
	return fmt.Errorf("reading %s at byte offset %d: %w", what, r.Offset(), err)
}

// corrupt builds an error wrapping ErrCorruptFile for the record at the
// current offset.
func (r *FileReader) corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: at byte offset %d (after packet %d): %s",
		ErrCorruptFile, r.Offset(), r.packets, fmt.Sprintf(format, args...))
}

// u16, u32 and u64 decode integers in a file's byte order. A bool selects the
// order instead of a binary.ByteOrder interface value so that the calls
// inline on the hot path.
func u16(big bool, b []byte) uint16 {
	if big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func u32(big bool, b []byte) uint32 {
	if big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func u64(big bool, b []byte) uint64 {
	if big {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// linkType converts a file's link type field. pcap keeps FCS flags in the
// top bits of the field (LT_LINKTYPE in libpcap masks them off); values that
// do not fit gopacket's 16-bit LinkType become 0xFFFF, which no decoder
// claims, so such packets are counted as unknown rather than misread.
func linkType(v uint32) layers.LinkType {
	v &= 0x03FFFFFF
	if v > 0xFFFF {
		return 0xFFFF
	}
	return layers.LinkType(v)
}
