//go:build linux

package capture

// Live capture reads an AF_PACKET socket through a TPACKET_V3 ring that the
// kernel and this process share (Documentation/networking/packet_mmap.rst).
// The ring is a run of equal blocks; the kernel fills one block at a time
// with frames and hands it over by setting TP_STATUS_USER in the block's
// header, either when the block is full or when the block's retire timer
// fires; the reader walks the frames in the block and gives the block back
// by setting its status to TP_STATUS_KERNEL.
//
// This is written on golang.org/x/sys/unix rather than on gopacket's
// afpacket package, which builds without cgo, returns nanosecond timestamps
// and sets a block timeout, but falls short in three ways that matter here:
//
//   - afpacket.NewTPacket binds the socket to the interface with ETH_P_ALL
//     inside the constructor, before SetBPF can be called, so unfiltered
//     frames (on loopback, both copies of each) are queued in the ring
//     between the bind and the filter. Here the socket is opened with
//     protocol 0, which receives nothing, the filter is attached, and only
//     then is the socket bound with ETH_P_ALL.
//   - Its Close unmaps the ring with no regard for a reader blocked in poll
//     or walking a block, which faults; and a blocked reader can only be
//     woken by its poll timeout. Here Close wakes the reader through an
//     eventfd and waits for it to leave the ring before unmapping.
//   - It cannot stop capturing and still hand out what the ring holds,
//     which is what Ctrl-C needs: Stop swaps in a filter that keeps
//     nothing and lets the reader drain the ring to io.EOF.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const (
	// tpacketAlign is TPACKET_ALIGNMENT: the kernel puts the sockaddr_ll
	// describing a frame at the first multiple of it after tpacket3_hdr.
	tpacketAlign = 16
	// sllOffset is where that sockaddr_ll starts, from the frame header.
	sllOffset = (unix.SizeofTpacket3Hdr + tpacketAlign - 1) &^ (tpacketAlign - 1)
	// blockHeaderOffset is where struct tpacket_hdr_v1 starts in a block:
	// after the version and offset_to_priv words of tpacket_block_desc.
	blockHeaderOffset = 8
	// maxFilterLen is BPF_MAXINSNS, the kernel's limit on a classic BPF
	// program.
	maxFilterLen = 4096
)

// LiveSource captures frames from one network interface. It implements
// Source. ReadPacket and ReadPacketContext must be called from one
// goroutine at a time; Stop, Close and Stats may be called from any.
type LiveSource struct {
	name      string
	ifindex   int
	linkType  layers.LinkType
	cooked    bool // SOCK_DGRAM: frames start at the network header and get an SLL2 header
	snapLen   int
	blockSize int
	numBlocks int
	drainWait time.Duration

	fd   int    // the AF_PACKET socket
	efd  int    // eventfd that wakes a reader blocked in poll
	ring []byte // the mmap'd ring, numBlocks*blockSize bytes

	// ctl serialises Stop, Close, Stats and wakeups against each other, so
	// that none of them uses a descriptor Close has closed. The reader never
	// takes it.
	ctl     sync.Mutex
	stats   LiveStats // accumulated: PACKET_STATISTICS resets the kernel's counters
	wakeBuf [8]byte

	stopped atomic.Bool // Stop was called, or the socket failed: drain, then end
	closed  atomic.Bool // Close was called: end now

	// mu is held by the reader for the whole of a read, so that Close can
	// wait for it to leave the ring before unmapping. The fields below are
	// the reader's and are guarded by mu.
	mu      sync.Mutex
	blk     int    // the block being read, or waited for
	left    uint32 // frames not yet read in blk; 0 when blk is not ours
	off     uint32 // offset in blk of the next frame
	buf     []byte // the copy handed out in Packet.Data
	pfd     [2]unix.PollFd
	readBuf [8]byte
	drainBy time.Time // after Stop, when to give up waiting for the last block
	endErr  error     // returned instead of io.EOF once drained, if the socket failed

	cleanup runtime.Cleanup // frees the ring if the source is dropped without Close
}

