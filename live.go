package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/urfave/cli/v2"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/capture/filter"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/demo"
	"github.com/socktrace/socktrace/internal/slowlink"
	"github.com/socktrace/socktrace/report"
)

// scenarioNames resolves --scenario: a name, a comma-separated list, or
// "all".
func scenarioNames(flag string) ([]string, error) {
	if flag == "" {
		flag = "handshake"
	}
	if flag == "all" {
		return demo.Names(), nil
	}
	names := strings.Split(flag, ",")
	for _, n := range names {
		if _, ok := demo.Lookup(n); !ok {
			return nil, usagef("unknown scenario %q; the scenarios are: %s (or all)", n, strings.Join(demo.Names(), ", "))
		}
	}
	return names, nil
}

// maxLivePackets bounds what a demo or traced run keeps in memory until
// it is explained: the demo's own connections make a few dozen packets; a
// traced program may make more, and what passes the bound is counted as
// dropped.
const maxLivePackets = 1 << 20

// liveCapture is what a demo or traced run recorded: the packets of its
// own connections and its socket calls.
type liveCapture struct {
	packets  []capture.Packet
	events   []calls.Event
	stats    capture.LiveStats
	linkType layers.LinkType
	// inKernel: the eBPF recorder captured the packets (the traced
	// program's segments only), not a packet socket.
	inKernel bool
	overflow int64 // the program's packets past maxLivePackets, not kept
	// unrelated counts packets of connections not the program's, let go
	// as soon as they were known not to be (see ownFilter).
	unrelated int64
	// eventsOmitted counts calls past maxLiveEvents, not kept.
	eventsOmitted int64
	// kernel is what the kernel reported about the connections (run
	// with the eBPF recorder), in the order it reported.
	kernel []calls.KernelEvent
}

// runDemo captures loopback while the built-in scenarios run, then
// explains them with their calls aligned.
func runDemo(c *cli.Context) error {
	names, err := scenarioNames(c.String("scenario"))
	if err != nil {
		return err
	}
	if p := c.Int("port"); c.IsSet("port") && (p < 1 || p > 65535) {
		return usagef("--port %d is not a port: use 1–65535, or leave it out to let the kernel choose", p)
	}
	iface := c.String("iface")
	if ifi, err := net.InterfaceByName(iface); err == nil && ifi.Flags&net.FlagLoopback == 0 {
		return usagef("the demo runs its client and server on loopback, so it captures on a loopback interface: use --iface lo (to explain traffic on %s, use: socktrace watch --iface %s)", iface, iface)
	}
	var step *stepWriter
	if c.Bool("step") {
		if c.String("format") == "json" || c.String("output") != "" {
			return usagef("--step shows the report on the terminal, one event at a time: it does not apply to --format json or --output")
		}
		if !isTerminal(os.Stdin) || !isTerminal(os.Stdout) {
			return usagef("--step waits for Enter after each event: it needs a terminal for input and output")
		}
	}
	outs, err := openOutputs(c, nil)
	if err != nil {
		return err
	}
	if c.Bool("step") {
		step = newStepWriter(outs.report, os.Stdin, os.Stderr)
		outs.report = step
		defer step.Flush()
	}
	out, err := makeOutput(c, outs, false, false)
	if err != nil {
		outs.abort()
		return err
	}
	opts := demo.Options{IPv6: c.Bool("ipv6"), Port: c.Int("port")}
	if names, err = linkScenarios(c, names); err != nil {
		outs.abort()
		return err
	}
	link, err := slowLink(c, names)
	if err != nil {
		outs.abort()
		return err
	}
	captureNS := ""
	if link != nil {
		// Removed on every way out of here, Ctrl-C included (the
		// context is cancelled and the run returns); a SIGKILLed run's
		// leftovers are removed by the next one (slowlink.Create).
		defer link.Close()
		opts.ClientNS, opts.ServerNS = link.ClientNS, link.ServerNS
		opts.ClientAddr, opts.ServerAddr = link.Client, link.Server
		iface, captureNS = link.ClientIface, link.ClientNS
	}
	dc, runErr := captureDemo(c.Context, captureNS, iface, names, opts, newLiveStream(outs.pcap, iface), link)
	if dc == nil {
		outs.abort()
		return runErr
	}
	return explainCapture(c, out, outs, iface, dc, runErr)
}

