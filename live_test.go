package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/internal/freeport"
)

// These tests run the built-in scenarios for real: real sockets on
// loopback, captured by a real AF_PACKET ring. They need CAP_NET_RAW and
// skip without it, saying so; CI runs as root, so there they run.

func needCapture(t *testing.T) {
	t.Helper()
	src, err := capture.OpenLive("lo", capture.LiveOptions{})
	if errors.Is(err, capture.ErrPermission) {
		t.Skipf("live capture needs CAP_NET_RAW (run the tests as root): %v", err)
	}
	if err != nil {
		t.Fatalf("open live capture on lo: %v", err)
	}
	src.Close()
}

type jsonSegment struct {
	Conn        int       `json:"conn"`
	Time        time.Time `json:"time"`
	From        string    `json:"from"`
	Flags       []string  `json:"flags"`
	Kind        string    `json:"kind"`
	Seq         uint32    `json:"seq"`
	Len         int       `json:"len"`
	Ack         uint32    `json:"ack"`
	Window      int       `json:"window"`
	ClientState *string   `json:"client_state"`
	ServerState *string   `json:"server_state"`
}

type jsonCall struct {
	Side     string    `json:"side"`
	Call     string    `json:"call"`
	FD       *int      `json:"fd"`
	Enter    time.Time `json:"enter"`
	Exit     time.Time `json:"exit"`
	Result   *int      `json:"result"`
	Errno    *string   `json:"errno"`
	Inferred bool      `json:"inferred"`
	Detail   string    `json:"detail"`
	PID      int       `json:"pid"`
	Comm     string    `json:"comm"`
}

type jsonConn struct {
	ID             int                   `json:"id"`
	Client         string                `json:"client"`
	Server         string                `json:"server"`
	Handshake      string                `json:"handshake"`
	Close          string                `json:"close"`
	FirstFIN       *string               `json:"first_fin"`
	RSTFrom        *string               `json:"rst_from"`
	TimeWait       *string               `json:"time_wait"`
	HalfClose      bool                  `json:"half_close"`
	SYNRetransmits int                   `json:"syn_retransmits"`
	IRTT           *float64              `json:"irtt_us"`
	Packets        int                   `json:"packets"`
	BytesC2S       int64                 `json:"bytes_c2s"`
	BytesS2C       int64                 `json:"bytes_s2c"`
	ConnState      string                `json:"conn_state"`
	History        string                `json:"history"`
	States         map[string][]string   `json:"states"`
	Calls          []jsonCall            `json:"calls"`
	Scenario       string                `json:"scenario"`
	Processes      map[string]*jsonOwner `json:"processes"`
}

// jsonOwner is a side's process in a connection object (watch).
type jsonOwner struct {
	PID          int    `json:"pid"`
	Comm         string `json:"comm"`
	UID          int    `json:"uid"`
	User         string `json:"user"`
	BeforeStart  bool   `json:"before_start"`
	StateAtStart string `json:"state_at_start"`
}

type jsonReport struct {
	segments []jsonSegment
	conns    []jsonConn
	summary  map[string]any
}

func parseReport(t *testing.T, out []byte) jsonReport {
	t.Helper()
	var r jsonReport
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var head struct{ Type string }
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		switch head.Type {
		case "segment":
			var s jsonSegment
			if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
				t.Fatal(err)
			}
			r.segments = append(r.segments, s)
		case "connection":
			var c jsonConn
			if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
				t.Fatal(err)
			}
			r.conns = append(r.conns, c)
		case "summary":
			if err := json.Unmarshal(sc.Bytes(), &r.summary); err != nil {
				t.Fatal(err)
			}
		}
	}
	return r
}

