package main

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// hoistFlags moves flags that follow positional arguments in front of them,
// so that `socktrace replay FILE --format json` works as people type it
// (urfave/cli stops reading flags at the first positional argument).
// Everything after "--" is left alone: it belongs to the traced command.
func hoistFlags(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	flags, start := commandFlags(app, args)
	if start > 1 && args[start-1] == "run" {
		// run's arguments are the traced command's: never reorder them.
		return args
	}
	// Replay's and watch's positional arguments are files and a filter,
	// which never start with "-": a flag among them, known or not, is
	// moved, so that an unknown one is refused rather than read as part of
	// the filter.
	var moved, positional []string
	rest := args[start:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			moved = append(moved, a)
			if takesValue(flags, a) && i+1 < len(rest) {
				moved = append(moved, rest[i+1])
				i++
			}
		default:
			positional = append(positional, a)
		}
	}
	out := append([]string{}, args[:start]...)
	out = append(out, moved...)
	return append(out, positional...)
}

// flagName is the name in "-x", "--name" or "--name=value".
func flagName(a string) string {
	name := strings.TrimLeft(a, "-")
	name, _, _ = strings.Cut(name, "=")
	return name
}

func lookupFlag(flags []cli.Flag, a string) cli.Flag {
	name := flagName(a)
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

func isFlag(flags []cli.Flag, a string) bool { return lookupFlag(flags, a) != nil }

// takesValue reports whether the flag a reads the next argument as its
// value.
func takesValue(flags []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	f := lookupFlag(flags, a)
	if f == nil {
		return false
	}
	_, isBool := f.(*cli.BoolFlag)
	return !isBool
}

// commandFlags returns the flags of the command args name (the app's own
// when there is none) and the index where that command's arguments start.
func commandFlags(app *cli.App, args []string) (flags []cli.Flag, start int) {
	flags, start = app.Flags, 1
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, start
		}
		if strings.HasPrefix(a, "-") {
			if takesValue(flags, a) {
				i++ // skip the flag's value
			}
			continue
		}
		if cmd := app.Command(a); cmd != nil {
			return cmd.Flags, i + 1
		}
		return flags, start
	}
	return flags, start
}

// repeatedFlag refuses a flag given twice (-r A -r B): every flag takes
// one value, and silently keeping the last would drop the first.
func repeatedFlag(app *cli.App, args []string) error {
	flags, start := commandFlags(app, args)
	seen := make(map[cli.Flag]string)
	for i := start; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		f := lookupFlag(flags, a)
		if f == nil {
			continue
		}
		if first, ok := seen[f]; ok {
			return usagef("%s given twice (as %s before): it takes one value; to replay several files: socktrace replay FILE...", strings.SplitN(a, "=", 2)[0], first)
		}
		seen[f] = strings.SplitN(a, "=", 2)[0]
		if takesValue(flags, a) {
			i++
		}
	}
	return nil
}
