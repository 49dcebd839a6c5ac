//go:build linux && (amd64 || arm64)

package calls

// The eBPF recorder's packet capture (TraceOptions.Packets): the traced
// tree's TCP segments, recorded by the kernel side at the points where an
// AF_PACKET capture would see them (bpf/recorder.bpf.c, capture_xmit and
// capture_receive), into the same ring buffer as the calls. Each record
// becomes a capture.Packet with a LINUX_SLL2 header, as a capture of every
// interface (tcpdump -i any) gives them.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/capture"
)

const recPacket = 10

// The record's data holds PacketSnapLen bytes (a compile-time check).
var _ [PacketSnapLen - int(unsafe.Sizeof(recorderPacketRecord{}.Data))]struct{}
var _ [int(unsafe.Sizeof(recorderPacketRecord{}.Data)) - PacketSnapLen]struct{}

// packetRecordHead is the size of a packet record before its data, and
// packetRecordSize its whole size.
const (
	packetRecordHead = int(unsafe.Offsetof(recorderPacketRecord{}.Data))
	packetRecordSize = int(unsafe.Sizeof(recorderPacketRecord{}))
)

// startCapture attaches the packet capture, on interface iface only ("" or
// capture.AnyInterface: every interface), before the traced program runs.
func (r *Recorder) startCapture(iface string) error {
	if iface != "" && iface != capture.AnyInterface {
		ifi, err := net.InterfaceByName(iface)
		if err != nil {
			return fmt.Errorf("calls: capture on %s: %w", iface, err)
		}
		if err := r.objs.CaptureIfindex.Set(uint32(ifi.Index)); err != nil {
			return fmt.Errorf("calls: capture on %s: %w", iface, err)
		}
	}
	for _, p := range []*ebpf.Program{r.objs.CaptureXmit, r.objs.CaptureReceive} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			// Not ErrBPFUnavailable: the calls could be recorded,
			// and a caller falling back to ptrace would then have
			// no packets at all.
			return fmt.Errorf("calls: attaching the packet capture (%s): %w", p, err)
		}
		r.links = append(r.links, l)
	}
	r.capturing = true
	return nil
}

// captureLinger is how long the reader goes on once the traced processes
// have exited, when it captures: the segments the kernel still sends or
// takes for their connections (the peer's FIN and the last ACK of a
// program that closed and exited) come after, as a packet socket's
// reader waits for them (3 × capture.DefaultBlockTimeout).
// (A variable: a test lengthens it.)
var captureLinger = 3 * capture.DefaultBlockTimeout

// handlePacket turns a packet record into a capture.Packet for
// opts.Packets.
func (r *Recorder) handlePacket(raw []byte) {
	// The kernel side always submits the whole record. A shorter one is
	// not cast: the struct would reach past the slice's memory (which
	// checkptr, on with -race, rejects: FuzzHandlePacket's seeds).
	if len(raw) < packetRecordSize || r.opts.Packets == nil {
		return
	}
	// The ring's records are 8-byte aligned: read in place.
	rec := (*recorderPacketRecord)(unsafe.Pointer(unsafe.SliceData(raw)))
	n := min(int(rec.CapLen), PacketSnapLen)
	if rec.TimeNs > r.lastMono {
		r.lastMono = rec.TimeNs
	}
	r.packets.Add(1)
	b := r.pktBuf[:0]
	// LINUX_SLL2: protocol, reserved, interface index, ARPHRD type,
	// packet type, link-layer address length (none: the kernel side
	// reads from the network header on) and address.
	b = binary.NativeEndian.AppendUint16(b, rec.Protocol) // already in network order
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint32(b, rec.Ifindex)
	b = binary.BigEndian.AppendUint16(b, rec.Hatype)
	b = append(b, rec.PktType, 0)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, rec.Data[:n]...)
	// The payload the kernel side took from the first page fragment,
	// which follows the linear part's bytes (TCP sends from pages).
	if f := min(int(rec.FragLen), len(rec.Frag), PacketSnapLen-n); f > 0 {
		b = append(b, rec.Frag[:f]...)
	}
	r.pktBuf = b
	r.pkt = capture.Packet{
		Timestamp: r.clock.wall(rec.TimeNs),
		LinkType:  layers.LinkTypeLinuxSLL2,
		Data:      b,
		Length:    capture.SLL2HeaderLen + int(rec.WireLen),
	}
	r.opts.Packets(&r.pkt)
}