func str(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// slack is how far a call may seem to precede or follow the segment it
// causes: the call's clock is read in user space around the syscall, the
// packet's in the kernel, and both are CLOCK_REALTIME.
const slack = 20 * time.Microsecond

func TestDemoScenariosLive(t *testing.T) {
	needCapture(t)
	want := map[string]struct {
		conns                       int
		handshake, close            string
		firstFIN, rstFrom, timeWait string
		halfClose                   bool
		connState                   string
	}{
		"handshake":           {1, "three-way", "graceful", "client", "null", "client", false, "SF"},
		"refused":             {1, "refused", "none", "null", "server", "null", false, "REJ"},
		"abort":               {1, "three-way", "reset", "null", "client", "null", false, "RSTO"},
		"half-close":          {1, "three-way", "graceful", "client", "null", "client", true, "SF"},
		"server-closes-first": {1, "three-way", "graceful", "server", "null", "server", false, "SF"},
		"unread-data-close":   {1, "three-way", "reset", "null", "server", "null", false, "RSTR"},
		"late-accept":         {1, "three-way", "graceful", "client", "null", "client", false, "SF"},
		"self-connect":        {1, "simultaneous-open", "graceful", "both", "null", "both", false, "SH"}, // Zeek: one endpoint, the responder INACTIVE
		"shared-port":         {3, "three-way", "graceful", "client", "null", "client", false, "SF"},
		"port-in-use":         {1, "three-way", "graceful", "server", "null", "server", false, "SF"},
		"reuseport":           {4, "three-way", "graceful", "client", "null", "client", false, "SF"},
		"backlog-full":        {3, "three-way", "graceful", "client", "null", "client", false, "SF"},
		"send-buffer":         {1, "three-way", "graceful", "client", "null", "client", false, "SF"},
		"udp":                 {0, "", "", "", "", "", false, ""},
	}
	for _, ipv6 := range []bool{false, true} {
		args := []string{"socktrace", "--iface", "lo", "--scenario", "all", "--format", "json"}
		name := "ipv4"
		if ipv6 {
			args = append(args, "--ipv6")
			name = "ipv6"
		}
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(args, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			r := parseReport(t, out.Bytes())
			got := map[string]int{}
			for _, c := range r.conns {
				got[c.Scenario]++
				w, ok := want[c.Scenario]
				if !ok {
					t.Errorf("connection %d has scenario %q", c.ID, c.Scenario)
					continue
				}
				if c.Handshake != w.handshake || c.Close != w.close || str(c.FirstFIN) != w.firstFIN ||
					str(c.RSTFrom) != w.rstFrom || str(c.TimeWait) != w.timeWait || c.HalfClose != w.halfClose || c.ConnState != w.connState {
					t.Errorf("%s: handshake %s close %s first_fin %s rst_from %s time_wait %s half_close %v conn_state %s; want %+v",
						c.Scenario, c.Handshake, c.Close, str(c.FirstFIN), str(c.RSTFrom), str(c.TimeWait), c.HalfClose, c.ConnState, w)
				}
				if ipv6 != strings.HasPrefix(c.Client, "[") {
					t.Errorf("%s: client %s, want IPv6 %v", c.Scenario, c.Client, ipv6)
				}
				checkCausality(t, c, r.segments)
			}
			for name, w := range want {
				if got[name] != w.conns {
					t.Errorf("scenario %s: %d connections, want %d", name, got[name], w.conns)
				}
			}
			if d, _ := r.summary["dropped"].(float64); d != 0 {
				t.Errorf("the kernel dropped %v packets", d)
			}
		})
	}
}

// checkCausality checks the order of calls and segments docs/architecture.md fixes:
// connect enters before its SYN and returns after the handshake's ACK,
// accept returns after that ACK, close and shutdown enter before the FIN
// or RST they cause. Loopback shows each packet once: one SYN.
func checkCausality(t *testing.T, c jsonConn, all []jsonSegment) {
	t.Helper()
	var segs []jsonSegment
	for _, s := range all {
		if s.Conn == c.ID {
			segs = append(segs, s)
		}
	}
	find := func(from, kind string) (jsonSegment, bool) {
		for _, s := range segs {
			if (from == "" || s.From == from) && s.Kind == kind {
				return s, true
			}
		}
		return jsonSegment{}, false
	}
	syns := 0
	for _, s := range segs {
		if reflect.DeepEqual(s.Flags, []string{"SYN"}) && s.From == "client" {
			syns++
		}
	}
	if c.Handshake != "simultaneous-open" && syns != 1+c.SYNRetransmits {
		t.Errorf("%s: %d SYNs from the client, want exactly 1 and its %d retransmissions (each loopback packet once)", c.Scenario, syns, c.SYNRetransmits)
	}
	syn, _ := find("client", "syn")
	hsACK, established := find("", "handshake-ack")
	for _, call := range c.Calls {
		if call.Inferred {
			continue
		}
		switch call.Call {
		case "connect":
			if !call.Enter.Before(syn.Time.Add(slack)) {
				t.Errorf("%s: connect entered at %v, after its SYN at %v", c.Scenario, call.Enter, syn.Time)
			}
			switch {
			case call.Errno != nil:
				// EINPROGRESS (a non-blocking connect) returns before
				// the handshake ends, and so does a failure.
			case strings.Contains(call.Detail, "complete"):
				// A non-blocking connect's completion, as the eBPF
				// recorder times it, is the client socket's move to
				// ESTABLISHED: on the SYN-ACK, before the client's
				// kernel sends the handshake's ACK.
				if synack, ok := find("server", "syn-ack"); ok && call.Exit.Before(synack.Time.Add(-slack)) {
					t.Errorf("%s: connect completed at %v, before the SYN-ACK at %v", c.Scenario, call.Exit, synack.Time)
				}
			case established && call.Exit.Before(hsACK.Time.Add(-slack)):
				t.Errorf("%s: connect returned at %v, before the handshake's ACK at %v", c.Scenario, call.Exit, hsACK.Time)
			}
		case "accept":
			if call.Errno != nil {
				// Go's accept loop: EAGAIN until a connection is
				// queued (watch's eBPF recorder sees those too).
				continue
			}
			if established && call.Exit.Before(hsACK.Time.Add(-slack)) {
				t.Errorf("%s: accept returned at %v, before the handshake's ACK at %v", c.Scenario, call.Exit, hsACK.Time)
			}
		case "close", "shutdown":
			// The FIN or RST this call caused: the first one from its side
			// after it entered.
			for _, s := range segs {
				if s.From != call.Side && c.Handshake != "simultaneous-open" {
					continue
				}
				if (s.Kind == "fin" || s.Kind == "rst") && !s.Time.Before(call.Enter.Add(-slack)) {
					if call.Call == "close" && !call.Exit.IsZero() && s.Time.After(call.Exit.Add(time.Second)) {
						t.Errorf("%s: %s's segment at %v long after it returned at %v", c.Scenario, call.Call, s.Time, call.Exit)
					}
					break
				}
			}
		}
	}
	if c.Scenario == "late-accept" {
		for _, call := range c.Calls {
			if call.Call == "accept" && !call.Inferred && call.Enter.Sub(hsACK.Time) < 100*time.Millisecond {
				t.Errorf("late-accept: accept entered %v after the handshake completed, want ≥100ms", call.Enter.Sub(hsACK.Time))
			}
		}
	}
}