var _ Source = (*LiveSource)(nil)

// OpenLive starts capturing on the named interface.
//
// Ethernet and loopback interfaces are captured as Ethernet frames; other
// interfaces (tunnels, PPP, ...) in cooked mode, with a LINUX_SLL2 header
// in front of the network header. On loopback, where the kernel shows every
// frame twice (once leaving, once arriving), a filter prefix drops the
// outgoing copy in the kernel. Timestamps are the kernel's, in nanoseconds,
// from the same clock as time.Now.
//
// If the process lacks CAP_NET_RAW the error matches ErrPermission; if the
// interface does not exist it matches ErrNoInterface and lists the ones that
// do.
func OpenLive(iface string, opts LiveOptions) (*LiveSource, error) {
	snapLen, blockSize, numBlocks, tov, err := liveSizes(iface, opts)
	if err != nil {
		return nil, err
	}
	var (
		ifi      *net.Interface
		hatype   uint16
		loopback []int // indexes of the loopback interfaces whose outgoing copies to drop
	)
	if iface == AnyInterface {
		// Every interface, cooked (LINUX_SLL2, as tcpdump -i any): bound
		// to interface index 0.
		ifi = &net.Interface{Name: iface}
		hatype = unix.ARPHRD_NONE
		loopback = loopbackIndexes()
	} else {
		if ifi, err = lookupInterface(iface); err != nil {
			return nil, err
		}
		if ifi.Flags&net.FlagUp == 0 {
			return nil, fmt.Errorf("capture on %s: the interface is down; bring it up with: sudo ip link set %s up", iface, iface)
		}
		if ifi.Flags&net.FlagLoopback != 0 {
			loopback = []int{0} // the socket sees this interface only
		}
		if hatype, err = hardwareType(iface); err != nil {
			return nil, err
		}
	}
	s := &LiveSource{
		name:      iface,
		ifindex:   ifi.Index,
		linkType:  layers.LinkTypeEthernet,
		snapLen:   snapLen,
		blockSize: blockSize,
		numBlocks: numBlocks,
		// The retire timer hands over a partly filled block only if it
		// was already the kernel's block at the previous tick, so the
		// last frames before Stop can wait up to two periods; allow a
		// third and some scheduling slack.
		drainWait: 3*tov + 20*time.Millisecond,
		fd:        -1,
		efd:       -1,
	}
	sockType := unix.SOCK_RAW
	if cookedType(hatype) {
		// Anything but Ethernet and loopback is captured in cooked
		// mode, where the kernel strips whatever link header there is
		// and reports the protocol, the hardware type and the address
		// beside the frame; those become the LINUX_SLL2 header that
		// tcpdump -i any writes. (Loopback frames carry a 14-byte
		// Ethernet header with zero addresses, so they are Ethernet.)
		sockType = unix.SOCK_DGRAM
		s.cooked = true
		s.linkType = layers.LinkTypeLinuxSLL2
	}
	// Open with protocol 0: such a socket receives nothing until it is
	// bound with a protocol, which is done last, once the ring and the
	// filter are in place.
	if s.fd, err = openPacketSocket(iface, sockType); err != nil {
		return nil, err
	}
	if err := s.setup(loopback, tov, opts.Filter); err != nil {
		s.release()
		return nil, err
	}
	// A source dropped without Close would hold the socket and tens of
	// megabytes of kernel memory until the process exits; free them when
	// it is collected. Close cancels this, so a descriptor number reused
	// after Close is never closed by mistake.
	s.cleanup = runtime.AddCleanup(s, freeRing, ringResources{fd: s.fd, efd: s.efd, ring: s.ring})
	return s, nil
}

// ringResources are what a LiveSource holds outside the Go heap.
type ringResources struct {
	fd, efd int
	ring    []byte
}

// freeRing releases r for a LiveSource that was never closed.
func freeRing(r ringResources) {
	unix.Munmap(r.ring)
	unix.Close(r.fd)
	unix.Close(r.efd)
}

