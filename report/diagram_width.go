package report

import (
	"strings"
)

// A terminal gives East Asian wide characters — Hangul among them — two
// columns. The diagram lines up its columns by what the terminal shows,
// not by bytes or runes, so that the Korean diagram aligns as the English
// one does.

// runeCells is the number of columns r takes in a terminal.
func runeCells(r rune) int {
	switch {
	case r < 0x1100:
		return 1
	case r <= 0x115f, // Hangul Jamo initial consonants
		r >= 0x2e80 && r <= 0xa4cf && r != 0x303f, // CJK radicals … Yi
		r >= 0xac00 && r <= 0xd7a3,                // Hangul syllables
		r >= 0xf900 && r <= 0xfaff,                // CJK compatibility ideographs
		r >= 0xfe30 && r <= 0xfe4f,                // CJK compatibility forms
		r >= 0xff00 && r <= 0xff60,                // fullwidth forms
		r >= 0xffe0 && r <= 0xffe6,
		r >= 0x20000 && r <= 0x3fffd:
		return 2
	}
	return 1
}

// cells is the number of columns s takes. It must not contain escape
// sequences.
func cells(s string) int {
	// Most text is ASCII: one column a byte.
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return len(s)
	}
	n := 0
	for _, r := range s {
		n += runeCells(r)
	}
	return n
}

// padRight pads s with spaces to w columns.
func padRight(s string, w int) string {
	if n := cells(s); n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return s
}

// padLeft right-aligns s in w columns.
func padLeft(s string, w int) string {
	if n := cells(s); n < w {
		return strings.Repeat(" ", w-n) + s
	}
	return s
}

// fit cuts s to at most w columns, ending it with … when cut.
func fit(s string, w int) string { return fitWith(s, w, "…") }

// fitWith cuts s to at most w columns, ending it with more when cut.
func fitWith(s string, w int, more string) string {
	if cells(s) <= w {
		return s
	}
	n, m := 0, cells(more)
	for i, r := range s {
		c := runeCells(r)
		if n+c > w-m {
			return s[:i] + more
		}
		n += c
	}
	return s
}

// wrapCells breaks s into lines of at most width columns, each line after
// the first indented by indent spaces. Unlike a count of runes, it keeps
// Korean text inside the width. Korean is written with spaces between
// words, so breaking at spaces suits both languages.
func wrapCells(s string, indent, width int) string {
	var b strings.Builder
	col := indent
	for i, word := range strings.Fields(s) {
		n := cells(word)
		if i > 0 {
			if col+1+n > width {
				b.WriteString("\n")
				b.WriteString(strings.Repeat(" ", indent))
				col = indent
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(word)
		col += n
	}
	return b.String()
}
