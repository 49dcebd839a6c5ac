package neutral

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestStringNeutralises(t *testing.T) {
	tests := []struct{ in, want string }{
		{"socktrace", "socktrace"},
		{"연결 → 닫힘", "연결 → 닫힘"},
		{"\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"\u009b31m", `\u009b31m`},
		{"\x9b31m", `\x9b31m`},
		{"evil\u202egnp", `evil\u202egnp`},
		{"a\nb\rc\td", `a\nb\rc\td`},
		{"\xff", `\xff`},
		{"\U000e0041", `\U000e0041`},
		{`already \x1b`, `already \x1b`},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestNothingUnsafeSurvives checks every hostile string, and every single
// rune of the first planes, comes out printable and is stable under a second
// pass.
func TestNothingUnsafeSurvives(t *testing.T) {
	inputs := append([]string(nil), Hostile...)
	for r := rune(0); r < 0x30000; r++ {
		inputs = append(inputs, string(r))
	}
	for b := 0; b < 256; b++ {
		inputs = append(inputs, string([]byte{byte(b)}))
	}
	for _, in := range inputs {
		out := String(in)
		if !clean(out) {
			t.Errorf("String(%q) = %q: still unsafe", in, out)
		}
		if again := String(out); again != out {
			t.Errorf("String(%q) not idempotent: %q then %q", in, out, again)
		}
	}
}

// clean is an independent definition of a safe string.
func clean(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || !unicode.IsGraphic(r) ||
			unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Bidi_Control, r) {
			return false
		}
	}
	return true
}

func TestSafeStringsAreNotCopied(t *testing.T) {
	s := strings.Repeat("connect(3, 127.0.0.1:8080) ", 10)
	if n := testing.AllocsPerRun(100, func() { _ = String(s) }); n != 0 {
		t.Errorf("String of a safe string allocates %v times", n)
	}
}

func TestAppendQuotedASCII(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"GET / HTTP/1.1\r\n", 64, `"GET / HTTP/1.1\r\n"`},
		{"\x1b]0;x\x07", 64, `"\x1b]0;x\x07"`},
		{"\"q\\", 64, `"\"q\\"`},
		{"한", 64, `"\xed\x95\x9c"`},
		{"abcdef", 3, `"abc"…`},
	}
	for _, tt := range tests {
		if got := string(AppendQuotedASCII(nil, []byte(tt.in), tt.max)); got != tt.want {
			t.Errorf("AppendQuotedASCII(%q, %d) = %s, want %s", tt.in, tt.max, got, tt.want)
		}
	}
}