// liveSizes checks opts and fills in the defaults.
func liveSizes(iface string, opts LiveOptions) (snapLen, blockSize, numBlocks int, tov time.Duration, err error) {
	snapLen, blockSize, numBlocks, tov = opts.SnapLen, opts.BlockSize, opts.NumBlocks, opts.BlockTimeout
	if snapLen == 0 {
		snapLen = DefaultSnapLen
	}
	if blockSize == 0 {
		blockSize = DefaultBlockSize
	}
	if numBlocks == 0 {
		numBlocks = DefaultNumBlocks
	}
	if tov == 0 {
		tov = DefaultBlockTimeout
	}
	switch {
	case snapLen < 0 || snapLen > 1<<24:
		return 0, 0, 0, 0, fmt.Errorf("capture on %s: snap length %d is out of range (1 to %d)", iface, snapLen, 1<<24)
	case blockSize < 0 || numBlocks < 0 || tov < 0:
		return 0, 0, 0, 0, fmt.Errorf("capture on %s: negative ring size or block timeout", iface)
	case tov < time.Millisecond || tov > time.Minute:
		return 0, 0, 0, 0, fmt.Errorf("capture on %s: block timeout %v is out of range (1ms to 1m)", iface, tov)
	}
	page := os.Getpagesize()
	// A frame in a block is preceded by the block header, its own header
	// and sockaddr_ll, and some alignment; a page covers all of it.
	if need := snapLen + page; blockSize < need {
		return 0, 0, 0, 0, fmt.Errorf("capture on %s: block size %d cannot hold a frame of the snap length %d; use at least %d",
			iface, blockSize, snapLen, need)
	}
	blockSize = (blockSize + page - 1) &^ (page - 1)
	// The whole ring is one mapping, so it must fit an int (and a 32-bit
	// address space); 16 GiB is already absurd for a capture.
	const maxRing = 1 << 34
	if total := uint64(blockSize) * uint64(numBlocks); blockSize > 1<<30 || numBlocks > 1<<20 ||
		total > maxRing || total > uint64(math.MaxInt/2) {
		return 0, 0, 0, 0, fmt.Errorf("capture on %s: ring of %d blocks of %d bytes is too large", iface, numBlocks, blockSize)
	}
	return snapLen, blockSize, numBlocks, tov, nil
}

// lookupInterface finds the interface by name, or says which ones exist.
// loopbackIndexes returns the indexes of the loopback interfaces that are
// up.
func loopbackIndexes() []int {
	ifs, _ := net.Interfaces()
	var idx []int
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 && ifi.Flags&net.FlagUp != 0 {
			idx = append(idx, ifi.Index)
		}
	}
	return idx
}

func lookupInterface(name string) (*net.Interface, error) {
	ifi, err := net.InterfaceByName(name)
	if err == nil {
		return ifi, nil
	}
	ifs, lerr := net.Interfaces()
	if lerr != nil {
		return nil, fmt.Errorf("capture on %s: %w", name, err)
	}
	names := make([]string, 0, len(ifs))
	for _, i := range ifs {
		if i.Name == name {
			// It exists, so the lookup failed for another reason.
			return nil, fmt.Errorf("capture on %s: %w", name, err)
		}
		names = append(names, i.Name)
	}
	return nil, &InterfaceError{Name: name, Available: names}
}

// openPacketSocket opens an AF_PACKET socket with protocol 0.
func openPacketSocket(iface string, typ int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return -1, &PermissionError{Interface: iface, Err: err}
		}
		return -1, fmt.Errorf("capture on %s: opening a packet socket: %w", iface, err)
	}
	return fd, nil
}

