// Command socktrace shows the life of a TCP connection from both sides at
// once: the socket calls a program makes and the segments they put on the
// wire, with each endpoint's TCP state, on one timeline, explained.
//
// main.go holds the command line only: flags, commands and exit codes. The
// work is done by packages capture, decode, calls, demo and report.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/socktrace/socktrace/internal/neutral"
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
	return &usageError{fmt.Sprintf(localize(format), args...)}
}

// The flags, grouped by what they apply to. Each command lists only the
// flags it honours, so that a flag given where it means nothing is refused
// as unknown instead of being ignored. Usage texts state a default where
// there is one (flagHelp drops urfave/cli's own default notes, so each is
// said once).
var (
	formatFlag  = &cli.StringFlag{Name: "format", Aliases: []string{"F"}, Value: "text", Usage: "output `FORMAT`: text, diagram or json (default: text)"}
	htmlFlag    = &cli.StringFlag{Name: "html", Usage: "also write a self-contained HTML report (sequence diagrams, explanations) to `FILE`"}
	asciiFlag   = &cli.BoolFlag{Name: "ascii", Usage: "print only ASCII: plain characters for arrows, symbols and diagram lines (English only)"}
	colorFlag   = &cli.StringFlag{Name: "color", Value: "auto", Usage: "colour diagrams `WHEN`: auto (a terminal, unless NO_COLOR is set; the default), always or never"}
	explainFlag = &cli.StringFlag{Name: "explain", Value: "auto", Usage: "which connections text and diagrams explain in full: `WHICH` is auto (the default: the first of each shape and the notable ones; the rest in one line), all, or none (one line per segment, as tcpdump). The --html page draws the same connections (auto: at most 200); with all it draws every one and grows with the capture; with none it has only the summary table"}
	langFlag    = &cli.StringFlag{Name: "lang", Usage: "explanations in `LANG`: en or ko (default: from $LC_ALL, $LC_MESSAGES or $LANG)"}
	// The ephemeral port range the explanations quote is read from this
	// machine; tests fix it so that golden files do not depend on it.
	ephemeralFlag = &cli.StringFlag{Name: "ephemeral-ports", Hidden: true}

	readFlag   = &cli.StringFlag{Name: "read", Aliases: []string{"r"}, Usage: "replay the capture `FILE` (as tcpdump -r; the same as: socktrace replay FILE)"}
	ifaceFlag  = &cli.StringFlag{Name: "iface", Aliases: []string{"i"}, Usage: "capture on interface `IF` (the demo: lo)"}
	writeFlag  = &cli.StringFlag{Name: "write", Aliases: []string{"w"}, Usage: "also write the packets, with the socket calls as packet comments, to `FILE` (pcapng)"}
	forceFlag  = &cli.BoolFlag{Name: "force", Usage: "replace an existing --write, --html or --output file (without it socktrace refuses)"}
	filterFlag = &cli.StringFlag{Name: "filter", Usage: "capture filter `EXPR` in pcap-filter syntax (host, net, port, portrange, src, dst, tcp, udp, ip, ip6, and/or/not); it may also follow as trailing arguments"}

	scenarioFlag = &cli.StringFlag{Name: "scenario", Value: "handshake", Usage: "demo `NAME`, a comma-separated list, or all (default: handshake; see: socktrace scenarios)"}
	portFlag     = &cli.IntFlag{Name: "port", Usage: "server `PORT` for the demo, 1–65535 (default: the kernel chooses a free one)"}
	ipv6Flag     = &cli.BoolFlag{Name: "ipv6", Usage: "run the demo on ::1 instead of 127.0.0.1"}
	rttFlag      = &cli.DurationFlag{Name: "rtt", Usage: "run the demo's client and server in two network namespaces joined by a link that adds round-trip time `D` (such as 100ms); the capture is on the client's end"}
	lossFlag     = &cli.StringFlag{Name: "loss", Usage: "with the slow link, drop `P` percent of the packets each way (such as 5%)"}
	stepFlag     = &cli.BoolFlag{Name: "step", Usage: "show the demo's report one event at a time: each segment or call after Enter (a terminal only; text and diagram)"}
)

