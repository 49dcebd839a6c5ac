package main

import (
	"fmt"
	"io"

	"github.com/socktrace/socktrace/internal/neutral"
)

// warnf writes a message on stderr, socktrace's own words as they are and
// every string, error or Stringer it quotes neutralised: those carry file
// names (a replay of * in a directory someone else filled), a traced
// program's argv and its name (which it sets itself with PR_SET_NAME), and
// errors that quote either. The format's own newlines stay.
func warnf(w io.Writer, format string, args ...any) {
	for i, a := range args {
		switch v := a.(type) {
		case string:
			args[i] = neutral.String(v)
		case error:
			args[i] = neutral.String(v.Error())
		case fmt.Stringer:
			args[i] = neutral.String(v.String())
		}
	}
	fmt.Fprintf(w, format, args...)
}