// hardwareType returns the interface's ARPHRD_* type.
func hardwareType(iface string) (uint16, error) {
	// Any socket will do for this ioctl, and a Unix one needs no
	// privilege.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("capture on %s: opening a socket to read the hardware type: %w", iface, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(iface)
	if err != nil {
		return 0, fmt.Errorf("capture on %s: %w", iface, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return 0, fmt.Errorf("capture on %s: reading the hardware type: %w", iface, err)
	}
	// The address comes back as a struct sockaddr whose family is the
	// ARPHRD_* type.
	return ifr.Uint16(), nil
}

// cookedType reports whether interfaces of this ARPHRD_* type are captured
// in cooked mode.
func cookedType(hatype uint16) bool {
	return hatype != unix.ARPHRD_ETHER && hatype != unix.ARPHRD_LOOPBACK
}

// LiveFilterLinkType returns the link type to compile a LiveOptions.Filter
// for, to capture on iface: Ethernet for Ethernet and loopback interfaces,
// and LinkTypeRaw for interfaces captured in cooked mode, where the kernel
// runs the filter on the frame from its network header. It needs no
// privilege; an unknown interface gives an *InterfaceError.
func LiveFilterLinkType(iface string) (layers.LinkType, error) {
	if iface == AnyInterface {
		return layers.LinkTypeRaw, nil
	}
	if _, err := lookupInterface(iface); err != nil {
		return 0, err
	}
	hatype, err := hardwareType(iface)
	if err != nil {
		return 0, err
	}
	if cookedType(hatype) {
		return layers.LinkTypeRaw, nil
	}
	return layers.LinkTypeEthernet, nil
}

// setup makes the ring, attaches the filter and binds the socket, in that
// order, so that no frame is queued unfiltered.
func (s *LiveSource) setup(loopback []int, tov time.Duration, filter []bpf.RawInstruction) error {
	if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("capture on %s: asking for TPACKET_V3 (needs Linux 3.2 or later): %w", s.name, err)
	}
	if len(loopback) == 1 && loopback[0] == 0 {
		// On a loopback interface of its own, the socket wants none of
		// the outgoing copies: told so, the kernel does not even clone
		// each frame on its way out to offer it to the filter, a cost
		// the traced program's sending thread paid (Linux 4.20 and
		// later; before, the filter's prefix drops the copy).
		unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	}
	req := unix.TpacketReq3{
		Block_size: uint32(s.blockSize),
		Block_nr:   uint32(s.numBlocks),
		// TPACKET_V3 packs frames of any size into a block; the frame
		// fields are only checked for consistency, so one "frame" per
		// block satisfies them.
		Frame_size:     uint32(s.blockSize),
		Frame_nr:       uint32(s.numBlocks),
		Retire_blk_tov: uint32(tov / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(s.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("capture on %s: creating a ring of %d blocks of %d bytes: %w (try a smaller ring)",
			s.name, s.numBlocks, s.blockSize, err)
	}
	ring, err := unix.Mmap(s.fd, 0, s.blockSize*s.numBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("capture on %s: mapping the ring: %w", s.name, err)
	}
	s.ring = ring

	prog, err := liveFilter(loopback, s.snapLen, filter)
	if err != nil {
		return fmt.Errorf("capture on %s: %w", s.name, err)
	}
	fprog := unix.SockFprog{
		Len:    uint16(len(prog)),
		Filter: &prog[0],
	}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return fmt.Errorf("capture on %s: the kernel rejected the capture filter: %w", s.name, err)
	}

	if s.efd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		return fmt.Errorf("capture on %s: creating an eventfd: %w", s.name, err)
	}
	s.buf = make([]byte, 0, s.snapLen+SLL2HeaderLen)

	sa := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: s.ifindex}
	if err := unix.Bind(s.fd, &sa); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("capture on %s: the interface went away: %w", s.name, err)
		}
		return fmt.Errorf("capture on %s: binding to the interface: %w", s.name, err)
	}
	return nil
}

// loopbackPrefix drops the outgoing copy of each frame on loopback, where
// every frame passes the capture point twice: once as PACKET_OUTGOING on
// the way out and once as PACKET_HOST on the way back in. It ends by
// setting A to 0, the value a classic BPF program starts with, so the
// program after it runs exactly as it would alone.
var loopbackPrefix = []bpf.Instruction{
	bpf.LoadExtension{Num: bpf.ExtType},                                                   // A = skb->pkt_type
	bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 0, SkipFalse: 1}, // outgoing: next; else skip it
	bpf.RetConstant{Val: 0},                                                               // drop
	bpf.LoadConstant{Dst: bpf.RegA, Val: 0},
}

