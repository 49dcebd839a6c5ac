// Command tracecmd runs a command under calls.Trace and prints its socket
// calls, one line each: a manual check of the tracer outside go test
// (for example as a non-root user with file capabilities).
//
// Usage: tracecmd CMD [ARG...]
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/socktrace/socktrace/calls"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	tr, err := calls.Trace(ctx, os.Args[1:], calls.TraceOptions{
		Events: func(e calls.Event) {
			fmt.Fprintf(os.Stderr, "%s pid=%d tid=%d comm=%s fd=%d local=%v remote=%v result=%d errno=%d side=%s %s %v\n",
				e.Call, e.PID, e.TID, e.Comm, e.FD, e.Local, e.Remote, e.Result, int(e.Errno), e.Side, e.Detail, e.Duration())
		},
	})
	var ee *calls.ExecError
	if errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "tracecmd:", err)
		os.Exit(ee.ExitCode())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracecmd:", err)
		os.Exit(1)
	}
	code, err := tr.Wait()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracecmd:", err)
	}
	fmt.Fprintf(os.Stderr, "exit %d, stats %+v\n", code, tr.Stats())
	os.Exit(code)
}
