package calls

import (
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestCommentRoundTrip(t *testing.T) {
	enter := time.Date(2026, 11, 25, 13, 0, 0, 123456789, time.UTC)
	events := []Event{
		{Side: Client, Call: Connect, FD: 5, Local: netip.MustParseAddrPort("127.0.0.1:40000"),
			Remote: netip.MustParseAddrPort("127.0.0.1:8080"), Enter: enter, Exit: enter.Add(41 * time.Microsecond),
			PID: 10, TID: 11, Comm: "socktrace", Scenario: "handshake"},
		{Side: Client, Call: Connect, FD: 3, Remote: netip.MustParseAddrPort("[::1]:9"), Enter: enter,
			Exit: enter.Add(time.Millisecond), Result: -1, Errno: syscall.ECONNREFUSED},
		{Side: Server, Call: Shutdown, FD: 7, Enter: enter, Detail: "SHUT_WR \"quoted\" ✓"},
	}
	for _, ev := range events {
		c := FormatComment(&ev)
		if !strings.HasPrefix(c, CommentPrefix) {
			t.Fatalf("comment %q lacks the prefix", c)
		}
		got, ok, err := ParseComment(c)
		if !ok || err != nil {
			t.Fatalf("ParseComment(%q) = ok %v, err %v", c, ok, err)
		}
		if !got.Enter.Equal(ev.Enter) || !got.Exit.Equal(ev.Exit) {
			t.Errorf("times %v %v, want %v %v", got.Enter, got.Exit, ev.Enter, ev.Exit)
		}
		got.Enter, got.Exit, ev.Enter, ev.Exit = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if got != ev {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, ev)
		}
	}
}

func TestParseCommentOthers(t *testing.T) {
	if _, ok, _ := ParseComment("written by Wireshark"); ok {
		t.Error("a foreign comment was taken for a call")
	}
	if _, ok, err := ParseComment(CommentPrefix + "{not json"); !ok || err == nil {
		t.Errorf("a broken call comment: ok %v err %v, want ok and an error", ok, err)
	}
}

// TestCommentReadableFirst: a comment is the call in words, then its JSON;
// both that and the older JSON-only comment read back.
func TestCommentReadableFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := Event{Side: Client, Call: Connect, FD: 5, Remote: netip.MustParseAddrPort("127.0.0.1:18083"),
		Enter: t0, Exit: t0.Add(93 * time.Microsecond), Result: -1, Errno: syscall.EINPROGRESS, PID: 520, Comm: "curl"}
	c := FormatComment(&ev)
	first, second, ok := strings.Cut(c, "\n")
	want := "socktrace call: client curl[520] connect(5, 127.0.0.1:18083) → -1 EINPROGRESS after 93µs"
	if !ok || first != want || !strings.HasPrefix(second, "{") {
		t.Fatalf("comment %q; want the first line %q, then JSON", c, want)
	}
	for _, s := range []string{c, CommentPrefix + second} {
		back, ok, err := ParseComment(s)
		if !ok || err != nil || back.Call != Connect || back.FD != 5 || back.Errno != syscall.EINPROGRESS || back.Remote != ev.Remote || !back.Exit.Equal(ev.Exit) {
			t.Errorf("ParseComment(%q) = %+v, %v, %v", s, back, ok, err)
		}
	}
}
