package report

import "strings"

// Preview renders up to max bytes of payload as a quoted string safe for a
// terminal: printable ASCII stays, everything else — control characters,
// escape sequences, bytes of other encodings — becomes an escape such as
// \r, \n or \x1b, so that bytes from the wire never reach the terminal raw.
func Preview(payload []byte, max int) string {
	var b strings.Builder
	b.WriteByte('"')
	for i, c := range payload {
		if i == max {
			b.WriteString(`"…`)
			return b.String()
		}
		switch {
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			const hex = "0123456789abcdef"
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
		}
	}
	b.WriteByte('"')
	return b.String()
}