// anyLoopbackPrefix is loopbackPrefix for a socket that sees every
// interface (-i any): it drops the outgoing copy only when the frame is on
// one of the loopback interfaces (their indexes, at most 250), and keeps
// the outgoing frames of the others, which pass the capture point once.
func anyLoopbackPrefix(indexes []int) []bpf.Instruction {
	n := len(indexes)
	prog := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType}, // A = skb->pkt_type
		// Not outgoing: skip to the end, past the index tests and the drop.
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 0, SkipFalse: uint8(n + 3)},
		bpf.LoadExtension{Num: bpf.ExtInterfaceIndex}, // A = skb->dev->ifindex
	}
	for i, idx := range indexes {
		// A loopback interface: jump to the drop.
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(idx), SkipTrue: uint8(n - i), SkipFalse: 0})
	}
	// None of them: skip the drop.
	prog = append(prog, bpf.Jump{Skip: 1}, bpf.RetConstant{Val: 0}, bpf.LoadConstant{Dst: bpf.RegA, Val: 0})
	return prog
}

// liveFilter returns the program to attach: a prefix dropping loopback's
// outgoing copies when loopback lists interfaces (0: the socket's own),
// followed by the user's filter, or by a return of the snap length when
// there is no filter. Classic BPF jumps are relative and go forward only,
// so the user's program is appended unchanged; the prefix jumps over its
// drop to the user's first instruction and never needs to know its length.
func liveFilter(loopback []int, snapLen int, user []bpf.RawInstruction) ([]unix.SockFilter, error) {
	var prefix []bpf.RawInstruction
	if len(loopback) > 250 {
		loopback = loopback[:250]
	}
	if len(loopback) > 0 {
		ins := loopbackPrefix
		if loopback[0] != 0 {
			ins = anyLoopbackPrefix(loopback)
		}
		var err error
		if prefix, err = bpf.Assemble(ins); err != nil {
			return nil, fmt.Errorf("assembling the loopback filter: %w", err)
		}
	}
	if len(user) == 0 {
		// Even with nothing to filter, a program returning the snap
		// length makes the kernel copy no more than that into the ring.
		user = []bpf.RawInstruction{{Op: 0x06 /* BPF_RET|BPF_K */, K: uint32(snapLen)}}
	}
	if n := len(prefix) + len(user); n > maxFilterLen {
		return nil, fmt.Errorf("the capture filter has %d instructions with the loopback prefix; the kernel takes at most %d", n, maxFilterLen)
	}
	prog := make([]unix.SockFilter, 0, len(prefix)+len(user))
	for _, ins := range append(prefix, user...) {
		prog = append(prog, unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K})
	}
	return prog, nil
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 {
	if nativeBigEndian {
		return v
	}
	return bits.ReverseBytes16(v)
}

var nativeBigEndian = binary.NativeEndian.Uint16([]byte{0, 1}) == 1

// Interface returns the name of the interface being captured.
func (s *LiveSource) Interface() string { return s.name }

// LinkType returns the link type of every packet from this source.
func (s *LiveSource) LinkType() layers.LinkType { return s.linkType }

// SnapLen returns the most bytes kept of a frame (a VLAN tag the kernel
// took off and ReadPacket put back adds 4, an SLL2 header 20).
func (s *LiveSource) SnapLen() int { return s.snapLen }

// ReadPacket fills p with the next frame, waiting for one if need be. Data
// is a copy owned by the source, valid until the next read or Close.
// After Stop it hands out what the ring still holds and then returns
// io.EOF; after Close it returns io.EOF at once, and a ReadPacket blocked
// in another goroutine returns promptly.
//
// ReadPacket does not allocate.
func (s *LiveSource) ReadPacket(p *Packet) error {
	return s.read(nil, p)
}

// ReadPacketContext is ReadPacket that also returns ctx.Err() when ctx is
// done before a frame arrives.
func (s *LiveSource) ReadPacketContext(ctx context.Context, p *Packet) error {
	return s.read(ctx, p)
}