// reportFlags shape the report and apply to every command that writes one.
var reportFlags = []cli.Flag{formatFlag, htmlFlag, asciiFlag, colorFlag, explainFlag, langFlag, ephemeralFlag}

func flags(groups ...[]cli.Flag) []cli.Flag {
	var all []cli.Flag
	for _, g := range groups {
		all = append(all, g...)
	}
	return all
}

// rootFlags: the demo (--iface lo) and -r FILE.
var rootFlags = flags(reportFlags, []cli.Flag{readFlag, ifaceFlag, writeFlag, forceFlag, filterFlag, scenarioFlag, portFlag, ipv6Flag, rttFlag, lossFlag, stepFlag})

var (
	runFlags = flags(reportFlags, []cli.Flag{
		&cli.StringFlag{Name: "iface", Aliases: []string{"i"}, Usage: "capture on interface `IF`, or any for all of them (default: any, as tcpdump -i any)"},
		&cli.IntFlag{Name: "pid", Usage: "trace the running process `PID` instead of starting a command (until Ctrl-C)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the report to `FILE` instead of stdout (as strace -o), apart from the program's own output"},
		writeFlag, forceFlag,
		&cli.StringFlag{Name: "tracer", Value: "auto", Usage: "record the calls with `TRACER`: ebpf (in the kernel, full speed), ptrace, or auto (ebpf where the kernel allows it, else ptrace)"},
		&cli.StringFlag{Name: "capture", Value: "auto", Usage: "capture the packets with `HOW`: ebpf (in the kernel, only the program's own segments, their headers and the first bytes of payload: the cheapest for the program), afpacket (a packet socket on --iface, whole packets, as tcpdump), or auto (ebpf when the calls are recorded with eBPF, on every interface, and no -w file is written, else afpacket)"},
	})
	watchFlags = flags(reportFlags, []cli.Flag{
		&cli.StringFlag{Name: "iface", Aliases: []string{"i"}, Usage: "capture on interface `IF`, or any for all of them (required)"},
		writeFlag, forceFlag, filterFlag,
		&cli.IntFlag{Name: "count", Aliases: []string{"c"}, Usage: "stop after `N` connections have ended"},
		&cli.DurationFlag{Name: "duration", Usage: "stop after `D` (such as 30s or 5m)"},
		&cli.BoolFlag{Name: "processes", Value: true, Usage: "name the process of each connection (pid, name, user; also for connections older than the watch, through sock_diag and /proc) and show the kernel's states (eBPF; --processes=false turns it off)"},
		&cli.IntFlag{Name: "pid", Usage: "show only the connections of process `PID` (and its threads)"},
		&cli.StringFlag{Name: "comm", Usage: "show only the connections of processes named `NAME` as in /proc/PID/comm, exactly; a comma-separated list for several"},
	})
	replayFlags = flags(reportFlags, []cli.Flag{
		&cli.StringFlag{Name: "write", Aliases: []string{"w"}, Usage: "also write the packets that pass the filter to `FILE` (pcapng, as tcpdump -r IN -w OUT FILTER)"},
		forceFlag, filterFlag,
	})
)

// usageLine is the help's summary of the commands.
const usageLine = "socktrace --iface lo [--scenario NAME|all]       run the built-in client/server demo on loopback, explain it\n" +
	"socktrace replay FILE... [FILTER]   (or -r FILE)  explain a pcap or pcapng file\n" +
	"socktrace watch --iface IF [FILTER]              explain live connections as they happen\n" +
	"socktrace run [--iface IF] -- CMD [ARGS...]      trace a program's socket calls and its packets\n" +
	"socktrace run --pid PID                          the same for a running process, until Ctrl-C\n" +
	"socktrace scenarios                              list the demo scenarios\n" +
	"socktrace help [COMMAND]                         this help, or a command's flags\n" +
	"Live capture needs CAP_NET_RAW (root has it); tracing a program needs ptrace permission."

