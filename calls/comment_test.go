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
