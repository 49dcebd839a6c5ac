package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/socktrace/socktrace/calls"
)

// runProgram traces a program's socket calls (a command it starts, or a
// running process with --pid) while capturing its packets, and explains
// its connections with the calls aligned. The command's exit code becomes
// socktrace's.
func runProgram(c *cli.Context) error {
	argv := c.Args().Slice()
	pid := c.Int("pid")
	switch {
	case pid == 0 && len(argv) == 0:
		return usagef("run needs a command or a process: socktrace run --iface lo -- CMD ARGS..., or socktrace run --pid PID")
	case pid != 0 && len(argv) > 0:
		return usagef("run takes a command or --pid, not both")
	}
	out, err := newOutput(c)
	if err != nil {
		return err
	}
	iface := c.String("iface")
	if iface == "" {
		iface = "lo"
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt)
	defer stop()

	exitCode := 0
	dc, runErr := captureWhile(ctx, iface, func(ctx context.Context, emit func(calls.Event)) error {
		opts := calls.TraceOptions{Events: emit}
		var tr *calls.Tracer
		var err error
		if pid != 0 {
			tr, err = calls.Attach(ctx, pid, opts)
		} else {
			tr, err = calls.Trace(ctx, argv, opts)
		}
		if errors.Is(err, calls.ErrPtraceNotPermitted) {
			fmt.Fprintf(c.App.ErrWriter, "socktrace: %v\nsocktrace: going on with the packets only: every call is inferred from them and marked so\n", err)
			exitCode, err = runUntraced(ctx, argv, pid)
			return err
		}
		if err != nil {
			return err
		}
		exitCode, err = tr.Wait()
		return err
	})
	if dc == nil {
		return runErr
	}
	var execErr *calls.ExecError
	if errors.As(runErr, &execErr) {
		// The command never ran: there is nothing to explain.
		return cli.Exit(fmt.Sprintf("socktrace: %v", execErr), execErr.ExitCode())
	}
	if errors.Is(runErr, context.Canceled) {
		runErr = nil // Ctrl-C: explain what was seen
	}
	if err := explainCapture(c, out, iface, dc, runErr); err != nil {
		return err
	}
	if exitCode != 0 {
		name := strings.Join(argv, " ")
		if pid != 0 {
			name = fmt.Sprintf("process %d", pid)
		}
		return cli.Exit(fmt.Sprintf("socktrace: %s exited with status %d", name, exitCode), exitCode)
	}
	return nil
}

// runUntraced runs the command without tracing (or, for --pid, waits for
// Ctrl-C), for when ptrace is not permitted.
func runUntraced(ctx context.Context, argv []string, pid int) (int, error) {
	if pid != 0 {
		<-ctx.Done()
		return 0, nil
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 127, &calls.ExecError{Name: argv[0], Err: err}
	}
	return 0, nil
}