// onUsageError makes urfave/cli's parse errors one line that says where
// to look.
func onUsageError(c *cli.Context, err error, _ bool) error {
	help := "socktrace --help"
	if c.Command != nil && c.Command.Name != "" && c.Command.Name != c.App.Name {
		help = "socktrace " + c.Command.Name + " --help"
	}
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		if len(name) > 1 {
			name = "-" + name
		}
		return usagef("-%s is not a flag here (%s lists them)", name, help)
	}
	if rest, ok := strings.CutPrefix(err.Error(), "invalid value "); ok {
		return usagef("invalid value %s (%s)", rest, help)
	}
	return &usageError{err.Error()}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "socktrace",
		Usage:     "socket calls and TCP segments on one timeline, explained",
		UsageText: usageLine,
		Version:   version(),
		Writer:    stdout,
		ErrWriter: stderr,
		// The help command below keeps urfave/cli from adding --help
		// itself.
		Flags:        append(slices.Clip(rootFlags), cli.HelpFlag),
		OnUsageError: onUsageError,
		// run() turns errors into exit codes; urfave/cli must not exit
		// the process itself (tests call run()).
		ExitErrHandler: func(*cli.Context, error) {},
		Action:         rootAction,
		Commands: []*cli.Command{
			{
				Name:      "run",
				Usage:     "trace a program's socket calls and capture its packets, on one timeline",
				ArgsUsage: "-- CMD [ARGS...]  (or --pid PID)",
				Flags:     runFlags,
				Action:    runProgram,
			},
			{
				Name:      "watch",
				Usage:     "explain live connections on an interface as they happen, until Ctrl-C",
				ArgsUsage: "[FILTER]",
				Flags:     watchFlags,
				Action:    watch,
			},
			{
				Name:  "scenarios",
				Usage: "list the built-in demo scenarios (run one with: socktrace --iface lo --scenario NAME)",
				Flags: []cli.Flag{&cli.StringFlag{Name: "lang", Usage: "summaries in `LANG`: en or ko (default: from $LC_ALL, $LC_MESSAGES or $LANG)"}},
				Action: func(c *cli.Context) error {
					if c.NArg() > 0 {
						return usagef("scenarios takes no arguments")
					}
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
				Flags:     replayFlags,
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return usagef("replay needs a capture file: socktrace replay FILE")
					}
					return replay(c, c.Args().Slice())
				},
			},
			{
				Name:      "help",
				Usage:     "show the help, or a command's",
				ArgsUsage: "[COMMAND]",
				Action: func(c *cli.Context) error {
					switch c.NArg() {
					case 0:
						return cli.ShowAppHelp(c)
					case 1:
						name := c.Args().First()
						if c.App.Command(name) == nil {
							return unknownCommand(c.App, name)
						}
						return cli.ShowCommandHelp(c.Lineage()[1], name)
					}
					return usagef("help takes one command name at most")
				},
			},
		},
		HideHelpCommand: true,
	}
	for _, cmd := range app.Commands {
		cmd.OnUsageError = onUsageError
		cmd.HideHelpCommand = true
	}
	return app
}

// rootAction is socktrace without a command: the demo, or -r FILE.
func rootAction(c *cli.Context) error {
	if file := c.String("read"); file != "" {
		for _, name := range []string{"iface", "scenario", "port", "ipv6", "rtt", "loss", "step"} {
			if c.IsSet(name) {
				return usagef("--%s does not apply to -r FILE (a replay)", name)
			}
		}
		return replay(c, append([]string{file}, c.Args().Slice()...))
	}
	if c.NArg() > 0 {
		return unknownCommand(c.App, c.Args().First())
	}
	if c.IsSet("filter") {
		return usagef("--filter does not apply to the demo, which keeps only its own connections")
	}
	if c.String("iface") != "" {
		return runDemo(c)
	}
	for _, name := range []string{"scenario", "port", "ipv6", "rtt", "loss", "step"} {
		if c.IsSet(name) {
			return usagef("--%s applies to the demo: add --iface lo", name)
		}
	}
	return cli.ShowAppHelp(c)
}