func (s *LiveSource) read(ctx context.Context, p *Packet) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed.Load() {
			return io.EOF
		}
		if ctx != nil {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if s.left > 0 {
			return s.next(p)
		}
		bh := s.blockHeader(s.blk)
		if atomic.LoadUint32(&bh.Block_status)&unix.TP_STATUS_USER != 0 {
			n, off := atomic.LoadUint32(&bh.Num_pkts), atomic.LoadUint32(&bh.Offset_to_first_pkt)
			if n == 0 {
				s.releaseBlock()
				continue
			}
			if uint64(off)+unix.SizeofTpacket3Hdr > uint64(s.blockSize) {
				return s.corrupt(off)
			}
			s.left, s.off = n, off
			continue
		}
		// The block is still the kernel's: wait for the retire timer or
		// for the block to fill.
		timeout := -1
		if s.stopped.Load() {
			// Nothing new arrives after Stop. A kernel block with no
			// frames will stay empty; one with frames is handed over
			// by the retire timer, so wait for it, but not forever.
			// (Blocks are given back with Num_pkts zeroed, so a
			// stale count cannot be mistaken for frames.)
			if atomic.LoadUint32(&bh.Num_pkts) == 0 {
				return s.end()
			}
			if s.drainBy.IsZero() {
				s.drainBy = time.Now().Add(s.drainWait)
			}
			d := time.Until(s.drainBy)
			if d <= 0 {
				return s.end()
			}
			timeout = int((d + time.Millisecond - 1) / time.Millisecond)
		}
		if err := s.wait(ctx, timeout); err != nil {
			return err
		}
	}
}

// end is what a drained source returns.
func (s *LiveSource) end() error {
	if s.endErr != nil {
		return s.endErr
	}
	return io.EOF
}

// blockHeader returns the header of block i in the ring.
func (s *LiveSource) blockHeader(i int) *unix.TpacketHdrV1 {
	return (*unix.TpacketHdrV1)(unsafe.Pointer(&s.ring[i*s.blockSize+blockHeaderOffset]))
}

// releaseBlock gives the current block back to the kernel and moves on.
func (s *LiveSource) releaseBlock() {
	bh := s.blockHeader(s.blk)
	// The kernel resets the count when it reuses the block; zeroing it
	// now lets a stopped reader tell an empty kernel block from a partly
	// filled one (see read). The status store is last, and atomic, so
	// the kernel sees the count before it sees the block as its own.
	atomic.StoreUint32(&bh.Num_pkts, 0)
	atomic.StoreUint32(&bh.Block_status, unix.TP_STATUS_KERNEL)
	s.blk++
	if s.blk == s.numBlocks {
		s.blk = 0
	}
	s.left = 0
}

// corrupt gives up on the current block, whose layout does not fit in it.
func (s *LiveSource) corrupt(off uint32) error {
	blk := s.blk
	s.releaseBlock()
	return fmt.Errorf("capture on %s: ring block %d: frame at offset %d runs past the block (kernel ABI mismatch?)", s.name, blk, off)
}

