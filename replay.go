package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/urfave/cli/v2"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/report"
)

// output is a report writer: a decode.Handler that ends with a summary.
type output interface {
	decode.Handler
	Summary(report.Summary) error
}

// makeOutput makes the report writer --format asks for, writing to
// files.report, with an HTML report beside it when --html asked for one. A
// batch report (a replay) writes JSON a batch of lines at a time; a live
// one writes each line as it comes, and text streams each segment as
// it arrives when stream is set.
func makeOutput(c *cli.Context, files *outputs, batch, stream bool) (output, error) {
	lang, err := language(c.String("lang"), c.Bool("ascii"))
	if err != nil {
		return nil, err
	}
	// A file may come from another machine: this one's ephemeral range
	// says nothing about it. Live runs capture here.
	var eph [2]int
	if !batch {
		eph = ephemeralRange()
	}
	if r := c.String("ephemeral-ports"); r != "" {
		fmt.Sscanf(r, "%d-%d", &eph[0], &eph[1])
	}
	color, err := useColor(c, files.report)
	if err != nil {
		return nil, err
	}
	w, width := files.report, termWidth(files.report)
	if c.Bool("ascii") {
		w = report.ASCIIWriter(w)
	}
	explain, err := report.ParseExplain(c.String("explain"))
	if err != nil {
		return nil, usagef("%v", err)
	}
	var out output
	switch f := c.String("format"); f {
	case "text", "":
		out = report.NewText(w, report.TextOptions{Lang: lang, Ephemeral: eph, Stream: stream, Width: width, Explain: explain})
	case "json":
		if batch {
			out = report.NewBatchJSON(files.report)
		} else {
			out = report.NewJSON(files.report)
		}
	case "diagram":
		if explain == report.ExplainNone {
			// A line per segment is the same whatever the format.
			out = report.NewText(w, report.TextOptions{Lang: lang, Ephemeral: eph, Stream: stream, Width: width, Explain: explain})
			break
		}
		out = report.NewDiagram(w, report.DiagramOptions{Lang: lang, Ephemeral: eph, ASCII: c.Bool("ascii"), Color: color, Width: width, Explain: explain})
	default:
		return nil, usagef("unknown format %q: use text, diagram or json", f)
	}
	if files.html != nil {
		title := "socktrace " + strings.Join(c.Args().Slice(), " ")
		if f := c.String("read"); f != "" {
			title = "socktrace " + f
		}
		h := report.NewHTML(files.html, report.HTMLOptions{Lang: lang, Ephemeral: eph, Title: strings.TrimSpace(title), Explain: explain})
		out = report.Tee(out, h)
	}
	return out, nil
}

// useColor decides --color: auto colours only a terminal, and never when
// NO_COLOR is set (https://no-color.org).
func useColor(c *cli.Context, w io.Writer) (bool, error) {
	color, err := report.ColorMode(c.String("color"), isTerminalWriter(w), os.Getenv("NO_COLOR"))
	if err != nil {
		return false, usagef("%v", err)
	}
	return color, nil
}

func language(flag string, ascii bool) (report.Lang, error) {
	switch flag {
	case "en":
		return report.English, nil
	case "ko":
		if ascii {
			return "", usagef("--ascii prints only ASCII, and Korean has none: use --lang en with --ascii")
		}
		return report.Korean, nil
	case "":
		// POSIX: LC_ALL overrides LC_MESSAGES, which overrides LANG;
		// the first one set decides.
		for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
			if loc := os.Getenv(v); loc != "" {
				if strings.HasPrefix(loc, "ko") && !ascii {
					return report.Korean, nil
				}
				return report.English, nil
			}
		}
		return report.English, nil
	}
	return "", usagef("unknown language %q: use en or ko", flag)
}

// termWidth is the width the reports keep to: the terminal's (TIOCGWINSZ)
// when w is one, else $COLUMNS, else 100; never less than 80, where the
// columns would no longer fit, nor more than 100, past which explanation
// lines get hard to read.
func termWidth(w io.Writer) int {
	width := 100
	if f, ok := w.(interface{ Fd() uintptr }); ok && f.Fd() != ^uintptr(0) {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return min(max(int(ws.Col), 80), 100)
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		width = n
	}
	return min(max(width, 80), 100)
}

