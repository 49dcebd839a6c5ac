package report

import "github.com/socktrace/socktrace/internal/neutral"

// Preview renders up to max bytes of payload as a quoted string safe for a
// terminal: printable ASCII stays, everything else — control characters,
// escape sequences, bytes of other encodings — becomes an escape such as
// \r, \n or \x1b, so that bytes from the wire never reach the terminal raw.
func Preview(payload []byte, max int) string {
	return string(neutral.AppendQuotedASCII(nil, payload, max))
}