// next copies the next frame of the current block into p.
func (s *LiveSource) next(p *Packet) error {
	base := s.blk * s.blockSize
	off := int(s.off)
	if off+sllOffset+unix.SizeofSockaddrLinklayer > s.blockSize {
		return s.corrupt(s.off)
	}
	h := (*unix.Tpacket3Hdr)(unsafe.Pointer(&s.ring[base+off]))
	start, n := off+int(h.Mac), int(h.Snaplen)
	if s.cooked {
		start = off + int(h.Net)
	}
	if start+n > s.blockSize {
		return s.corrupt(s.off)
	}
	if s.left > 1 && h.Next_offset == 0 {
		return s.corrupt(s.off)
	}
	if n > s.snapLen {
		n = s.snapLen
	}
	data := s.ring[base+start : base+start+n]
	wire := int(h.Len)

	// The copy frees the block as soon as its last frame is read and lets
	// Close unmap the ring while the caller still holds p.Data.
	buf := s.buf[:0]
	switch {
	case s.cooked:
		buf = appendSLL2(buf, s.ring[base+off+sllOffset:])
		wire += SLL2HeaderLen
	case h.Status&unix.TP_STATUS_VLAN_VALID != 0 && n >= 12:
		// The kernel (or the NIC) took the 802.1Q tag off and reported
		// it beside the frame; put it back after the MAC addresses, as
		// libpcap does, so the frame reads as it was on the wire.
		tpid := uint16(layers.EthernetTypeDot1Q)
		if h.Status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			tpid = h.Hv1.Vlan_tpid
		}
		buf = append(buf, data[:12]...)
		buf = binary.BigEndian.AppendUint16(buf, tpid)
		buf = binary.BigEndian.AppendUint16(buf, uint16(h.Hv1.Vlan_tci))
		data = data[12:]
		wire += 4
	}
	buf = append(buf, data...)

	p.Timestamp = time.Unix(int64(h.Sec), int64(h.Nsec))
	p.LinkType = s.linkType
	p.Data = buf
	p.Length = wire
	p.InterfaceIndex = 0
	p.Comments = nil

	s.left--
	if s.left == 0 {
		s.releaseBlock()
	} else {
		s.off += h.Next_offset
	}
	return nil
}

// appendSLL2 appends a LINUX_SLL2 header built from the sockaddr_ll at the
// start of sll.
func appendSLL2(buf, sll []byte) []byte {
	// struct sockaddr_ll: family u16, protocol be16, ifindex i32,
	// hatype u16, pkttype u8, halen u8, addr [8]u8, native order but for
	// the protocol.
	ifindex := binary.NativeEndian.Uint32(sll[4:8])
	hatype := binary.NativeEndian.Uint16(sll[8:10])
	buf = append(buf, sll[2], sll[3], 0, 0) // protocol type, reserved
	buf = binary.BigEndian.AppendUint32(buf, ifindex)
	buf = binary.BigEndian.AppendUint16(buf, hatype)
	buf = append(buf, sll[10], sll[11]) // packet type, address length
	return append(buf, sll[12:20]...)
}

// wait blocks until the socket or the eventfd is readable, ctx is done, or
// timeoutMs passes (-1: no limit).
func (s *LiveSource) wait(ctx context.Context, timeoutMs int) error {
	if ctx != nil && ctx.Done() != nil {
		// Only when about to block, so a busy reader does not pay for it.
		stop := context.AfterFunc(ctx, s.wake)
		defer stop()
	}
	s.pfd[0] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	s.pfd[1] = unix.PollFd{Fd: int32(s.efd), Events: unix.POLLIN}
	_, err := unix.Poll(s.pfd[:], timeoutMs)
	if err == unix.EINTR {
		return nil
	}
	if err != nil {
		return fmt.Errorf("capture on %s: waiting for packets: %w", s.name, err)
	}
	if s.pfd[1].Revents&unix.POLLIN != 0 {
		// Reset the eventfd so the next poll blocks again; whoever woke
		// us left a flag that the read loop checks.
		unix.Read(s.efd, s.readBuf[:])
	}
	if s.pfd[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 {
		s.socketError()
	}
	return nil
}

// socketError handles an error the kernel posted on the socket, which it
// does when the interface goes down or away (ENETDOWN) and it stops
// capturing: the ring is drained as after Stop and the error ends it.
func (s *LiveSource) socketError() {
	errno, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		s.endErr = fmt.Errorf("capture on %s: reading the socket's error: %w", s.name, err)
	} else if errno != 0 {
		e := unix.Errno(errno)
		if e == unix.ENETDOWN {
			s.endErr = fmt.Errorf("capture on %s: the interface went down or away: %w", s.name, e)
		} else {
			s.endErr = fmt.Errorf("capture on %s: %w", s.name, e)
		}
	} else {
		return // nothing pending after all
	}
	s.stopped.Store(true)
}

// wake makes a reader blocked in poll look at the flags again.
func (s *LiveSource) wake() {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if !s.closed.Load() {
		s.wakeLocked()
	}
}