// ephemeralRange reads the kernel's ephemeral port range; zero when it
// cannot (the report then assumes Linux's default).
func ephemeralRange() [2]int {
	var r [2]int
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		fmt.Sscan(string(b), &r[0], &r[1])
	}
	return r
}

// replay explains the connections in files, one after the other. A file
// that fails part way keeps everything decoded before the error. A capture
// filter may follow the files. With --write, the packets that pass the
// filter are written to a pcapng file as they are read.
func replay(c *cli.Context, args []string) error {
	files, trailing := splitFiles(args)
	match, filterFailed, err := matchFunc(filterExpr(c, trailing))
	if err != nil {
		return err
	}
	for _, f := range files {
		// A file that cannot be opened ends the replay before any
		// output, summary included.
		if _, err := os.Stat(f); err != nil {
			return err
		}
	}
	outs, err := openOutputs(c, files)
	if err != nil {
		return err
	}
	out, err := makeOutput(c, outs, true, false)
	if err != nil {
		outs.abort()
		return err
	}
	var pcap *pcapOut
	if outs.pcap != nil {
		if pcap, err = newPcapOut(outs.pcap); err != nil {
			outs.abort()
			return err
		}
	}
	if outs.html == nil {
		defer replayGC()()
	}
	ctx := c.Context
	tracker := decode.NewTracker(out, decode.TrackerConfig{})
	var (
		total  decode.Counts
		runErr error
		failed []error // files that ended with an error; the others go on
	)
	for i, file := range files {
		n, err := replayFile(ctx, i, file, tracker, match, pcap, c.App.ErrWriter)
		total.Add(n)
		// Connections do not continue from one file into the next.
		tracker.Flush()
		if err == nil {
			err = filterFailed()
		}
		if err != nil && (ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.As(err, new(*outputError))) {
			// Ctrl-C, or the output failed: no file after this one.
			runErr = err
			break
		}
		if err != nil {
			// A damaged file is reported and the next one read; the
			// replay fails at the end.
			if i < len(files)-1 {
				warnf(c.App.ErrWriter, "socktrace: %v\n", err)
			}
			failed = append(failed, err)
		}
	}
	if runErr == nil && len(failed) > 0 {
		runErr = joinFileErrors(failed)
	}
	if err := pcap.close(); err != nil && runErr == nil {
		runErr = err
	}
	return finish(ctx, out, outs, tracker, total, -1, runErr)
}

// replayGC lets the collector run only when the heap nears the memory
// limit main sets (48 MiB), for the length of a replay, and returns what
// puts it back. A replay allocates little (about 30 MB for 1M packets:
// connections' calls, batches of JSON lines) and keeps about 20 MB live,
// so with the default GOGC=100 the collector ran two or three times per
// 1M packets, marking the whole table each time, for ~5 % of the CPU
// (docs/performance.md, issue 14); with the limit alone it runs once the
// heap reaches 48 MiB, or never for such a file, and peak memory stays
// under the same bound. With GOGC or GOMEMLIMIT set, or without main's
// limit (tests that call run), nothing changes; nor with --html, whose
// page keeps more live and then collected at the limit again and again
// (replay --format json --html of the parallel file: 2.0-2.2 CPU s with
// the collector off, 1.7-1.8 with GOGC=100).
func replayGC() (restore func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" || debug.SetMemoryLimit(-1) == math.MaxInt64 {
		return func() {}
	}
	old := debug.SetGCPercent(-1)
	return func() { debug.SetGCPercent(old) }
}

// finish writes the report's summary — the packet counts, the tracker's
// connection counts, the drops (-1: not applicable, as for a file) and
// the error that ended the input — closes the output files and returns
// the command's error. A stop signal (Ctrl-C, SIGTERM, SIGHUP) is not
// one: what was read has been explained. A failed write of the report is:
// it stopped the work.
func finish(ctx context.Context, out output, outs *outputs, t *decode.Tracker, n decode.Counts, dropped int64, runErr error) error {
	return finishWith(ctx, out, outs, t, n, dropped, runErr, nil)
}