// explainCapture writes what a live run captured: the pcapng file if asked
// for, then the report, with the calls aligned. runErr is the run's own
// error, reported after everything captured.
func explainCapture(c *cli.Context, out output, outs *outputs, iface string, dc *liveCapture, runErr error) error {
	if outs.pcap != nil {
		if err := writePcapng(outs.pcap, iface, dc); err != nil && runErr == nil {
			runErr = &outputError{err}
		}
	}
	if dc.stats.Dropped > 0 || dc.overflow > 0 || dc.eventsOmitted > 0 {
		// Say whose packets were lost: the kernel's ring drops before
		// anyone knows whose a packet is; past the bound, they were
		// the program's own.
		warnf(c.App.ErrWriter, "socktrace: packets dropped: %d by the kernel's ring (whoever's they were: the ring holds everything the filter passes, other programs' traffic included), %d of the traced connections past the %d kept; %d calls past the %d kept; %d packets of other connections seen and not kept\n",
			dc.stats.Dropped, dc.overflow, maxLivePackets, dc.eventsOmitted, maxLiveEvents, dc.unrelated)
	}
	tracker := decode.NewTracker(out, decode.TrackerConfig{})
	counts := feed(tracker, dc)
	tracker.Flush()
	return finish(c.Context, out, outs, tracker, counts, int64(dc.stats.Dropped)+dc.overflow, runErr)
}

// captureDemo runs the scenarios one after the other while capturing on
// iface, and returns what it saw. It returns a nil liveCapture only when
// the capture could not start. With a slow link (nil: none), the capture
// goes on until the link is empty: the last segments the scenarios sent
// (the server's FIN) are still on it when they return.
func captureDemo(ctx context.Context, ns, iface string, names []string, opts demo.Options, stream *liveStream, link *slowlink.Link) (*liveCapture, error) {
	expr := "tcp"
	for _, name := range names {
		if sc, _ := demo.Lookup(name); sc.Datagrams {
			// UDP and the ICMP errors it provokes, over IPv4 and
			// IPv6: the filter has no icmp primitive, and keepOwn
			// picks the demo's packets out afterwards.
			expr = "ip or ip6"
		}
	}
	return captureWhileNS(ctx, ns, iface, expr, stream, func(ctx context.Context, emit func(calls.Event)) error {
		opts.Calls = emit
		for _, name := range names {
			if err := demo.Run(ctx, name, opts); err != nil {
				return err
			}
		}
		if link != nil {
			link.Settle(ctx)
		}
		return nil
	})
}

// captureWhile captures TCP on iface while work runs, collecting the
// socket calls work reports through emit, and returns the packets of the
// connections those calls made. It returns a nil liveCapture only when the
// capture could not start; otherwise the error is work's, or the
// capture's.
func captureWhile(ctx context.Context, iface string, stream *liveStream, work func(ctx context.Context, emit func(calls.Event)) error) (*liveCapture, error) {
	return captureWhileExpr(ctx, iface, "tcp", stream, work)
}

// captureWhileExpr is captureWhile with the kernel filter expr; besides
// TCP it keeps the UDP datagrams and ICMP messages expr lets through. With
// a stream, every packet and call is also written to the --write file as
// it comes.
func captureWhileExpr(ctx context.Context, iface, expr string, stream *liveStream, work func(ctx context.Context, emit func(calls.Event)) error) (*liveCapture, error) {
	return captureWhileNS(ctx, "", iface, expr, stream, work)
}

// captureWhileNS is captureWhileExpr on an interface of the named
// network namespace ("": this process's).
func captureWhileNS(ctx context.Context, ns, iface, expr string, stream *liveStream, work func(ctx context.Context, emit func(calls.Event)) error) (*liveCapture, error) {
	return captureLive(ctx, ns, iface, expr, stream, nil, false, func(ctx context.Context, emit func(calls.Event), _ liveSink) error {
		return work(ctx, emit)
	})
}

// liveSink takes what a streaming capture's work reports besides its
// calls: the kernel's events and the tracer's progress (both may be
// called from any goroutine).
type liveSink struct {
	kernel   func(calls.KernelEvent)
	progress func(time.Time)
	// backlog is how full the capture's ring is (capture.LiveSource's
	// Backlog; 0 when the recorder captures).
	backlog func() float64
	// packet takes the packets when the recorder captures them
	// (captureLive's inKernel): calls.TraceOptions.Packets.
	packet func(*capture.Packet)
}

