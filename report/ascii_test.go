package report

import (
	"bytes"
	"testing"
)

// TestASCIIWriter: nothing but ASCII comes out, the report's symbols are
// spelled in ASCII, and a character split across writes is one character.
func TestASCIIWriter(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"client → server ⇒ 41 µs"}, "client -> server => 41 us"},
		{[]string{"클라이언트"}, "?????"},
		{[]string{"a\xe2\x86", "\x92b"}, "a->b"},
		{[]string{"plain"}, "plain"},
	} {
		var out bytes.Buffer
		w := ASCIIWriter(&out)
		for _, s := range c.in {
			if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
				t.Fatalf("Write(%q) = %d, %v", s, n, err)
			}
		}
		if out.String() != c.want {
			t.Errorf("%q: got %q, want %q", c.in, out.String(), c.want)
		}
	}
}
