package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
)

// pcapFlushEvery bounds what a SIGKILL can lose of a --write file: the
// packets are handed to the kernel at least this often.
const pcapFlushEvery = time.Second

// pcapSectionComment is the file's own comment (Wireshark: Statistics →
// Capture File Properties): it tells a reader where the calls are.
const pcapSectionComment = "Written by socktrace. A packet comment that starts \"" + calls.CallsCommentPrefix +
	"\" lists the socket calls made nearest to that packet, each timed from it; the calls made before the first packet of the file are on that packet. " +
	"A packet comment that starts \"" + processCommentPrefix + "\" (watch) names the process that sent or received the packet. " +
	"Wireshark: add a column for frame.comment, or filter with frame.comment contains \"socktrace\"; socktrace replay puts the calls back on the timeline."

// pcapOut streams packets to a --write file (pcapng) as they come: each
// packet is written when it is read, and the file is flushed at least
// every pcapFlushEvery, so that a run killed outright leaves a file (under
// its .partial name) that replays up to its last second.
type pcapOut struct {
	file      *outFile
	w         *capture.PcapngWriter
	ifaces    map[pcapIface]int
	byLink    map[layers.LinkType]int // the first interface written of each link type
	lastFlush time.Time
}

// pcapIface tells the interfaces of the packets apart: an input file's
// own interface index, within the n-th input, with its link type.
type pcapIface struct {
	input, index int
	link         layers.LinkType
}

func newPcapOut(f *outFile) (*pcapOut, error) {
	w, err := capture.NewPcapngWriter(f, capture.PcapngWriterOptions{
		Application: "socktrace " + version(),
		Comment:     pcapSectionComment,
	})
	if err != nil {
		return nil, err
	}
	return &pcapOut{file: f, w: w, ifaces: map[pcapIface]int{}, byLink: map[layers.LinkType]int{}, lastFlush: time.Now()}, nil
}

// iface returns the file's interface for the packets of input's interface
// index, writing its description the first time.
func (o *pcapOut) iface(input int, name string, p *capture.Packet, snapLen int) (int, error) {
	key := pcapIface{input, p.InterfaceIndex, p.LinkType}
	if i, ok := o.ifaces[key]; ok {
		return i, nil
	}
	if len(o.ifaces) >= capture.MaxInterfaces {
		// Replay reads no file with more (a bound on its memory), and
		// several inputs can add up past it: the packets of the
		// interfaces past it go on the first of their link type, which
		// loses only the interface's name. Not remembered under key, so
		// the map stays bounded however many inputs there are.
		if i, ok := o.byLink[p.LinkType]; ok {
			return i, nil
		}
		return 0, fmt.Errorf("more than %d interfaces, the most a file socktrace reads may have", capture.MaxInterfaces)
	}
	i, err := o.w.AddInterface(capture.Interface{Name: name, LinkType: p.LinkType, SnapLen: uint32(snapLen)})
	if err != nil {
		return 0, err
	}
	o.ifaces[key] = i
	if _, ok := o.byLink[p.LinkType]; !ok {
		o.byLink[p.LinkType] = i
	}
	return i, nil
}

// write writes p, read from input on the interface name (empty when
// unknown), with comments replacing its own when not nil.
func (o *pcapOut) write(input int, name string, p *capture.Packet, snapLen int, comments []string) error {
	i, err := o.iface(input, name, p, snapLen)
	if err != nil {
		return err
	}
	q := *p
	q.InterfaceIndex = i
	if comments != nil {
		q.Comments = comments
	}
	if err := o.w.WritePacket(&q); err != nil {
		return err
	}
	return nil
}

// flushDue flushes the file when pcapFlushEvery has passed since the last
// flush.
func (o *pcapOut) flushDue(now time.Time) error {
	if now.Sub(o.lastFlush) < pcapFlushEvery {
		return nil
	}
	o.lastFlush = now
	return o.w.Flush()
}

// stats writes the kernel's counters for the live interface the packets
// were read from (input 0, interface 0), if any packet was.
func (o *pcapOut) stats(name string, link layers.LinkType, snapLen int, st capture.LiveStats) error {
	i, err := o.iface(0, name, &capture.Packet{LinkType: link}, snapLen)
	if err != nil {
		return err
	}
	s := capture.UnknownInterfaceStats()
	s.Received = int64(st.Received)
	s.IfDrop = int64(st.Dropped)
	return o.w.WriteInterfaceStats(i, time.Now(), s)
}

// close ends the pcapng stream and gives the file its final name.
func (o *pcapOut) close() error {
	if o == nil {
		return nil
	}
	err := o.w.Close()
	if cerr := o.file.Commit(); err == nil {
		err = cerr
	}
	return err
}

// liveStream writes a demo's or a traced run's packets to its --write file
// as they are kept (ownFilter.keep: once a call has named their
// connection, so not always in time order), the calls reported since the
// last packet in one comment on the next packet written, and flushes the file at least
// every second, so that a run killed outright leaves FILE.partial, which
// replays to its last second. When the run ends, writePcapng replaces it
// with the packets in time order and each call on its nearest packet. A
// nil liveStream writes nothing.
type liveStream struct {
	iface string

	mu      sync.Mutex
	out     *pcapOut
	pending []calls.Event // calls waiting for the next packet
	err     error         // the first write error; the stream stops there
}

// newLiveStream streams to f, a regular file; nil when f is nil or a
// device (which cannot be rewritten at the end).
func newLiveStream(f *outFile, iface string) *liveStream {
	if f == nil || f.tmp == "" {
		return nil
	}
	out, err := newPcapOut(f)
	if err != nil {
		return &liveStream{iface: iface, err: err}
	}
	return &liveStream{iface: iface, out: out}
}

func (s *liveStream) call(ev *calls.Event) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.pending = append(s.pending, *ev)
	s.mu.Unlock()
}

func (s *liveStream) packet(p *capture.Packet, snapLen int) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	var comments []string
	if len(s.pending) > 0 {
		comments = []string{calls.FormatCalls(s.pending, p.Timestamp)}
		s.pending = s.pending[:0]
	}
	s.err = s.out.write(0, s.iface, p, snapLen, comments)
	if s.err == nil {
		s.err = s.out.flushDue(time.Now())
	}
}

// flushEverySecond flushes the stream on a quiet interface too, until the
// returned function is called; that function flushes one last time.
func (s *liveStream) flushEverySecond() (stop func()) {
	if s == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(pcapFlushEvery / 4)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				s.mu.Lock()
				if s.err == nil {
					s.err = s.out.flushDue(now)
				}
				s.mu.Unlock()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		s.mu.Lock()
		if s.err == nil {
			s.err = s.out.w.Flush()
		}
		s.mu.Unlock()
	}
}