// captureLive is captureWhileNS, streaming when st is set: the packets
// kept, the calls and the kernel events go to st as they come (not to the
// liveCapture), and st feeds its tracker as time moves on. inKernel says
// that work's eBPF recorder captures the packets (sink.packet, with
// calls.TraceOptions.Packets): then no packet socket is opened, and
// work sets the liveCapture's stats itself.
func captureLive(ctx context.Context, ns, iface, expr string, stream *liveStream, st *streamer, inKernel bool, work func(ctx context.Context, emit func(calls.Event), sink liveSink) error) (*liveCapture, error) {
	var src *capture.LiveSource
	var err error
	// Twice the default ring, as watch has: other programs' loopback
	// traffic passes the filter too, and the demo must drop none of its
	// own packets while they storm.
	blocks := 2 * capture.DefaultNumBlocks
	switch {
	case inKernel:
	case ns == "":
		src, err = openLiveRing(iface, expr, blocks)
	default:
		err = slowlink.InNamespace(ns, func() error {
			src, err = openLiveRing(iface, expr, blocks)
			return err
		})
	}
	if err != nil {
		return nil, err
	}
	dc := &liveCapture{linkType: layers.LinkTypeLinuxSLL2, inKernel: inKernel}
	if src != nil {
		dc.linkType = src.LinkType()
	}
	var mu sync.Mutex
	own := newOwnFilter(dc)
	own.stream = stream
	if st != nil {
		own.streamTo(st)
	}
	emit := func(ev calls.Event) {
		mu.Lock()
		own.called(&ev)
		mu.Unlock()
		stream.call(&ev)
	}
	sink := liveSink{backlog: func() float64 { return 0 }}
	if src != nil {
		sink.backlog = src.Backlog
	} else {
		sink.packet = func(p *capture.Packet) {
			mu.Lock()
			own.packet(p)
			mu.Unlock()
		}
	}
	tickDone := make(chan struct{})
	stopTick := make(chan struct{})
	if st != nil {
		sink.kernel = func(ev calls.KernelEvent) {
			mu.Lock()
			st.kernel(&ev)
			mu.Unlock()
		}
		sink.progress = func(t time.Time) {
			mu.Lock()
			st.caughtUp(t)
			mu.Unlock()
		}
		// Connections end, and are explained, as time moves on, also
		// when no packet or call comes to say so.
		go func() {
			defer close(tickDone)
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stopTick:
					return
				case now := <-tick.C:
					mu.Lock()
					own.tick(now)
					mu.Unlock()
				}
			}
		}()
	} else {
		close(tickDone)
	}
	streamDone := stream.flushEverySecond()

	// The reader copies every TCP packet; the ones of work's connections
	// are picked out once its calls say which addresses they used.
	readDone := make(chan error, 1)
	if src == nil {
		readDone <- nil
	} else {
		go readLive(src, readDone, &mu, own)
	}

	runErr := work(ctx, emit, sink)
	if src != nil {
		// Let the last segments (a final ACK, a RST) reach the ring:
		// the kernel hands a partly filled block over after its
		// timeout.
		select {
		case <-time.After(3 * capture.DefaultBlockTimeout):
		case <-ctx.Done():
		}
		if err := src.Stop(); err != nil && runErr == nil {
			runErr = err
		}
	}
	if err := <-readDone; err != nil && runErr == nil {
		runErr = err
	}
	streamDone()
	if src != nil {
		dc.stats, _ = src.Stats()
		if err := src.Close(); err != nil && runErr == nil {
			runErr = err
		}
	}
	close(stopTick)
	<-tickDone
	mu.Lock()
	defer mu.Unlock()
	own.finish()
	dc.keepOwn()
	if st != nil {
		st.drain()
	}
	return dc, runErr
}

// readLive reads src to its end, handing each packet to own, and sends
// how it ended on done.
func readLive(src *capture.LiveSource, done chan<- error, mu *sync.Mutex, own *ownFilter) {
	var p capture.Packet
	for {
		if err := src.ReadPacket(&p); err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			done <- err
			return
		}
		mu.Lock()
		own.packet(&p)
		mu.Unlock()
	}
}

// openLive opens a live capture with a kernel filter and the default ring.
func openLive(iface, expr string) (*capture.LiveSource, error) {
	return openLiveRing(iface, expr, 0)
}

// openLiveRing is openLive with a ring of the given number of blocks (0:
// the default).
func openLiveRing(iface, expr string, blocks int) (*capture.LiveSource, error) {
	// The kernel runs the filter on Ethernet framing for loopback and
	// Ethernet interfaces, on the network header for the others.
	linkType, err := capture.LiveFilterLinkType(iface)
	if err != nil {
		return nil, err
	}
	prog, err := filter.Compile(expr, linkType, capture.DefaultSnapLen)
	if err != nil {
		return nil, err
	}
	return capture.OpenLive(iface, capture.LiveOptions{Filter: prog, NumBlocks: blocks})
}

