// Command socktrace shows the life of a TCP connection from both sides at
// once: the socket calls a program makes and the segments they put on the
// wire, with each endpoint's TCP state, on one timeline, explained.
//
// main.go holds the command line only: flags, commands and exit codes. The
// work is done by packages capture, decode, calls, demo and report.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// Exit codes.
const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

// usageError marks an error in how socktrace was called.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

var globalFlags = []cli.Flag{
	&cli.StringFlag{Name: "format", Aliases: []string{"F"}, Value: "text", Usage: "output `FORMAT`: text, diagram or json"},
	&cli.StringFlag{Name: "html", Usage: "also write a self-contained HTML report (sequence diagrams, explanations) to `FILE`"},
	&cli.BoolFlag{Name: "ascii", Usage: "print only ASCII: plain characters for arrows, symbols and diagram lines (English only)"},
	&cli.StringFlag{Name: "color", Value: "auto", Usage: "colour diagrams: `WHEN` is auto (a terminal, unless NO_COLOR is set), always or never"},
	&cli.StringFlag{Name: "explain", Value: "auto", Usage: "which connections text and diagrams explain in full: `WHICH` is auto (the first of each shape and the notable ones; the rest in one line), all, or none (one line per segment, as tcpdump)"},
	&cli.StringFlag{Name: "lang", Value: "", Usage: "explanations in `LANG`: en or ko (default: from $LC_ALL, $LC_MESSAGES or $LANG)"},
	&cli.StringFlag{Name: "read", Aliases: []string{"r"}, Usage: "replay the capture `FILE` (as tcpdump -r)"},
	&cli.StringFlag{Name: "iface", Aliases: []string{"i"}, Usage: "capture on interface `IF` (the demo needs loopback: lo)"},
	&cli.StringFlag{Name: "write", Aliases: []string{"w"}, Usage: "also write the packets and socket calls to `FILE` (pcapng)"},
	&cli.StringFlag{Name: "filter", Usage: "capture filter `EXPR` in pcap-filter syntax (host, net, port, portrange, src, dst, tcp, udp, ip, ip6, and/or/not); it may also follow as trailing arguments"},
	// The ephemeral port range the explanations quote is read from this
	// machine; tests fix it so that golden files do not depend on it.
	&cli.StringFlag{Name: "ephemeral-ports", Hidden: true},
}

// demoFlags apply to the built-in demo.
var demoFlags = []cli.Flag{
	&cli.StringFlag{Name: "scenario", Value: "handshake", Usage: "demo `NAME`, a comma-separated list, or all (see: socktrace scenarios)"},
	&cli.IntFlag{Name: "port", Usage: "server `PORT` for the demo (default: the kernel chooses a free one)"},
	&cli.BoolFlag{Name: "ipv6", Usage: "run the demo on ::1 instead of 127.0.0.1"},
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:  "socktrace",
		Usage: "socket calls and TCP segments on one timeline, explained",
		UsageText: "socktrace --iface lo [--scenario NAME|all]       run the built-in client/server demo on loopback, explain it\n" +
			"socktrace replay FILE... [FILTER]   (or -r FILE)  explain a pcap or pcapng file\n" +
			"socktrace watch --iface IF [FILTER]              explain live connections as they happen\n" +
			"socktrace run --iface lo -- CMD [ARGS...]        trace a program's socket calls and its packets\n" +
			"socktrace scenarios                              list the demo scenarios\n" +
			"Live capture needs root (CAP_NET_RAW, CAP_NET_ADMIN).",
		Writer:    stdout,
		ErrWriter: stderr,
		Flags:     append(append([]cli.Flag{}, globalFlags...), demoFlags...),
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return &usageError{err.Error()}
		},
		// run() turns errors into exit codes; urfave/cli must not exit
		// the process itself (tests call run()).
		ExitErrHandler: func(*cli.Context, error) {},
		Action: func(c *cli.Context) error {
			if file := c.String("read"); file != "" {
				return replay(c, append([]string{file}, c.Args().Slice()...))
			}
			if c.NArg() > 0 {
				return usagef("unknown command %q (try: socktrace help)", c.Args().First())
			}
			if c.String("iface") != "" {
				return runDemo(c)
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			{
				Name:      "run",
				Usage:     "trace a program's socket calls and capture its packets, on one timeline",
				ArgsUsage: "-- CMD [ARGS...]",
				Flags: append(append([]cli.Flag{}, globalFlags...),
					&cli.IntFlag{Name: "pid", Usage: "attach to the running process `PID` instead (until Ctrl-C)"}),
				Action: runProgram,
			},
			{
				Name:      "watch",
				Usage:     "explain live connections on an interface as they happen, until Ctrl-C",
				ArgsUsage: "[FILTER]",
				Flags: append(append([]cli.Flag{}, globalFlags...),
					&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Usage: "stop after `N` connections have ended"},
					&cli.DurationFlag{Name: "duration", Usage: "stop after `D` (such as 30s or 5m)"}),
				Action: watch,
			},
			{
				Name:  "scenarios",
				Usage: "list the built-in demo scenarios (run one with: socktrace --iface lo --scenario NAME)",
				Flags: []cli.Flag{&cli.StringFlag{Name: "lang", Usage: "summaries in `LANG`: en or ko (default: from $LANG)"}},
				Action: func(c *cli.Context) error {
					lang, err := language(c.String("lang"), false)
					if err != nil {
						return err
					}
					listScenarios(c.App.Writer, lang)
					return nil
				},
			},
			{
				Name:      "replay",
				Usage:     "explain every TCP connection in pcap or pcapng files",
				ArgsUsage: "FILE... [FILTER]",
				Flags:     globalFlags,
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return usagef("replay needs a capture file: socktrace replay FILE")
					}
					return replay(c, c.Args().Slice())
				},
			},
		},
		HideHelpCommand: true,
	}
}

func main() {
	// socktrace's live data is small and bounded (the connection table,
	// the open connections' steps); what grows is garbage between
	// collections. A soft limit (64 MiB) makes the collector run before the heap
	// passes it, so that peak memory stays flat however big the input.
	// GOMEMLIMIT, when set, wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(64 << 20)
	}
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run runs socktrace and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.Run(hoistFlags(app, args))
	if err == nil {
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(stderr, "socktrace:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitRuntime
}
