package report

import (
	"io"
	"unicode/utf8"
)

// ASCIIWriter returns a writer that passes on only ASCII: --ascii promises
// output without a single other character, for terminals, logs and fonts
// that have none. The report's own symbols get ASCII spellings (→ "->",
// µs "us", – "-"); any other character (a Korean word, a character from a
// traced program's name) becomes "?". A character split across two
// writes is handled.
func ASCIIWriter(w io.Writer) io.Writer { return &asciiWriter{w: w} }

type asciiWriter struct {
	w       io.Writer
	partial []byte // the start of a character the last write cut
	buf     []byte
}

// asciiSpelling spells the report's non-ASCII symbols in ASCII.
var asciiSpelling = map[rune]string{
	'→': "->", '←': "<-", '⇒': "=>", '↔': "<->", 'µ': "u", '–': "-", '—': "--",
	'×': "x", '…': "...", '│': "|", '─': "-", '┄': ".", '▶': ">", '◀': "<",
	'┐': "+", '┘': "+", '┌': "+", '└': "+", '·': ".", '≤': "<=", '≥': ">=",
}

func (a *asciiWriter) Write(p []byte) (int, error) {
	n := len(p)
	in := p
	if len(a.partial) > 0 {
		in = append(a.partial, p...)
		a.partial = nil
	}
	b := a.buf[:0]
	for i := 0; i < len(in); {
		c := in[i]
		if c < utf8.RuneSelf {
			b = append(b, c)
			i++
			continue
		}
		if !utf8.FullRune(in[i:]) {
			a.partial = append([]byte(nil), in[i:]...)
			break
		}
		r, size := utf8.DecodeRune(in[i:])
		i += size
		if s, ok := asciiSpelling[r]; ok {
			b = append(b, s...)
		} else {
			b = append(b, '?')
		}
	}
	a.buf = b
	if _, err := a.w.Write(b); err != nil {
		return 0, err
	}
	return n, nil
}
