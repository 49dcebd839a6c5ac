package report

import (
	"fmt"
	"strconv"
)

// format is fmt.Sprintf for the message catalogs, which use only %s, %d
// and %%: without fmt's reflection it costs a fraction as much, which
// shows in a text report that formats several sentences per segment. An
// argument of another type, or a verb format does not know, falls back to
// fmt's rendering of that one argument.
func format(f string, args ...any) string {
	return string(appendFormat(nil, f, args...))
}

// appendFormat is format appending to b, for callers that reuse a buffer.
func appendFormat(b []byte, f string, args ...any) []byte {
	next := 0
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' || i+1 == len(f) {
			b = append(b, c)
			continue
		}
		i++
		verb := f[i]
		if verb == '%' {
			b = append(b, '%')
			continue
		}
		if next >= len(args) {
			b = append(b, "%!"...)
			b = append(b, verb)
			b = append(b, "(MISSING)"...)
			continue
		}
		arg := args[next]
		next++
		switch v := arg.(type) {
		case string:
			b = append(b, v...)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case uint16:
			b = strconv.AppendUint(b, uint64(v), 10)
		case uint32:
			b = strconv.AppendUint(b, uint64(v), 10)
		case uint64:
			b = strconv.AppendUint(b, v, 10)
		case fmt.Stringer:
			b = append(b, v.String()...)
		default:
			b = fmt.Append(b, v)
		}
	}
	return b
}