// keepOwn drops the packets of connections the demo did not make: a
// packet is the demo's when both its endpoints appear in the demo's calls.
func (dc *liveCapture) keepOwn() {
	addrs := make(map[netip.AddrPort]bool)
	for _, ev := range dc.events {
		if ev.Local.IsValid() {
			addrs[ev.Local] = true
		}
		if ev.Remote.IsValid() {
			addrs[ev.Remote] = true
		}
	}
	var seg decode.Segment
	var dd decode.DatagramDecoder
	var dg decode.Datagram
	kept := dc.packets[:0]
	for _, p := range dc.packets {
		switch {
		case decode.Decode(&p, &seg) == nil:
			if addrs[seg.Src] && addrs[seg.Dst] {
				kept = append(kept, p)
			}
		case dd.Decode(&p, &dg) == nil:
			// A datagram between the demo's sockets, or an ICMP
			// error about one the demo sent.
			if (addrs[dg.Src] && addrs[dg.Dst]) || (dg.Quoted && addrs[dg.QuotedSrc] && addrs[dg.QuotedDst]) {
				kept = append(kept, p)
			}
		}
	}
	clear(dc.packets[len(kept):])
	dc.packets = kept
}

// feed hands the tracker the packets and the calls in time order, as they
// happened, and returns the packet counts.
func feed(t *decode.Tracker, dc *liveCapture) decode.Counts {
	events := slices.Clone(dc.events)
	slices.SortStableFunc(events, func(a, b calls.Event) int { return a.Enter.Compare(b.Enter) })
	var (
		n    decode.Counts
		i, j int
	)
	for k := range dc.packets {
		p := &dc.packets[k]
		for i < len(events) && !events[i].Enter.After(p.Timestamp) {
			t.ObserveCall(events[i])
			i++
		}
		for j < len(dc.kernel) && !dc.kernel[j].Time.After(p.Timestamp) {
			t.ObserveKernel(dc.kernel[j])
			j++
		}
		t.ObservePacket(p, &n)
	}
	for ; i < len(events); i++ {
		t.ObserveCall(events[i])
	}
	for ; j < len(dc.kernel); j++ {
		t.ObserveKernel(dc.kernel[j])
	}
	return n
}

// writePcapng writes the run's own packets, each call in the comment of
// the packet nearest to when it entered, and the kernel's counters, in place
// of what was streamed while capturing.
func writePcapng(f *outFile, iface string, dc *liveCapture) error {
	// What was streamed while capturing is replaced.
	if err := f.reset(); err != nil {
		return err
	}
	w, err := newPcapOut(f)
	if err != nil {
		f.Abort()
		return err
	}
	// The calls nearest each packet go in one comment on it, so that
	// Wireshark shows one item per packet, each call timed from the packet
	// (the calls before the first packet all come nearest to it).
	placed := make(map[int][]calls.Event)
	for i := range dc.events {
		ev := &dc.events[i]
		if j := nearest(dc.packets, ev.Enter); j >= 0 {
			placed[j] = append(placed[j], *ev)
		}
	}
	for i := range dc.packets {
		var comments []string
		if evs := placed[i]; len(evs) > 0 {
			slices.SortStableFunc(evs, func(a, b calls.Event) int { return a.Enter.Compare(b.Enter) })
			comments = []string{calls.FormatCalls(evs, dc.packets[i].Timestamp)}
		}
		if err := w.write(0, iface, &dc.packets[i], capture.DefaultSnapLen, comments); err != nil {
			w.close()
			return err
		}
	}
	if err := w.stats(iface, dc.linkType, capture.DefaultSnapLen, dc.stats); err != nil {
		w.close()
		return err
	}
	return w.close()
}

// nearest returns the index of the packet closest in time to t, or -1
// when there are none. Packets are in capture order, which is time order.
func nearest(packets []capture.Packet, t time.Time) int {
	i, _ := slices.BinarySearchFunc(packets, t, func(p capture.Packet, t time.Time) int { return p.Timestamp.Compare(t) })
	switch {
	case len(packets) == 0:
		return -1
	case i == len(packets):
		return i - 1
	case i > 0 && t.Sub(packets[i-1].Timestamp) < packets[i].Timestamp.Sub(t):
		return i - 1
	}
	return i
}

// listScenarios prints the demo scenarios, one line each, in lang.
func listScenarios(w io.Writer, lang report.Lang) {
	for _, s := range demo.Scenarios() {
		summary := s.Summary
		if lang == report.Korean {
			summary = s.SummaryKo
		}
		fmt.Fprintf(w, "%-20s %s\n", s.Name, summary)
	}
}