func (s *LiveSource) wakeLocked() {
	binary.NativeEndian.PutUint64(s.wakeBuf[:], 1)
	// The eventfd counter cannot overflow in practice, and a failed write
	// only means the reader is already awake.
	unix.Write(s.efd, s.wakeBuf[:])
}

// Stop ends the capture but keeps what the ring holds: no new frame is
// queued, and ReadPacket hands out the ones already captured (including
// those in a block the kernel has not yet handed over, which its timer
// does within a few block timeouts) and then returns io.EOF. It wakes a
// blocked ReadPacket. Stop is for Ctrl-C: stop, drain, print, Close.
func (s *LiveSource) Stop() error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.closed.Load() || s.stopped.Load() {
		return nil
	}
	// Swap in a filter that keeps nothing. (Binding to protocol 0 would
	// not do: the kernel takes 0 to mean "the protocol bound before".)
	// The swap is RCU-published, so a frame being filtered on another CPU
	// at this instant may still land in the ring: it arrived before Stop,
	// and the reader hands it out if it is there when the reader looks.
	drop := unix.SockFilter{Code: 0x06 /* BPF_RET|BPF_K */, K: 0}
	err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: 1, Filter: &drop})
	s.stopped.Store(true)
	s.wakeLocked()
	if err != nil {
		return fmt.Errorf("capture on %s: stopping: %w", s.name, err)
	}
	return nil
}

// Stats returns the kernel's counters since the capture was opened. After
// Close it returns the counters as they were at Close.
func (s *LiveSource) Stats() (LiveStats, error) {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.closed.Load() {
		return s.stats, nil
	}
	err := s.updateStatsLocked()
	return s.stats, err
}

func (s *LiveSource) updateStatsLocked() error {
	// Reading the counters resets them in the kernel, hence the sums.
	st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return fmt.Errorf("capture on %s: reading the kernel's counters: %w", s.name, err)
	}
	s.stats.Received += uint64(st.Packets)
	s.stats.Dropped += uint64(st.Drops)
	s.stats.QueueFreezes += uint64(st.Freeze_q_cnt)
	return nil
}

// Backlog is how full the ring is, from 0 to 1: the share of its blocks
// the kernel has handed over and the reader has not given back yet. At 1
// the kernel drops what comes (LiveStats.Dropped). It is safe to call
// from any goroutine; after Close it is 0.
func (s *LiveSource) Backlog() float64 {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.closed.Load() || s.ring == nil {
		return 0
	}
	full := 0
	for i := range s.numBlocks {
		if atomic.LoadUint32(&s.blockHeader(i).Block_status)&unix.TP_STATUS_USER != 0 {
			full++
		}
	}
	return float64(full) / float64(s.numBlocks)
}

// Close ends the capture and frees the ring: frames still in it are lost
// (call Stop and read to io.EOF first to keep them). A ReadPacket blocked
// in another goroutine returns io.EOF promptly. Close is idempotent.
func (s *LiveSource) Close() error {
	s.ctl.Lock()
	defer s.ctl.Unlock()
	if s.closed.Load() {
		return nil
	}
	err := s.updateStatsLocked()
	s.closed.Store(true)
	s.wakeLocked()
	// Wait for the reader to leave the ring before unmapping it.
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanup.Stop()
	if rerr := s.release(); err == nil {
		err = rerr
	}
	return err
}

// release unmaps the ring and closes the descriptors.
func (s *LiveSource) release() error {
	var errs []error
	if s.ring != nil {
		if err := unix.Munmap(s.ring); err != nil {
			errs = append(errs, fmt.Errorf("capture on %s: unmapping the ring: %w", s.name, err))
		}
		s.ring = nil
	}
	for _, fd := range []*int{&s.fd, &s.efd} {
		if *fd >= 0 {
			if err := unix.Close(*fd); err != nil {
				errs = append(errs, fmt.Errorf("capture on %s: closing: %w", s.name, err))
			}
			*fd = -1
		}
	}
	return errors.Join(errs...)
}
