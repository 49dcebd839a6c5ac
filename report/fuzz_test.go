package report

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/internal/neutral"
)

// FuzzReportWriters drives every report writer at once — text, streaming
// text, diagram, JSON and HTML, in both languages — with hostile segments
// and socket calls made from the fuzzer's bytes: random flags, sequence
// numbers, payloads, and calls whose every string field (call, side,
// detail, comm, scenario) is a slice of the input. No writer may panic,
// write a control byte or bidi override, or write a JSON line that does not
// parse.
//
// The script is a series of records; the first byte of each says what it
// is (segment or call) and how long its string is.
//
//	go test -run '^$' -fuzz FuzzReportWriters ./report
func FuzzReportWriters(f *testing.F) {
	f.Add([]byte("\x00\x02\x00\x00\x01\x12\x00\x00\x00\x10\x01\x01\x81connect\x1b]0;pwned\x07\x00\x11\x01\x01"))
	f.Add([]byte("\x85\x1b[2J\u202e\x9b\x00\x04\x03\x00\x40GET / HTTP/1.1\r\n\x1b]52;c;x\x07"))
	for _, s := range neutral.Hostile {
		f.Add(append([]byte{0x80 | byte(len(s)&0x3f)}, s...))
	}
	f.Fuzz(func(t *testing.T, script []byte) {
		for _, lang := range []Lang{English, Korean} {
			checkWriters(t, lang, script)
		}
	})
}

func checkWriters(t *testing.T, lang Lang, script []byte) {
	var text, stream, diagram, js, page bytes.Buffer
	w := Tee(
		NewText(&text, TextOptions{Lang: lang, MaxSteps: 5}),
		NewText(&stream, TextOptions{Lang: lang, Stream: true}),
		NewDiagram(&diagram, DiagramOptions{Lang: lang, MaxSteps: 5}),
		NewJSON(&js),
		NewHTML(&page, HTMLOptions{Lang: lang, MaxSteps: 5, Title: string(script[:min(len(script), 16)])}),
	)
	tr := decode.NewTracker(w, decode.TrackerConfig{MaxConnections: 3, Linger: time.Millisecond})
	eps := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.0.1:40000"),
		netip.MustParseAddrPort("127.0.0.1:8080"),
		netip.MustParseAddrPort("[::1]:443"),
	}
	now := time.Unix(1_700_000_000, 0)
	for i, records := 0, 0; i < len(script) && records < 500; records++ {
		op := script[i]
		i++
		now = now.Add(time.Duration(op&0x0f) * time.Microsecond)
		if op&0x80 == 0 {
			// A segment: endpoints, flags, seq, ack; op's bits 4–6 are
			// the payload length, taken from what follows.
			if i+4 > len(script) {
				break
			}
			b := script[i : i+4]
			i += 4
			n := min(int(op>>4&7)*8, len(script)-i)
			payload := script[i : i+n]
			i += n
			s := decode.Segment{
				Time: now, Src: eps[int(b[0])%3], Dst: eps[int(b[0]>>2)%3],
				Flags: decode.Flags(b[1]), Seq: uint32(b[2]) * 1000, Ack: uint32(b[3]) * 1000,
				Len: len(payload), Payload: payload, Window: uint16(b[3]),
			}
			s.Options.WindowScale = -1
			tr.Observe(&s)
			continue
		}
		// A call whose strings are the next n bytes.
		n := min(int(op&0x3f), len(script)-i)
		str := string(script[i : i+n])
		i += n
		names := []calls.Call{calls.Socket, calls.SetSockOpt, calls.Bind, calls.Listen, calls.Connect,
			calls.Accept, calls.Shutdown, calls.Close, calls.Read, calls.Write, calls.Call(str)}
		ev := calls.Event{
			Call: names[n%len(names)], Side: calls.Side(str), FD: n % 5, Local: eps[n%3], Remote: eps[(n+1)%3],
			Enter: now, Exit: now.Add(time.Duration(n) * time.Microsecond), Result: n - 3, Detail: str,
			PID: 1 + n%2, Comm: str, Scenario: str,
		}
		if op&0x40 != 0 {
			ev.Errno = syscall.ECONNREFUSED
			ev.Exit = time.Time{}
		}
		tr.ObserveCall(ev)
	}
	tr.Flush()
	st := tr.Stats()
	s := Summary{Connections: st.Connections, Evicted: st.Evicted, CallsOmitted: st.CallsOmitted,
		Dropped: -1, Err: string(script[:min(len(script), 8)])}
	if err := w.Summary(s); err != nil {
		t.Fatalf("summary: %v", err)
	}
	for name, out := range map[string][]byte{"text": text.Bytes(), "stream": stream.Bytes(), "diagram": diagram.Bytes(), "json": js.Bytes(), "html": page.Bytes()} {
		if bad := firstUnsafe(out); bad != "" {
			t.Fatalf("%s, %s: writes %q raw", lang, name, bad)
		}
	}
	for _, line := range bytes.Split(bytes.TrimSuffix(js.Bytes(), []byte("\n")), []byte("\n")) {
		if !json.Valid(line) {
			t.Fatalf("%s: a JSON line does not parse: %s", lang, line)
		}
	}
	if !strings.HasSuffix(page.String(), "</html>\n") {
		t.Fatalf("%s: the HTML page does not end", lang)
	}
}

// firstUnsafe is the first rune of out a terminal or a reader could be
// fooled by, or "".
func firstUnsafe(out []byte) string {
	s := string(out)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\n':
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0,
			unicode.Is(unicode.Bidi_Control, r), r == 0x2028, r == 0x2029:
			return s[i:min(len(s), i+12)]
		}
		i += size
	}
	return ""
}
