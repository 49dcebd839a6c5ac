package report

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

// appendTime formats by arithmetic; it must agree with the time package.
func TestAppendTime(t *testing.T) {
	var tc timeCache
	r := rand.New(rand.NewPCG(1, 2))
	times := []time.Time{
		time.Date(2026, 11, 25, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC),
		time.Unix(0, 1),
	}
	for i := 0; i < 10000; i++ {
		times = append(times, time.Unix(r.Int64N(4_000_000_000)-1_000_000_000, r.Int64N(1e9)))
	}
	for _, tm := range times {
		got := string(tc.appendTime(nil, tm))
		want := `"` + tm.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") + `"`
		if got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
	if got := string(tc.appendTime(nil, time.Time{})); got != "null" {
		t.Errorf("zero time: %s, want null", got)
	}
}

// appendString must give valid JSON that decodes back to printable text,
// whatever bytes it is given, and never let a control character through.
func TestAppendString(t *testing.T) {
	for _, s := range []string{"plain", `quote " and \ backslash`, "tab\tnew\nline\r", "esc \x1b[31mred", "한국어 →", "bad \xff utf8", "\u200b zero width"} {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("appendString(%q) = %s: not JSON: %v", s, b, err)
		}
		if strings.ContainsAny(string(b), "\x1b\r\t\x00") {
			t.Errorf("appendString(%q) = %q lets a control character through", s, b)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("hello\x1b[2J")
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("appendString(%q) = %s: not JSON: %v", s, b, err)
		}
		for _, c := range b {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("appendString(%q) = %q has a raw control byte", s, b)
			}
		}
	})
}

func TestAppendInt(t *testing.T) {
	values := []int64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 4294967295, -1, -1234567890123, 1<<63 - 1, -1 << 63}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		// Every length of number, from 1 to 19 digits.
		values = append(values, r.Int64N(int64(math.Pow10(1+r.IntN(18)))))
	}
	for _, v := range values {
		got := string(appendInt([]byte("x"), v))
		want := "x" + strconv.FormatInt(v, 10)
		if got != want {
			t.Errorf("appendInt(%d) = %s, want %s", v, got, want)
		}
	}
}

// format must agree with fmt.Sprintf on every message of every catalog.
func TestFormatMatchesSprintf(t *testing.T) {
	ints := []any{42, uint16(8080), int64(-7), uint32(9)}
	for lang, cat := range catalogs {
		for id, f := range cat {
			var args []any
			for i := 0; i+1 < len(f); i++ {
				if f[i] != '%' {
					continue
				}
				switch f[i+1] {
				case 's':
					args = append(args, "client")
				case 'd':
					args = append(args, ints[len(args)%len(ints)])
				}
				i++
			}
			want := fmt.Sprintf(f, args...)
			if got := format(f, args...); got != want {
				t.Errorf("%s %s:\n got %q\nwant %q", lang, id, got, want)
			}
		}
	}
}