// TestWriteThenReplay checks that a pcapng written by a live run replays to
// the same connections, with the same calls.
func TestWriteThenReplay(t *testing.T) {
	needCapture(t)
	file := filepath.Join(t.TempDir(), "demo.pcapng")
	var live, replayed, errOut bytes.Buffer
	if code := run([]string{"socktrace", "--iface", "lo", "--scenario", "all", "--format", "json", "--write", file}, &live, &errOut); code != 0 {
		t.Fatalf("live run: exit %d: %s", code, errOut.String())
	}
	if code := run([]string{"socktrace", "replay", "--format", "json", file}, &replayed, &errOut); code != 0 {
		t.Fatalf("replay: exit %d: %s", code, errOut.String())
	}
	a, b := parseReport(t, live.Bytes()), parseReport(t, replayed.Bytes())
	if len(a.conns) == 0 || len(a.conns) != len(b.conns) {
		t.Fatalf("live run found %d connections, replay %d", len(a.conns), len(b.conns))
	}
	for i := range a.conns {
		if !reflect.DeepEqual(a.conns[i], b.conns[i]) {
			t.Errorf("connection %d differs after write and replay:\nlive:   %+v\nreplay: %+v", a.conns[i].ID, a.conns[i], b.conns[i])
		}
	}
}

func TestDemoErrors(t *testing.T) {
	needCapture(t)
	// A port someone already listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--iface", "nosuch0"}, 1, "interfaces here"},
		{[]string{"--iface", "lo", "--scenario", "nosuch"}, 2, "unknown scenario"},
		{[]string{"--iface", "lo", "--port", busy}, 1, "port " + busy + " is already in use"},
	}
	// The demo needs loopback: a real non-loopback interface says so.
	if ifs, err := net.Interfaces(); err == nil {
		for _, ifi := range ifs {
			if ifi.Flags&net.FlagLoopback == 0 && ifi.Flags&net.FlagUp != 0 {
				tests = append(tests, struct {
					args []string
					code int
					want string
				}{[]string{"--iface", ifi.Name}, 2, "use --iface lo"})
				break
			}
		}
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(append([]string{"socktrace"}, tt.args...), &out, &errOut)
		if code != tt.code || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("socktrace %s: exit %d, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), code, errOut.String(), tt.code, tt.want)
		}
	}
}

// TestDemoFixedPortTwice runs --scenario all on one fixed port twice in a
// row, as a user who picks a port does (issue 13, item 4): the first run
// leaves connections in TIME_WAIT on the port, and the second must work
// all the same, with the same connections.
func TestDemoFixedPortTwice(t *testing.T) {
	needCapture(t)
	// Below the ephemeral range: see internal/freeport.
	p, err := freeport.Below("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(p)
	var conns [2]int
	for round := range 2 {
		var out, errOut bytes.Buffer
		if code := run([]string{"socktrace", "--iface", "lo", "--port", port, "--scenario", "all", "--format", "json"}, &out, &errOut); code != 0 {
			t.Fatalf("run %d on port %s: exit %d: %s", round+1, port, code, errOut.String())
		}
		r := parseReport(t, out.Bytes())
		conns[round] = len(r.conns)
		for _, c := range r.conns {
			if !strings.HasSuffix(c.Server, ":"+port) {
				t.Errorf("run %d: %s: server %s, want port %s", round+1, c.Scenario, c.Server, port)
			}
		}
	}
	if conns[0] == 0 || conns[0] != conns[1] {
		t.Errorf("connections per run: %v, want the same non-zero number twice", conns)
	}
}
