package main

import (
	"context"
	"errors"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

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
	out, err := newLiveOutput(c)
	if err != nil {
		return err
	}
	expr := filterExpr(c, c.Args().Slice())
	if _, err := matchFunc(expr); err != nil { // check the syntax first
		return err
	}
	kernelExpr := "tcp"
	if strings.TrimSpace(expr) != "" {
		kernelExpr = "tcp and (" + expr + ")"
	}
	// watch meets busy interfaces and storms of connections: a ring of
	// twice the default number of blocks (64 MiB; each block is handed
	// over after 10 ms or when full) rides out a longer stall of the
	// report while it catches up.
	src, err := openLiveRing(iface, kernelExpr, 2*capture.DefaultNumBlocks)
	if err != nil {
		return err
	}
	defer src.Close()

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	if d := c.Duration("duration"); d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	counter := &countEnded{Handler: out, limit: c.Int("count"), done: cancel}
	var mu sync.Mutex // the tracker is not safe for concurrent use
	tracker := decode.NewTracker(counter, decode.TrackerConfig{})

	// Connections that finished end after lingering a moment; a quiet
	// interface brings no packet to notice that, so a timer does, and
	// pushes out what the report has buffered.
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
				tracker.Expire(now)
				if f, ok := out.(interface{ Flush() }); ok {
					f.Flush()
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
		tracker.ObservePacket(&p, &n)
		mu.Unlock()
	}
	cancel()
	<-tickDone
	mu.Lock()
	defer mu.Unlock()
	tracker.Flush()
	stats, _ := src.Stats()
	return finish(out, tracker, n, int64(stats.Dropped), rerr)
}

// newLiveOutput is newOutput for live traffic: text streams each segment
// as it arrives.
func newLiveOutput(c *cli.Context) (output, error) {
	if f := c.String("format"); f == "text" || f == "" {
		lang, err := language(c.String("lang"), c.Bool("ascii"))
		if err != nil {
			return nil, err
		}
		explain, err := report.ParseExplain(c.String("explain"))
		if err != nil {
			return nil, usagef("%v", err)
		}
		w := c.App.Writer
		if c.Bool("ascii") {
			w = report.ASCIIWriter(w)
		}
		return report.NewText(w, report.TextOptions{Lang: lang, Ephemeral: ephemeralRange(), Stream: true, Width: termWidth(c.App.Writer), Explain: explain}), nil
	}
	return newOutput(c)
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