func unknownCommand(app *cli.App, name string) error {
	var names []string
	for _, cmd := range app.Commands {
		if !cmd.Hidden {
			names = append(names, cmd.Name)
		}
	}
	return usagef("unknown command %q; the commands are %s (socktrace --help explains them)", name, strings.Join(names, ", "))
}

// version is the module version and the VCS revision the binary was built
// from, as the Go toolchain recorded them.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, modified, when string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		case "vcs.time":
			when = ", " + s.Value
		}
	}
	if rev != "" {
		v += " (revision " + rev + modified + when + ")"
	}
	return v + ", " + bi.GoVersion
}

func init() {
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version and the revision it was built from"}
	cli.FlagStringer = flagHelp
}

// flagHelp is a flag's line in --help: its names and its usage text,
// without urfave/cli's "(default: ...)" note — the usage texts say the
// default themselves where there is one, so that it is said once.
func flagHelp(f cli.Flag) string {
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return strings.Join(f.Names(), ", ")
	}
	placeholder, usage := unquoteUsage(koreanFlagUsage(df.GetUsage()))
	if placeholder == "" {
		placeholder = "value"
	}
	var names []string
	for _, n := range f.Names() {
		dash := "--"
		if len(n) == 1 {
			dash = "-"
		}
		if df.TakesValue() {
			n += " " + placeholder
		}
		names = append(names, dash+n)
	}
	return strings.Join(names, ", ") + "\t" + usage
}

// unquoteUsage splits a usage text into the placeholder its backquotes
// name and the text without the backquotes, as urfave/cli does.
func unquoteUsage(usage string) (placeholder, text string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "", usage
	}
	return name, before + name + after
}

func main() {
	// socktrace's live data is small and bounded (the connection table,
	// the open connections' steps); what grows is garbage between
	// collections. A soft limit makes the collector run before the heap
	// passes it, so that peak memory stays flat however big the input.
	// It is 48 MiB so that peak RSS (the limit covers Go's memory, not the
	// binary's own pages, about 9 MiB) stays under 64 MiB with the
	// connection table at its budget (decode.TrackerConfig.MemoryBudget,
	// 30 MiB): 100000 concurrent connections peak at 59 MiB
	// (TestManyConcurrentConnections). GOMEMLIMIT, when set, wins.
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(48 << 20)
	}
	// A closed stdout (socktrace ... | head -1) must make writes fail
	// with EPIPE, which ends the work quietly, instead of killing the
	// process. Notify rather than Ignore: an ignored SIGPIPE would be
	// inherited by the program run traces.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// run may lower socktrace's priority while the program it traces
	// runs (yield.go): this process is socktrace alone.
	yieldCPU = true
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// stopSignals end a capture or a replay the way Ctrl-C does: what was
// read is explained, the files are written, the summary printed. SIGTERM
// is what timeout(1) and systemd send, SIGHUP what a closing terminal
// sends.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// run runs socktrace and returns its exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	defer stop()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := &guardedWriter{w: stdout, stop: cancel}
	cliKorean = wantsKorean(args)
	app := newApp(out, stderr)
	if cliKorean {
		localizeApp(app)
	}
	args = hoistFlags(app, args)
	err := repeatedFlag(app, args)
	if err == nil {
		err = app.RunContext(ctx, args)
	}
	if err == nil {
		err = out.err
	}
	return exitCode(err, stderr)
}

// exitCode prints err, if any, as one line on stderr and returns the exit
// code it calls for.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	if errors.Is(err, syscall.EPIPE) {
		// The reader of the output went away (| head): that is how a
		// pipeline ends, not a failure.
		return exitOK
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, neutral.String(msg))
		}
		return ec.ExitCode()
	}
	// The message quotes file names and programs' names, which anyone
	// may choose: one line, nothing in it a terminal would obey.
	fmt.Fprintln(stderr, "socktrace:", neutral.String(err.Error()))
	var ue *usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitRuntime
}
