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
	flags := app.Flags
	start := 1
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" || strings.HasPrefix(a, "-") {
			if takesValue(flags, a) {
				i++ // skip the flag's value
			}
			if a == "--" {
				return args
			}
			continue
		}
		if cmd := app.Command(a); cmd != nil {
			flags = cmd.Flags
			start = i + 1
		}
		break
	}
	var moved, positional []string
	rest := args[start:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			positional = append(positional, rest[i:]...)
			i = len(rest)
		case strings.HasPrefix(a, "-") && a != "-" && isFlag(flags, a):
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
