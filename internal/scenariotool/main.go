// Command scenariotool runs one of socktrace's demo scenarios, so that
// testdata/make-captures.sh can record it with tcpdump or tshark. It is a
// tool for making test captures, not part of socktrace's interface.
//
//	go run ./internal/scenariotool -scenario NAME [-port P] [-ipv6] [-n COUNT] [-v]
//
// With -v it prints every socket call to stderr, one line each, so that a
// capture's README can say what the scenario really did.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/demo"
)

func main() {
	name := flag.String("scenario", "handshake", "scenario to run: "+strings.Join(demo.Names(), ", "))
	port := flag.Int("port", 0, "server port (0: the kernel chooses)")
	ipv6 := flag.Bool("ipv6", false, "use ::1 instead of 127.0.0.1")
	count := flag.Int("n", 1, "run the scenario this many times, one after another")
	verbose := flag.Bool("v", false, "print every socket call to stderr")
	flag.Parse()
	if flag.NArg() > 0 || *count < 1 {
		flag.Usage()
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, unix.SIGTERM)
	defer stop()
	opts := demo.Options{IPv6: *ipv6, Port: *port}
	if *verbose {
		opts.Calls = printCall
	}
	if err := run(ctx, *name, opts, *count); err != nil {
		fmt.Fprintln(os.Stderr, "scenariotool:", err)
		os.Exit(1)
	}
}

// run runs the scenario count times. When many runs exhaust a small
// ephemeral port range, connect fails with EADDRNOTAVAIL until a port in
// TIME_WAIT may be reused (on loopback, with net.ipv4.tcp_tw_reuse=2, one
// second after its last segment): wait and try again rather than fail.
func run(ctx context.Context, name string, opts demo.Options, count int) error {
	const maxWaits = 100 // 10 s without a free port: something else is wrong
	waits, totalWaits := 0, 0
	defer func() {
		if totalWaits > 0 {
			fmt.Fprintf(os.Stderr, "scenariotool: connect found no free local port (EADDRNOTAVAIL) %d times; waited 100 ms each time\n", totalWaits)
		}
	}()
	for i := 0; i < count; {
		err := demo.Run(ctx, name, opts)
		if errors.Is(err, unix.EADDRNOTAVAIL) && waits < maxWaits {
			waits++
			totalWaits++
			select {
			case <-time.After(100 * time.Millisecond):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return fmt.Errorf("run %d of %d: %w", i+1, count, err)
		}
		waits = 0
		i++
	}
	return nil
}

func printCall(ev calls.Event) {
	errno := ""
	if ev.Errno != 0 {
		errno = " " + unix.ErrnoName(ev.Errno)
	}
	fmt.Fprintf(os.Stderr, "%s %-6s tid=%d %-10s fd=%-2d %v -> %v = %d%s [%v] %s\n",
		ev.Enter.Format("15:04:05.000000"), ev.Side, ev.TID, ev.Call, ev.FD,
		ev.Local, ev.Remote, ev.Result, errno, ev.Duration(), ev.Detail)
}
