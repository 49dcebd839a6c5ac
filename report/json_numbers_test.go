package report

import (
	"math"
	"strconv"
	"testing"
)

// TestAppendUintMatchesStrconv checks the JSON writer's number formatting
// against strconv on every number up to 100000, each power of ten and its
// neighbours, and the largest uint64, written into a buffer with room and
// into one without.
func TestAppendUintMatchesStrconv(t *testing.T) {
	var vs []uint64
	for v := range uint64(100000) {
		vs = append(vs, v)
	}
	for p := uint64(1); ; p *= 10 {
		vs = append(vs, p-1, p, p+1)
		if p > math.MaxUint64/10 {
			break
		}
	}
	vs = append(vs, math.MaxUint64, math.MaxUint64-1, 1<<32-1, 1<<32, 1<<63)
	for _, v := range vs {
		want := strconv.FormatUint(v, 10)
		if got := string(appendUint(make([]byte, 0, 32), v)); got != want {
			t.Fatalf("appendUint(%d) = %q with room", v, got)
		}
		if got := string(appendUint([]byte("x"), v)); got != "x"+want {
			t.Fatalf("appendUint(%d) = %q without room", v, got)
		}
	}
}

// TestJSONAppendStringRemembersOnlyPlain checks that the writer's memory of
// plain strings never lets a string that needs escaping through as is.
func TestJSONAppendStringRemembersOnlyPlain(t *testing.T) {
	j := NewJSON(nil)
	for _, s := range []string{"close", "a\"b", "close", "\x1b[31m", "a\"b", "\x1b[31m", "SYN on the wire", "close"} {
		if got, want := string(j.appendString(nil, s)), string(appendString(nil, s)); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestAppendMicrosMatchesStrconv checks the integer shortcut for whole
// microseconds against the float formatting it replaces, around zero, at
// every scale up to the largest int64, and at the edges of float64's
// exact integers.
func TestAppendMicrosMatchesStrconv(t *testing.T) {
	var ns []int64
	for v := int64(-3000); v <= 3000; v++ {
		ns = append(ns, v)
	}
	for p := int64(1000); p > 0 && p < math.MaxInt64/10; p *= 10 {
		ns = append(ns, p, p-1, p+1, p+1000, -p, 7*p, 123456*p/1000)
	}
	ns = append(ns, 1<<53, 1<<53-1000, 1<<53+1000, -1<<53, -(1<<53)+1000, math.MaxInt64, math.MinInt64, math.MinInt64+808)
	for _, v := range ns {
		want := strconv.FormatFloat(float64(v)/1e3, 'f', -1, 64)
		if got := string(appendMicros(nil, v)); got != want {
			t.Fatalf("appendMicros(%d) = %s, want %s", v, got, want)
		}
	}
}
