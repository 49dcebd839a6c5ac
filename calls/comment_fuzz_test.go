package calls

import (
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/internal/neutral"
)

// FuzzParseComment reads arbitrary packet comments: it must never panic;
// a comment it accepts has only printable strings, and writing the call
// back with FormatComment and reading it again gives the same call.
//
//	go test -run '^$' -fuzz FuzzParseComment ./calls
func FuzzParseComment(f *testing.F) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Add(FormatComment(&Event{Call: Connect, FD: 3, Enter: t0, Exit: t0, Comm: "curl", PID: 7}))
	f.Add(CommentPrefix + `{"call":"connect","fd":3,"local":"127.0.0.1:1","remote":"[::1]:2","enter":"2026-01-01T00:00:00Z","exit":"2026-01-01T00:00:00Z","result":0,"errno":"ECONNREFUSED"}`)
	f.Add(CommentPrefix + `{"call":"\u001b]0;pwned\u0007","side":"\u202e","comm":"\u009b2J","detail":"\u001b]52;c;eA==\u0007","scenario":"\u0000"}`)
	f.Add(CommentPrefix + `{"local":"999.1.1.1:80"}`)
	f.Add(CommentPrefix + `{"enter":"10000-01-01T00:00:00Z"}`)
	f.Add("not a socktrace comment")
	for _, s := range neutral.Hostile {
		f.Add(CommentPrefix + `{"comm":"` + s + `"}`)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ev, ok, err := ParseComment(s)
		if !strings.HasPrefix(s, CommentPrefix) {
			if ok || err != nil {
				t.Fatalf("ParseComment(%q) = ok %v, err %v for a comment without the prefix", s, ok, err)
			}
			return
		}
		if !ok {
			t.Fatalf("ParseComment(%q): a comment with the prefix is not ok", s)
		}
		if err != nil {
			return
		}
		for _, field := range []string{string(ev.Call), string(ev.Side), ev.Detail, ev.Comm, ev.Scenario} {
			if !neutral.Safe(field) {
				t.Fatalf("ParseComment(%q) keeps %q raw", s, field)
			}
		}
		back, ok, err := ParseComment(FormatComment(&ev))
		if !ok || err != nil {
			t.Fatalf("FormatComment of %+v does not read back: %v", ev, err)
		}
		if back.Call != ev.Call || back.Side != ev.Side || back.Detail != ev.Detail || back.Comm != ev.Comm ||
			back.Scenario != ev.Scenario || back.FD != ev.FD || back.Local != ev.Local || back.Remote != ev.Remote ||
			back.Result != ev.Result || back.Errno != ev.Errno || back.PID != ev.PID || back.TID != ev.TID ||
			back.Inferred != ev.Inferred || !back.Enter.Equal(ev.Enter) || !back.Exit.Equal(ev.Exit) {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", s, back, ev)
		}
	})
}

// FuzzParseComments reads arbitrary comments in the several-call format:
// never a panic, never more than maxCommentCalls calls, only printable
// strings, and what it reads writes back and reads again the same.
//
//	go test -run '^$' -fuzz FuzzParseComments ./calls
func FuzzParseComments(f *testing.F) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Add(FormatCalls([]Event{{Call: Connect, FD: 3, Enter: t0, Exit: t0, Comm: "curl", PID: 7}, {Call: Close, FD: 3, Enter: t0}}, t0))
	f.Add(CallsCommentPrefix + "\n{}\n{}\n{")
	f.Add(CallsCommentPrefix + "\n" + `{"comm":"\u001b[2J","remote":"[::1]:2"}`)
	f.Fuzz(func(t *testing.T, s string) {
		var got []Event
		ok, _ := ParseComments(s, func(ev Event) { got = append(got, ev) })
		if !ok && len(got) > 0 {
			t.Fatalf("ParseComments(%q) gave calls for a foreign comment", s)
		}
		if len(got) > maxCommentCalls {
			t.Fatalf("ParseComments gave %d calls, more than the bound", len(got))
		}
		for _, ev := range got {
			for _, field := range []string{string(ev.Side), string(ev.Call), ev.Comm, ev.Detail, ev.Scenario} {
				if field != neutral.String(field) {
					t.Fatalf("ParseComments(%q) keeps %q raw", s, field)
				}
			}
		}
		if len(got) == 0 {
			return
		}
		var back []Event
		if ok, err := ParseComments(FormatCalls(got, t0), func(ev Event) { back = append(back, ev) }); !ok || err != nil || len(back) != len(got) {
			t.Fatalf("FormatCalls of %d calls reads back as %d: ok %v, %v", len(got), len(back), ok, err)
		}
	})
}
