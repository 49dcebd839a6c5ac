package filter

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Supported lists the forms the compiler understands; every syntax error
// repeats it so that the user can rewrite the filter without the manual.
const Supported = "host, net, port, portrange, src, dst, tcp, udp, ip, ip6, and/or/not (&&, ||, !), parentheses"

// Error is a problem with a filter expression: a token outside the supported
// subset, a syntax error, or a primitive libpcap would also refuse (a mask
// with host bits set, a port above 65535, ...).
type Error struct {
	// Msg says what is wrong, quoting the offending token.
	Msg string
	// Token is the offending token; empty at the end of the expression.
	Token string
	// Line and Col locate the token (1-based; Col counts bytes).
	Line, Col int
	// Syntax is true when the expression falls outside the grammar, in
	// which case Error lists the supported forms.
	Syntax bool
}

func (e *Error) Error() string {
	s := fmt.Sprintf("filter: %s at %d:%d", e.Msg, e.Line, e.Col)
	if e.Syntax {
		s += "; supported: " + Supported
	}
	return s
}

// errorAt builds an *Error for the token at byte offset off of expr.
func errorAt(expr string, tok token, syntax bool, format string, args ...any) *Error {
	off := min(tok.off, len(expr))
	line := 1 + strings.Count(expr[:off], "\n")
	col := off + 1
	if nl := strings.LastIndexByte(expr[:off], '\n'); nl >= 0 {
		col = off - nl
	}
	// A token can be as long as the expression (a megabyte of digits, a
	// name pasted by mistake): the message quotes a short excerpt.
	for i, a := range args {
		if s, ok := a.(string); ok {
			args[i] = excerpt(s)
		}
	}
	return &Error{
		Msg:    fmt.Sprintf(format, args...),
		Token:  excerpt(tok.text),
		Line:   line,
		Col:    col,
		Syntax: syntax,
	}
}

// maxExcerpt is how much of a token an error quotes.
const maxExcerpt = 32

// excerpt is s cut to at most maxExcerpt bytes at a character boundary,
// with "…" when cut.
func excerpt(s string) string {
	if len(s) <= maxExcerpt {
		return s
	}
	cut := maxExcerpt
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
