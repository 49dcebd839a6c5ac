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

// TestFormatCalls: the calls placed on one packet make one comment: a
// count of those before and after the packet, each call in words timed
// from the packet, then each as JSON; ParseComments gives them all back,
// in order.
func TestFormatCalls(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	evs := []Event{
		{Side: Server, Call: Listen, FD: 3, Local: netip.MustParseAddrPort("127.0.0.1:8080"),
			Enter: at.Add(-312412 * time.Microsecond), Exit: at.Add(-312404 * time.Microsecond), Comm: "python3", PID: 50},
		{Side: Client, Call: Connect, FD: 5, Remote: netip.MustParseAddrPort("127.0.0.1:8080"),
			Enter: at.Add(-76 * time.Microsecond), Exit: at.Add(45 * time.Microsecond), Result: -1, Errno: syscall.EINPROGRESS},
		{Side: Server, Call: Accept, FD: 3, Enter: at.Add(41 * time.Microsecond), Exit: at.Add(50 * time.Microsecond), Result: 4,
			Detail: "\x1b]0;title\x07"},
	}
	c := FormatCalls(evs, at)
	lines := strings.Split(c, "\n")
	want := []string{
		"socktrace calls: 2 before this packet, 1 after",
		"  -312.412ms  server python3[50] listen(3, 127.0.0.1:8080) → 0 after 8µs",
		"  -76µs  client connect(5, 127.0.0.1:8080) → -1 EINPROGRESS after 121µs",
	}
	if len(lines) != 1+2*len(evs) {
		t.Fatalf("comment has %d lines, want %d:\n%s", len(lines), 1+2*len(evs), c)
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d = %q, want %q", i, lines[i], w)
		}
	}
	if !strings.HasPrefix(lines[3], "  +41µs  server accept(3) → 4") || strings.ContainsRune(lines[3], '\x1b') {
		t.Errorf("line 3 = %q: want the accept timed +41µs, with its escape neutralised", lines[3])
	}
	var got []Event
	ok, err := ParseComments(c, func(ev Event) { got = append(got, ev) })
	if !ok || err != nil || len(got) != len(evs) {
		t.Fatalf("ParseComments = %v, %v, %d calls; want ok and %d calls", ok, err, len(got), len(evs))
	}
	for i := range evs {
		if got[i].Call != evs[i].Call || got[i].FD != evs[i].FD || !got[i].Enter.Equal(evs[i].Enter) || got[i].Errno != evs[i].Errno {
			t.Errorf("call %d read back as %+v, want %+v", i, got[i], evs[i])
		}
	}
	if FormatCalls(nil, at) != "" {
		t.Error("no calls make a comment")
	}
	for _, tc := range []struct {
		evs  []Event
		want string
	}{
		{evs[:1], "socktrace calls: 1 before this packet\n"},
		{evs[2:], "socktrace calls: 1 after this packet\n"},
	} {
		if c := FormatCalls(tc.evs, at); !strings.HasPrefix(c, tc.want) {
			t.Errorf("FormatCalls = %q, want it to start %q", c, tc.want)
		}
	}
}

// TestParseCommentsFormats: every format socktrace has written reads back
// through ParseComments; a damaged comment gives the calls before the
// damage and an error; a comment of millions of objects stops at a bound.
func TestParseCommentsFormats(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ev := Event{Side: Client, Call: Connect, FD: 5, Enter: t0, Exit: t0}
	one := FormatComment(&ev)
	_, jsonOnly, _ := strings.Cut(one, "\n")
	many := FormatCalls([]Event{ev, ev}, t0)
	for _, tc := range []struct {
		name    string
		comment string
		calls   int
		ok, err bool
	}{
		{"one call, words then JSON", one, 1, true, false},
		{"one call, JSON only", CommentPrefix + jsonOnly, 1, true, false},
		{"several calls", many, 2, true, false},
		{"someone else's comment", "looked at by Alice", 0, false, false},
		{"damaged after the first call", many + "\n{broken", 2, true, true},
		{"a bad address", CallsCommentPrefix + "x\n" + jsonOnly + "\n" + `{"local":"999.1.1.1:80"}`, 1, true, true},
		{"too many calls", CallsCommentPrefix + "x" + strings.Repeat("\n{}", maxCommentCalls+5), maxCommentCalls, true, true},
	} {
		n := 0
		ok, err := ParseComments(tc.comment, func(Event) { n++ })
		if n != tc.calls || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("%s: %d calls, ok %v, err %v; want %d calls, ok %v, error %v", tc.name, n, ok, err, tc.calls, tc.ok, tc.err)
		}
	}
}

// TestNeutraliseZones: an IPv6 zone read from a comment is kept when it is
// an interface's name or index, and dropped (the address kept) when it is
// anything else: every report prints addresses as they are.
func TestNeutraliseZones(t *testing.T) {
	tests := []struct{ zone, want string }{
		{"", ""},
		{"3", "3"},
		{"eth0", "eth0"},
		{"br-1a2b.100_x", "br-1a2b.100_x"},
		{"\x1b]0;pwned\x07", ""},
		{`x","comm":"forged`, ""},
		{"evil\u202e", ""},
		{"a b", ""},
		{strings.Repeat("a", 16), ""},
	}
	for _, tt := range tests {
		ev := Event{Call: Connect,
			Local:  netip.AddrPortFrom(netip.MustParseAddr("fe80::1").WithZone(tt.zone), 1),
			Remote: netip.AddrPortFrom(netip.MustParseAddr("fe80::2").WithZone(tt.zone), 2)}
		ev.Neutralise()
		if ev.Local.Addr().Zone() != tt.want || ev.Remote.Addr().Zone() != tt.want ||
			ev.Local.Addr().WithZone("") != netip.MustParseAddr("fe80::1") || ev.Remote.Port() != 2 {
			t.Errorf("zone %q: local %v, remote %v; want zone %q", tt.zone, ev.Local, ev.Remote, tt.want)
		}
	}
}
