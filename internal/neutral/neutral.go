// Package neutral makes strings that came from outside socktrace — a traced
// program's name, a packet comment, payload bytes from the wire — safe to
// print. Every such string passes through it before any output, in every
// format: a terminal must never receive an escape sequence (ESC, OSC,
// C1 CSI), a control character, an invalid UTF-8 byte that a terminal could
// read as C1, or a bidirectional override that reorders what a reader sees.
//
// What is unsafe becomes a visible escape in Go's notation: \x1b for a
// control byte or an invalid UTF-8 byte, \u202e for an invisible or
// reordering rune, \n, \r and \t for those three. Printable text — ASCII,
// Korean, arrows — passes unchanged, and a string that needs nothing is
// returned as it is, without allocating.
//
// Neutralising is idempotent: a neutralised string is printable, so a
// second pass returns it unchanged.
package neutral

import (
	"unicode"
	"unicode/utf8"
)

// String returns s with every unsafe byte or rune replaced by an escape.
func String(s string) string {
	if Safe(s) {
		return s
	}
	return string(Append(make([]byte, 0, len(s)+16), s))
}

// Safe reports whether s can be printed as it is.
func Safe(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if !printable(r, size) {
			return false
		}
		i += size
	}
	return true
}

// Append appends s to b, neutralised.
func Append(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				b = appendByteEscape(b, c)
			} else {
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = appendByteEscape(b, c)
		case printable(r, size):
			b = append(b, s[i:i+size]...)
		default:
			b = appendRuneEscape(b, r)
		}
		i += size
	}
	return b
}

// AppendQuotedASCII appends at most max bytes of p to b between double
// quotes, keeping only printable ASCII and escaping the rest byte by byte,
// with " and \ escaped too; a cut is marked with … after the closing quote.
// It is the form for payload previews, whose bytes are in no known
// encoding.
func AppendQuotedASCII(b []byte, p []byte, max int) []byte {
	b = append(b, '"')
	for i, c := range p {
		if i == max {
			return append(b, `"…`...)
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c >= 0x20 && c < 0x7f:
			b = append(b, c)
		default:
			b = appendByteEscape(b, c)
		}
	}
	return append(b, '"')
}

// printable reports whether a decoded rune may be printed: not an invalid
// byte, and a graphic character (letters, marks, numbers, punctuation,
// symbols) rather than a control, format (bidi overrides, zero-width
// characters), separator or private-use code point.
func printable(r rune, size int) bool {
	if r == utf8.RuneError && size == 1 {
		return false
	}
	return unicode.IsPrint(r)
}

const hex = "0123456789abcdef"

func appendByteEscape(b []byte, c byte) []byte {
	switch c {
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	return append(b, '\\', 'x', hex[c>>4], hex[c&0xF])
}

func appendRuneEscape(b []byte, r rune) []byte {
	if r > 0xFFFF {
		b = append(b, '\\', 'U')
		for shift := 28; shift >= 0; shift -= 4 {
			b = append(b, hex[r>>uint(shift)&0xF])
		}
		return b
	}
	b = append(b, '\\', 'u')
	for shift := 12; shift >= 0; shift -= 4 {
		b = append(b, hex[r>>uint(shift)&0xF])
	}
	return b
}
