package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
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

func newOutput(c *cli.Context) (output, error) { return makeOutput(c, false) }

// makeOutput makes the report writer --format asks for. A batch report (a
// replay) may format JSON on a goroutine of its own; a live one writes
// each line as it comes.
func makeOutput(c *cli.Context, batch bool) (output, error) {
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
	color, err := useColor(c)
	if err != nil {
		return nil, err
	}
	w, width := c.App.Writer, termWidth(c.App.Writer)
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
		out = report.NewText(w, report.TextOptions{Lang: lang, Ephemeral: eph, Width: width, Explain: explain})
	case "json":
		if batch {
			out = report.NewAsyncJSON(c.App.Writer)
		} else {
			out = report.NewJSON(c.App.Writer)
		}
	case "diagram":
		if explain == report.ExplainNone {
			// A line per segment is the same whatever the format.
			out = report.NewText(w, report.TextOptions{Lang: lang, Ephemeral: eph, Width: width, Explain: explain})
			break
		}
		out = report.NewDiagram(w, report.DiagramOptions{Lang: lang, Ephemeral: eph, ASCII: c.Bool("ascii"), Color: color, Width: width, Explain: explain})
	default:
		return nil, usagef("unknown format %q: use text, diagram or json", f)
	}
	if path := c.String("html"); path != "" {
		title := "socktrace " + strings.Join(c.Args().Slice(), " ")
		if f := c.String("read"); f != "" {
			title = "socktrace " + f
		}
		h, err := report.CreateHTML(path, report.HTMLOptions{Lang: lang, Ephemeral: eph, Title: strings.TrimSpace(title)})
		if err != nil {
			return nil, fmt.Errorf("--html: %w", err)
		}
		out = report.Tee(out, h)
	}
	return out, nil
}

// useColor decides --color: auto colours only a terminal, and never when
// NO_COLOR is set (https://no-color.org).
func useColor(c *cli.Context) (bool, error) {
	f, ok := c.App.Writer.(*os.File)
	color, err := report.ColorMode(c.String("color"), ok && isTerminal(f), os.Getenv("NO_COLOR"))
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
	if f, ok := w.(*os.File); ok {
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
// filter may follow the files.
func replay(c *cli.Context, files []string) error {
	out, err := makeOutput(c, true)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()
	files, trailing := splitFiles(files)
	match, err := matchFunc(filterExpr(c, trailing))
	if err != nil {
		return err
	}
	tracker := decode.NewTracker(out, decode.TrackerConfig{})
	var (
		total  decode.Counts
		runErr error
	)
	for _, file := range files {
		n, err := replayFile(ctx, file, tracker, match)
		total.Packets += n.Packets
		total.TCP += n.TCP
		total.Other += n.Other
		total.Malformed += n.Malformed
		// Connections do not continue from one file into the next.
		tracker.Flush()
		if err != nil {
			runErr = err
			break
		}
	}
	return finish(out, tracker, total, -1, runErr)
}

// finish writes the report's summary — the packet counts, the tracker's
// connection counts, the drops (-1: not applicable, as for a file) and
// the error that ended the input — and returns the command's error. Ctrl-C
// is not one: what was read has been explained.
func finish(out output, t *decode.Tracker, n decode.Counts, dropped int64, runErr error) error {
	st := t.Stats()
	summary := report.Summary{Counts: n, Connections: st.Connections, Evicted: st.Evicted, CallsOmitted: st.CallsOmitted, Dropped: dropped,
		Resumed: st.Resumed, Late: st.Late}
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		summary.Err = runErr.Error()
	}
	if err := out.Summary(summary); err != nil && runErr == nil {
		runErr = fmt.Errorf("write output: %w", err)
	}
	if errors.Is(runErr, context.Canceled) {
		return nil
	}
	return runErr
}

func replayFile(ctx context.Context, file string, t *decode.Tracker, match func(*capture.Packet) bool) (decode.Counts, error) {
	src, err := capture.OpenFile(file)
	if err != nil {
		if errors.Is(err, capture.ErrNotCaptureFile) {
			return decode.Counts{}, fmt.Errorf("%s: %w", file, capture.ErrNotCaptureFile)
		}
		return decode.Counts{}, err
	}
	defer src.Close()
	var read atomic.Int64
	stopProgress := startProgress(file, src, &read)
	n, err := decode.Run(ctx, src, t, decode.RunOptions{Match: match, Progress: &read})
	stopProgress()
	if err != nil && !errors.Is(err, context.Canceled) {
		err = fmt.Errorf("%s: %w", file, err)
	}
	return n, err
}