// finishWith is finish with the summary completed by adjust, when not nil.
func finishWith(ctx context.Context, out output, outs *outputs, t *decode.Tracker, n decode.Counts, dropped int64, runErr error, adjust func(*report.Summary)) error {
	var outErr *outputError
	if cause := context.Cause(ctx); errors.As(cause, &outErr) {
		runErr = outErr
	}
	st := t.Stats()
	summary := report.Summary{Counts: n, Connections: st.Connections, Evicted: st.Evicted, CallsOmitted: st.CallsOmitted, Dropped: dropped,
		Resumed: st.Resumed, Late: st.Late, Duplicates: st.Duplicates}
	if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.As(runErr, &outErr) {
		summary.Err = runErr.Error()
	}
	if adjust != nil {
		adjust(&summary)
	}
	if err := out.Summary(summary); err != nil && runErr == nil {
		runErr = err
		if !errors.As(err, &outErr) {
			runErr = &outputError{err}
		}
	}
	if err := outs.commit(); err != nil && runErr == nil {
		runErr = err
	}
	if errors.Is(runErr, context.Canceled) {
		return nil
	}
	return runErr
}

// replayFile replays the input-th file into t, writing the packets that
// pass match to pcap when it is not nil.
func replayFile(ctx context.Context, input int, file string, t *decode.Tracker, match func(*capture.Packet) bool, pcap *pcapOut, stderr io.Writer) (decode.Counts, error) {
	src, err := capture.OpenFileContext(ctx, file)
	if err != nil {
		switch {
		case errors.Is(err, capture.ErrNotCaptureFile):
			return decode.Counts{}, fmt.Errorf("%s: %w", file, capture.ErrNotCaptureFile)
		case errors.As(err, new(*os.PathError)):
			return decode.Counts{}, err // names the file already
		}
		// A header error names the file, as every later error does.
		return decode.Counts{}, fmt.Errorf("%s: %w", file, err)
	}
	defer src.Close()
	var read atomic.Int64
	stopProgress := startProgress(file, src, &read)
	var source capture.Source = src
	if pcap != nil {
		source = &teeSource{src: src, match: match, pcap: pcap, input: input}
		match = nil
	}
	// Ctrl-C (or SIGTERM) must end a replay of a pipe or FIFO whose
	// writer has stalled: the blocked read is interrupted.
	stopInterrupt := context.AfterFunc(ctx, src.Interrupt)
	n, err := decode.Run(ctx, source, t, decode.RunOptions{Match: match, Progress: &read})
	stopInterrupt()
	stopProgress()
	if err != nil && ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		err = ctx.Err() // interrupted, not a read error
	}
	if bad := src.TimestampsOutOfRange(); bad > 0 {
		warnf(stderr, "socktrace: %s: %d packet timestamp(s) out of range (if_tsoffset or if_tsresol past year 9999 or before year 1): shown clamped to %s\n",
			file, bad, "0001-01-01 or 9999-12-31")
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("%s: %w", file, err)
	}
	return n, err
}

// teeSource hands out the packets of src that pass match (all when it is
// nil) and writes each to a pcapng file on the way, as tcpdump -r IN -w
// OUT FILTER does.
type teeSource struct {
	src   *capture.FileReader
	match func(*capture.Packet) bool
	pcap  *pcapOut
	input int
}

func (s *teeSource) Close() error { return s.src.Close() }

func (s *teeSource) ReadPacket(p *capture.Packet) error {
	for {
		if err := s.src.ReadPacket(p); err != nil {
			return err
		}
		if s.match != nil && !s.match(p) {
			continue
		}
		name, snap := "", 0
		if _, known := s.pcap.ifaces[pcapIface{s.input, p.InterfaceIndex, p.LinkType}]; !known {
			// One interface, not Interfaces(): that copies them all, and a
			// file of 65536 interfaces with a packet on each made it
			// quadratic (minutes).
			if ifc, ok := s.src.Interface(p.InterfaceIndex); ok {
				name, snap = ifc.Name, int(ifc.SnapLen)
			}
		}
		if err := s.pcap.write(s.input, name, p, snap, nil); err != nil {
			return err
		}
		return nil
	}
}

// joinFileErrors is the replay's error when some files failed: the last
// file's error as it is (it was not printed yet), after a count of the
// others, which were printed as they happened.
func joinFileErrors(errs []error) error {
	last := errs[len(errs)-1]
	if len(errs) == 1 {
		return last
	}
	return fmt.Errorf("%d of the files failed (the others are above); the last: %w", len(errs), last)
}
