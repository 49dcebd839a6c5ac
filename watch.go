package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/report"
)

// watch explains live connections on an interface as they happen, until
// Ctrl-C, -c N connections have ended, or --duration has passed. No calls
// are seen: every call is inferred from the segments and marked so.
func watch(c *cli.Context) error {
	iface := c.String("iface")
	if iface == "" {
		return usagef("watch needs an interface: socktrace watch --iface lo [FILTER]")
	}
	if c.Int("count") < 0 || c.Duration("duration") < 0 {
		return usagef("-c and --duration take a positive value")
	}
	procs, err := parseProcFilter(c.IsSet("pid"), c.Int("pid"), c.String("comm"), c.Bool("processes"))
	if err != nil {
		return err
	}
	expr := filterExpr(c, c.Args().Slice())
	if _, _, err := matchFunc(expr); err != nil { // check the syntax first
		return err
	}
	kernelExpr := "tcp"
	if strings.TrimSpace(expr) != "" {
		kernelExpr = "tcp and (" + expr + ")"
	}
	outs, err := openOutputs(c, nil)
	if err != nil {
		return err
	}
	out, err := makeOutput(c, outs, false, true)
	if err != nil {
		outs.abort()
		return err
	}
	ctx := c.Context
	if d := c.Duration("duration"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	counter := &countEnded{Handler: out, limit: c.Int("count"), done: cancel}
	var mu sync.Mutex // the tracker and the pcapng writer are not safe for concurrent use
	var handler decode.Handler = counter
	var table *ownerTable
	var named *ownerHandler
	if c.Bool("processes") {
		table = newOwnerTable()
		named = newOwnerHandler(counter, table, procs)
		handler = named
	}
	var cfg decode.TrackerConfig
	if table != nil {
		cfg.Listening = table.listening
	}
	tracker := decode.NewTracker(handler, cfg)
	var pcapErr error
	var owners *calls.Recorder
	var ownersErr, snapshotErr error
	// The recorder starts before the sockets that exist already are
	// listed, and both before the capture: a connection made meanwhile is
	// named by one or the other, and the first connections captured have
	// their processes known.
	var queue recorderQueue
	if table != nil {
		mine := addrFilter(iface)
		owners, ownersErr = watchProcesses(ctx, mine, &queue, table)
		named.recording = ownersErr == nil
		named.local = mine
		_, truncated, err := table.snapshot(ctx)
		snapshotErr = err
		if err == nil && truncated {
			snapshotErr = fmt.Errorf("more than %d sockets exist: the processes of the connections past them are not named", maxSnapshotSockets)
		}
	}

	// watch meets busy interfaces and storms of connections: a ring of
	// twice the default number of blocks (64 MiB; each block is handed
	// over after 10 ms or when full) rides out a longer stall of the
	// report while it catches up.
	src, err := openLiveRing(iface, kernelExpr, 2*capture.DefaultNumBlocks)
	if err != nil {
		outs.abort()
		return err
	}
	defer src.Close()
	// Said once the capture runs: without it, its own error is the one
	// to read.
	switch {
	case ownersErr != nil && procs != nil:
		warnf(c.App.ErrWriter, "socktrace: %v; --pid/--comm look each new connection up through sock_diag and /proc at its first packet instead (one that closed before it is left out)\n", ownersErr)
	case ownersErr != nil:
		warnf(c.App.ErrWriter, "socktrace: naming only the processes of the connections that existed before watch started: %v\n", ownersErr)
	}
	if snapshotErr != nil {
		warnf(c.App.ErrWriter, "socktrace: %v\n", snapshotErr)
	}
	var pcap *pcapOut
	if outs.pcap != nil {
		if pcap, err = newPcapOut(outs.pcap); err != nil {
			outs.abort()
			return err
		}
	}

	// Connections that finished end after lingering a moment; a quiet
	// interface brings no packet to notice that, so a timer does, and
	// pushes out what the report and the pcapng file have buffered.
	tickDone := make(chan struct{})
	go func() {
		defer close(tickDone)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				mu.Lock()
				queue.drain(tracker)
				tracker.Expire(now)
				if f, ok := out.(interface{ Flush() }); ok {
					f.Flush()
				}
				if pcap != nil && pcapErr == nil {
					if pcapErr = pcap.flushDue(now); pcapErr != nil {
						cancel()
					}
				}
				mu.Unlock()
			}
		}
	}()
	go func() {
		<-ctx.Done()
		src.Stop() // drain what the ring holds, then the reader sees EOF
	}()

	var (
		n    decode.Counts
		p    capture.Packet
		seg  decode.Segment
		rerr error
	)
	for {
		if err := src.ReadPacket(&p); err != nil {
			if !errors.Is(err, io.EOF) {
				rerr = err
			}
			break
		}
		mu.Lock()
		queue.drain(tracker)
		tracker.ObservePacket(&p, &n)
		if pcap != nil && pcapErr == nil {
			// Each packet carries its processes as comments (as
			// ptcpdump's do); --pid and --comm keep their own
			// connections' packets only.
			var comments []string
			keep := true
			if table != nil && decode.Decode(&p, &seg) == nil {
				comments = named.packetComments(seg.Src, seg.Dst)
				keep = named.keepsPacket(seg.Src, seg.Dst)
			} else if procs != nil {
				keep = false
			}
			if keep {
				if pcapErr = pcap.write(0, iface, &p, src.SnapLen(), comments); pcapErr != nil {
					cancel()
				}
			}
		}
		mu.Unlock()
	}
	cancel()
	<-tickDone
	if owners != nil {
		owners.Wait() // no call comes after this
		// Never silent: a storm on another process can fill the ring
		// (watch records every process's calls).
		if st := owners.Stats(); st.Dropped > 0 {
			warnf(c.App.ErrWriter, "socktrace: %d kernel events lost (%d read): the eBPF ring buffer was full; some connections' processes are not named, and some of their calls and states are missing from the report\n", st.Dropped, st.Records)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	queue.drain(tracker)
	tracker.Flush()
	stats, _ := src.Stats()
	if pcap != nil {
		if pcapErr == nil {
			pcapErr = pcap.stats(iface, src.LinkType(), src.SnapLen(), stats)
		}
		if err := pcap.close(); pcapErr == nil {
			pcapErr = err
		}
	}
	if rerr == nil && pcapErr != nil {
		rerr = &outputError{pcapErr}
	}
	return finishWith(c.Context, out, outs, tracker, n, int64(stats.Dropped), rerr, func(s *report.Summary) {
		s.CallsOmitted += queue.omitted
		if named != nil {
			// The connections counted are the ones shown.
			s.LeftOut = named.leftOut
			s.Connections -= named.leftOut
		}
	})
}

// countEnded passes everything on and cancels the watch once limit
// connections have ended (no limit when it is 0).
type countEnded struct {
	decode.Handler
	limit, ended int
	done         func()
}

func (h *countEnded) Ended(c *decode.Connection) {
	h.Handler.Ended(c)
	h.ended++
	if h.limit > 0 && h.ended >= h.limit {
		h.done()
	}
}

// watchProcesses records, with eBPF, the calls of every process that name
// a connection (connect, accept, listen, close, ...) and the kernel's
// reports on its sockets, and gives those on iface's addresses to the
// tracker: the report then names each connection's processes (pid and
// comm on their calls) and shows the kernel's states. Where eBPF cannot
// be used it returns why: the watch goes on without.
//
// The recorder's reports name sockets in the table at once, and wait in
// queue for the tracker, which takes them before each packet: so the
// recorder never waits for the tracker, and a first packet waiting for
// the recorder to catch up (ownerHandler) does not hold it back.
func watchProcesses(ctx context.Context, mine func(netip.AddrPort) bool, queue *recorderQueue, table *ownerTable) (*calls.Recorder, error) {
	return calls.Watch(ctx, calls.TraceOptions{
		RingBufferSize: watchRingBufferSize,
		Events: func(ev calls.Event) {
			if hook := watchEventsHook; hook != nil {
				hook(ev)
			}
			at := ev.Exit
			if at.IsZero() {
				at = ev.Enter
			}
			defer table.tick(at) // once the table has it
			// Every call names its process, socket() too (which has no
			// address yet): a kernel event later gives only the pid.
			table.learnComm(ev.PID, ev.Comm)
			if !mine(ev.Local) {
				return
			}
			table.observeCall(&ev)
			queue.call(ev)
		},
		Kernel: func(ev calls.KernelEvent) {
			defer table.tick(ev.Time)
			if !mine(ev.Local) {
				return
			}
			table.observeKernel(&ev)
			queue.kernel(ev)
		},
	})
}

// watchRingBufferSize is the eBPF ring buffer's size for watch (0: the
// recorder's default), and watchEventsHook, when set, sees each call
// first, in the recorder's reading goroutine: tests shrink the one and
// hold the reader with the other to make the ring overflow.
var (
	watchRingBufferSize int
	watchEventsHook     func(calls.Event)
)

// maxQueued bounds the recorder's reports waiting for the tracker; past
// it they are counted as omitted calls.
const maxQueued = 1 << 16

// recorderQueue holds the recorder's reports until the tracker takes
// them. The tracker takes them before every packet: the lists it took are
// given back, emptied, for the reports that come next (a new list each
// time grew from nothing, a few allocations for every packet that
// followed a call).
type recorderQueue struct {
	mu      sync.Mutex
	calls   []calls.Event
	kernels []calls.KernelEvent
	omitted int64
	// spareCalls and spareKernels are the lists the tracker took last.
	spareCalls   []calls.Event
	spareKernels []calls.KernelEvent
}

// maxSpareQueued bounds the room kept in the lists given back: a burst
// does not stay held after it.
const maxSpareQueued = 4096

func (q *recorderQueue) call(ev calls.Event) {
	q.mu.Lock()
	if len(q.calls) < maxQueued {
		q.calls = append(q.calls, ev)
	} else {
		q.omitted++
	}
	q.mu.Unlock()
}

func (q *recorderQueue) kernel(ev calls.KernelEvent) {
	q.mu.Lock()
	if len(q.kernels) < maxQueued {
		q.kernels = append(q.kernels, ev)
	}
	q.mu.Unlock()
}

// drain gives what waits to the tracker (its owner's lock held: one
// drain at a time).
func (q *recorderQueue) drain(t *decode.Tracker) {
	q.mu.Lock()
	if len(q.calls) == 0 && len(q.kernels) == 0 {
		q.mu.Unlock()
		return
	}
	evs, kevs := q.calls, q.kernels
	q.calls, q.kernels = q.spareCalls, q.spareKernels
	q.spareCalls, q.spareKernels = nil, nil
	q.mu.Unlock()
	for _, ev := range evs {
		t.ObserveCall(ev)
	}
	for _, ev := range kevs {
		t.ObserveKernel(ev)
	}
	clear(evs) // their strings are not held
	if cap(evs) > maxSpareQueued {
		evs = nil
	}
	if cap(kevs) > maxSpareQueued {
		kevs = nil
	}
	q.mu.Lock()
	q.spareCalls, q.spareKernels = evs[:0], kevs[:0]
	q.mu.Unlock()
}

// addrFilter says whether an address is one of iface's: the reports of
// other interfaces' sockets are not watch's.
func addrFilter(iface string) func(netip.AddrPort) bool {
	local, loopback := ifaceAddrs(iface)
	return func(a netip.AddrPort) bool {
		ad := a.Addr().Unmap()
		return local == nil || local[ad] || loopback && ad.IsLoopback()
	}
}

// ifaceAddrs is the set of iface's addresses, nil (every address) when it
// cannot be listed, and whether iface is a loopback (all of 127/8 and ::1).
func ifaceAddrs(iface string) (map[netip.Addr]bool, bool) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, false
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, false
	}
	set := make(map[netip.Addr]bool)
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			set[p.Addr().Unmap()] = true
		}
	}
	return set, ifi.Flags&net.FlagLoopback != 0
}