// setMemoryLayout hands the kernel side what it needs to read the payload
// in a segment's page fragments (page_address); ready 0 leaves it unread.
func (r *Recorder) setMemoryLayout(l memoryLayout) error {
	if l.ready == 0 {
		return nil
	}
	if err := r.objs.PageOffsetBaseAddr.Set(l.pageOffset); err != nil {
		return fmt.Errorf("calls: set the memory layout: %w", err)
	}
	if err := r.objs.VmemmapBaseAddr.Set(l.pageArray); err != nil {
		return fmt.Errorf("calls: set the memory layout: %w", err)
	}
	if err := r.objs.LayoutReady.Set(l.ready); err != nil {
		return fmt.Errorf("calls: set the memory layout: %w", err)
	}
	return nil
}

// packetsDroppedNow sums the kernel side's per-CPU count of segments that
// did not fit in the ring buffer.
func (r *Recorder) packetsDroppedNow() uint64 {
	if r.closed.Load() {
		return r.packetsDroppedFinal.Load()
	}
	return sumPerCPU(r.objs.PacketsDropped)
}

// markOwnPorts marks the local ports of the TCP sockets process pid holds
// now, for the capture: their segments are recorded from the start, before
// any call of the process names them (RecordPID of a process with open
// connections). Its listeners go into the listeners map too, as listen()
// would have put them: otherwise the end of an accepted connection lets
// the listener's port go (set_state), and the next connections'
// handshakes are lost until accept() returns.
func (r *Recorder) markOwnPorts(pid int) error {
	inodes, err := socketInodes(pid)
	if err != nil || len(inodes) == 0 {
		return err
	}
	for _, table := range []string{"tcp", "tcp6"} {
		path := fmt.Sprintf("/proc/%d/net/%s", pid, table)
		f, err := os.Open(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // no IPv6
			}
			return fmt.Errorf("calls: record pid %d: %w", pid, err)
		}
		ports, listening, err := ownPorts(f, inodes)
		f.Close()
		if err != nil {
			return fmt.Errorf("calls: record pid %d: %s: %w", pid, path, err)
		}
		for _, port := range ports {
			mark := recorderPortMark{Owner: uint32(pid)}
			if err := r.objs.Ports.Put(uint32(port), &mark); err != nil {
				return fmt.Errorf("calls: record pid %d: marking port %d: %w", pid, port, err)
			}
		}
		// Its listeners, as listen() would have registered them: their
		// accepted connections' ends must not let the port go. Several
		// may share a port (SO_REUSEPORT; IPv4 and IPv6): each counts.
		counts := make(map[uint16]uint64)
		for _, port := range listening {
			counts[port]++
		}
		for port, n := range counts {
			var mark recorderListenMark
			if r.objs.Listeners.Lookup(port, &mark) != nil {
				mark = recorderListenMark{}
			}
			mark.Owner, mark.Count = uint32(pid), mark.Count+n
			if err := r.objs.Listeners.Put(port, &mark); err != nil {
				return fmt.Errorf("calls: record pid %d: listener on port %d: %w", pid, port, err)
			}
		}
	}
	return nil
}

// socketInodes lists the inode numbers of the sockets process pid has
// open.
func socketInodes(pid int) (map[uint64]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("calls: record pid %d: %w", pid, err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("calls: record pid %d: %w", pid, err)
	}
	inodes := make(map[uint64]bool)
	for _, name := range names {
		target, err := os.Readlink(dir + "/" + name)
		if err != nil {
			continue // closed meanwhile
		}
		if s, ok := strings.CutPrefix(target, "socket:["); ok {
			if n, err := strconv.ParseUint(strings.TrimSuffix(s, "]"), 10, 64); err == nil {
				inodes[n] = true
			}
		}
	}
	return inodes, nil
}

// ownPorts reads a /proc/net/tcp or tcp6 table and returns the local ports
// of the sockets whose inode is in inodes, and those of them that listen.
func ownPorts(f *os.File, inodes map[uint64]bool) (ports, listening []uint16, err error) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	first := true
	for sc.Scan() {
		if first { // the column names
			first = false
			continue
		}
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when
		// retrnsmt uid timeout inode ...
		fields := bytes.Fields(sc.Bytes())
		if len(fields) < 10 {
			continue
		}
		// A time-wait socket has inode 0: no process holds it.
		inode, err := strconv.ParseUint(string(fields[9]), 10, 64)
		if err != nil || inode == 0 || !inodes[inode] {
			continue
		}
		_, portHex, ok := bytes.Cut(fields[1], []byte(":"))
		if !ok {
			continue
		}
		port, err := strconv.ParseUint(string(portHex), 16, 16)
		if err != nil || port == 0 {
			continue
		}
		ports = append(ports, uint16(port))
		if string(fields[3]) == "0A" {
			listening = append(listening, uint16(port))
		}
	}
	return ports, listening, sc.Err()
}

// netnsInode is the inode number of this process's network namespace,
// which the capture keeps to (an AF_PACKET socket sees its own
// namespace's devices only).
func netnsInode() (uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, fmt.Errorf("calls: network namespace: %w", err)
	}
	return uint32(st.Ino), nil
}
