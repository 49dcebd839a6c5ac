package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestVethCaptures replays the captures of testdata/make-veth-captures.sh
// (two namespaces joined by a veth pair, nftables dropping chosen
// segments so that the kernels retransmit, cross and give up) and checks
// them against what the kernels did, as testdata/README.md records it, not
// against a previous run: the states each socket passed through, the
// calls a segment proves or rules out, the initial RTT where tshark has
// it right, and sentences the text must (or must not) say.
func TestVethCaptures(t *testing.T) {
	type side struct{ client, server []string }
	tests := []struct {
		file      string
		handshake string
		close     string
		irtt      float64 // µs; tshark's tcp.analysis.initial_rtt; -1: none (no handshake seen)
		states    side
		calls     []string // side:call of every call, in order
		history   string
		text      []string // substrings the English text report must hold
		notText   []string // substrings it must not hold
		rtx       int      // segments of kind "retransmission"
		ce        int      // segments marked CE in their IP header ("ce":true)
		// offload, gap, dsack: the connection's "offload" (client and
		// server super-segments, the MSS), "capture_gap" (bytes each side
		// sent that the capture missed) and "dsack_spurious" (the
		// client's), absent when zero.
		offload [3]int
		gap     [2]int64
		dsack   int
		// conns is how many connections the file holds (0: one), index
		// the one checked (0-based).
		conns, index int
	}{
		{
			// a's SYN was dropped at b; b's own SYN, 267 ms later, met a in
			// SYN_SENT. Both called connect(), nothing listened. tshark
			// calls a's SYN-ACK a retransmission of its SYN (same seq):
			// wrong, it answers b's SYN.
			file:      "veth-simopen.pcap",
			handshake: "simultaneous-open",
			close:     "graceful",
			irtt:      34, // b's SYN → b's ACK; not a's lost SYN → that ACK (267 ms)
			states: side{
				client: []string{"CLOSED", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"},
				server: []string{"CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"},
			},
			calls:   []string{"client:connect", "server:connect", "server:close", "client:close"},
			history: "SsHadADfF",
			text: []string{
				"server CLOSED → SYN_SENT",
				"(simultaneous open: no socket listens, no accept() takes part)",
				"The server's ACK answers the SYN-ACK: both sockets are ESTABLISHED",
				"initial RTT 34 µs",
			},
			notText: []string{"listen backlog", "its own SYN", "? → SYN_SENT"},
		},
		{
			// Keep-alive 1 s idle, 1 s apart, 2 probes; everything the
			// server sent after the exchange dropped before the capture
			// point. The client's kernel resets the connection on its own:
			// recv() fails with ETIMEDOUT, and the close() after it sends
			// nothing. tshark flags the two probes and "Connection reset".
			file:      "veth-keepalive-dead.pcap",
			handshake: "three-way",
			close:     "reset",
			irtt:      34,
			states: side{
				client: []string{"CLOSED", "SYN_SENT", "ESTABLISHED", "CLOSED"},
				server: []string{"LISTEN", "SYN_RECEIVED", "ESTABLISHED", "CLOSED"},
			},
			calls:   []string{"client:connect", "server:listen", "server:accept"},
			history: "ShADadR",
			text: []string{
				"The client's kernel gives up: 2 keep-alive probe(s) went unanswered, so its keep-alive timer resets the connection (RST); no call sent it.",
			},
			notText: []string{"SO_LINGER", "unread"},
		},
		{
			// The client's FIN dropped at b; the server shut down 50 ms
			// later not knowing (its FIN acks 23, not 24); the client
			// (FIN_WAIT_1 → CLOSING) ACKed it and sent its FIN again at its
			// RTO. tshark calls that FIN a retransmission, as it is.
			file:      "veth-fin-lost.pcap",
			handshake: "three-way",
			close:     "graceful",
			irtt:      35,
			// The server never had the first FIN: FIN_WAIT_2, not CLOSING.
			states: side{
				client: []string{"CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "CLOSING", "TIME_WAIT"},
				server: []string{"LISTEN", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"},
			},
			calls:   []string{"client:connect", "server:listen", "server:accept", "client:close", "server:close"},
			history: "ShADadFf",
			rtx:     1,
			text: []string{
				"The client sends its FIN again: the first was not acknowledged in time (retransmission).",
				// Frame 10 acknowledges the server's FIN; the server's
				// move waits for its ACK of the client's FIN (frame 12).
				"The client's kernel acknowledges the FIN. The server stays in FIN_WAIT_1 here",
			},
		},
		{
			// One send() of 300000 bytes, TSO/GSO on: the capture at the
			// sender has 11 super-segments of 3960 to 65160 bytes, each
			// with PSH. tshark says nothing of them (it flags only the
			// receiver's zero window and window update).
			file:      "veth-tso.pcap",
			handshake: "three-way",
			close:     "graceful",
			irtt:      52,
			states:    side{client: closeFirstClient, server: closeFirstServer},
			calls:     []string{"client:connect", "server:listen", "server:accept", "client:close", "server:close"},
			history:   "ShADawFdf",
			offload:   [3]int{11, 0, 1460},
			text: []string{
				"The client sends 7240 bytes in one segment larger than the path's MSS: an offload super-segment, which a network link carries as 5 segments of at most 1448 bytes.",
				"Offload: a segment larger than the MSS never crosses a network link as such.",
				"The path's MSS here is 1460 bytes (the SYNs' MSS option).",
				"the client sent 11 offload super-segment(s), up to 65160 bytes (path MSS 1460)",
			},
			// The PSH note ("it marks the end of what one write() gave")
			// on a super-segment, and a write() per segment, are wrong.
			notText: []string{"cannot be read from it. PSH", "sends 7240 bytes (send()/write()"},
		},
		{
			// The same send() with TSO/GSO off at the sender and GRO on at
			// the receiver, captured there: 11 merged segments.
			file:      "veth-gro.pcap",
			handshake: "three-way",
			close:     "graceful",
			irtt:      70,
			states:    side{client: closeFirstClient, server: closeFirstServer},
			calls:     []string{"client:connect", "server:listen", "server:accept", "client:close", "server:close"},
			history:   "ShADaFdf",
			offload:   [3]int{11, 0, 1460},
			text:      []string{"the client sent 11 offload super-segment(s), up to 54272 bytes (path MSS 1460)"},
			notText:   []string{"cannot be read from it. PSH", "bytes (send()/write()"},
		},
		{
			// The 1000-byte segment beginning "LOST" left out by the
			// capture's filter: the server's ACK of 1023 acknowledges it.
			// tshark: frame 6 "ACKed segment that wasn't captured", frame
			// 7 "Previous segment(s) not captured".
			file:      "veth-capture-gap.pcap",
			handshake: "three-way",
			close:     "graceful",
			irtt:      45,
			states:    side{client: closeFirstClient, server: closeFirstServer},
			calls:     []string{"client:connect", "server:listen", "server:accept", "client:close", "server:close"},
			history:   "ShADaFdf",
			gap:       [2]int64{1000, 0},
			text: []string{
				"1000 of the bytes it acknowledges are not in the capture: the client did send them and they arrived (this ACK proves it), but the capture missed them",
				"capture gap: the client sent 1000 bytes that were acknowledged but never captured",
			},
			notText: []string{"delayed ACK", "retransmission"},
		},
		{
			// The server's ACK of the request dropped before the capture:
			// the client sends the request again, and the server's next
			// ACK carries a D-SACK of it. tshark: frame 5 "(suspected)
			// retransmission", frame 6's D-SACK in its options only.
			file:      "veth-dsack.pcap",
			handshake: "three-way",
			close:     "graceful",
			irtt:      29,
			states:    side{client: closeFirstClient, server: closeFirstServer},
			calls:     []string{"client:connect", "server:listen", "server:accept", "client:close", "server:close"},
			history:   "ShADTaFdf",
			rtx:       1,
			dsack:     1,
			text: []string{
				"Its first SACK block, sequence numbers 1–23, is a D-SACK (RFC 2883): it reports what arrived twice. So the client's retransmission of them was not needed (spurious)",
				"the client sent 1 retransmission(s) a D-SACK showed unneeded",
			},
		},
		{
			// The second of three 1000-byte segments dropped after the
			// capture point: a real loss. The server's ACK SACKs the third,
			// the client sends the second again. tshark calls that copy
			// "out-of-order": it is a retransmission of frame 6.
			file:      "veth-sack-loss.pcap",
			handshake: "three-way",
			close:     "graceful",
			irtt:      99,
			states:    side{client: closeFirstClient, server: closeFirstServer},
			calls:     []string{"client:connect", "server:listen", "server:accept", "client:close", "server:close"},
			history:   "ShADaTFdf",
			rtx:       1,
			// The resend came 11 µs after the SACK (frame 8 → 9): a fast
			// retransmit, not a timer; frame 8 is a duplicate ACK for loss
			// detection (RFC 6675) though its window grew from 67 to 69.
			text: []string{
				"SACK: it also acknowledges bytes 2001–3001, which arrived beyond a gap",
				"A duplicate ACK (RFC 6675): the receiver still expects byte 1001, and its SACK reports bytes past the gap",
				"The client sends bytes it sent before (fast retransmit): the server's last ACK still asks for byte 1001 while its SACK shows later bytes arrived past the gap",
				"resends it 11 µs after that ACK",
			},
			notText: []string{"capture gap", "D-SACK", "the first copy was not acknowledged in time"},
		},
		{
			// The server's socket has SO_RCVBUF 2048 and reads nothing for
			// 1.5 s: its window closes after 1448 bytes, the client's
			// persist timer probes it twice (seq one below the next byte,
			// no data), each answered with window 0, and the window update
			// lets the rest go. tshark calls the probes "keep-alive".
			file:      "veth-zero-window.pcap",
			handshake: "three-way",
			close:     "graceful",
			irtt:      27,
			states: side{
				client: []string{"CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"},
				server: []string{"LISTEN", "SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"},
			},
			calls:   []string{"client:connect", "server:listen", "server:accept", "client:close", "server:close"},
			history: "ShADawFf",
			text: []string{
				"Window 0: the server's receive buffer is full",
				"A zero-window probe: the other side's window is 0, so the client's kernel, with data waiting,",
				"A window update: the server's program read",
			},
			notText: []string{"A keep-alive probe", "SO_KEEPALIVE"},
		},
		{
			// ECN asked for and agreed (net.ipv4.tcp_ecn=1 both sides);
			// nftables marked the client's second 1000-byte segment CE
			// (frame 6); the server's ACK of it carries ECE (frame 7), the
			// client's next segment CWR (frame 8). tshark shows the bits
			// (ip.dsfield.ecn 3, tcp.flags.ece/cwr) and flags nothing.
			file:      "veth-ecn.pcap",
			handshake: "three-way",
			close:     "graceful",
			irtt:      29,
			states: side{
				client: []string{"CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"},
				server: []string{"LISTEN", "SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"},
			},
			calls:   []string{"client:connect", "server:listen", "server:accept", "client:close", "server:close"},
			history: "ShADaFdf",
			ce:      1,
			text: []string{
				"ECE and CWR on a SYN: the client asks to use ECN",
				"ECE alone on the SYN-ACK: the server agrees to ECN",
				"Its IP header is marked CE (Congestion Experienced)",
				"ECE: the server's kernel echoes a CE mark it received",
				"CWR: the client's kernel has cut its congestion window",
			},
		},
		{
			// tcpdump started 0.5 s into a 4 s exchange of 20-byte ticks,
			// each echoed, and stopped 1.3 s later: no handshake, no FIN.
			// 13 ticks each way, as tshark's -z conv,tcp (13 frames
			// server→client, 26 client→server); no call can be inferred.
			file:      "veth-midstream.pcap",
			handshake: "midstream",
			close:     "open",
			irtt:      -1,
			states: side{
				client: []string{"ESTABLISHED"},
				server: []string{"ESTABLISHED"},
			},
			history: "DdA",
			text: []string{
				"(the capture began midstream, so which side is the client is a guess from the port numbers)",
				"seen midstream (the handshake happened before the capture); still open when the capture ended",
				"260 bytes client→server, 260 bytes server→client, 39 packets",
			},
			notText: []string{"connect() [inferred]", "accept() [inferred]", "close() [inferred]", "close() or shutdown(SHUT_WR) [inferred]"},
		},
		{
			// A raw-socket SYN from port 7001 at a listener of backlog 1;
			// nftables in a dropped the SYN-ACK after the capture, and no
			// socket would have taken it: the third segment never came
			// (tshark -z conv,tcp: 2 frames). The client's states are
			// the textbook's for a SYN-ACK received; the handshake is not
			// called complete.
			file:      "veth-syn-cookie.pcap",
			conns:     5,
			index:     0,
			handshake: "incomplete",
			close:     "open",
			irtt:      -1,
			states: side{
				client: []string{"CLOSED", "SYN_SENT", "ESTABLISHED"},
				server: []string{"LISTEN", "SYN_RECEIVED"},
			},
			calls:   []string{"client:connect", "server:listen"},
			history: "Sh",
			text: []string{
				"the handshake never completed: no ACK of the SYN-ACK in the capture",
				"4× handshake never completed (SYN-ACK never acknowledged), still open when the capture ended; 1× three-way handshake",
			},
			notText: []string{"three-way handshake; still open"},
		},
		{
			// The real connection after the flood, through a SYN cookie:
			// its ACK completes the handshake like any other.
			file:      "veth-syn-cookie.pcap",
			conns:     5,
			index:     4,
			handshake: "three-way",
			close:     "graceful",
			irtt:      38,
			states: side{
				client: []string{"CLOSED", "SYN_SENT", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"},
				server: []string{"LISTEN", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"},
			},
			calls:   []string{"client:connect", "server:listen", "server:accept", "server:close", "client:close"},
			history: "ShADadfF",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file+"#"+strconv.Itoa(tt.index+1), func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			var out, errOut bytes.Buffer
			if code := run([]string{"socktrace", "replay", "--format", "json", path}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			type bySide struct{ Client, Server int64 }
			type conn struct {
				Offload *struct {
					Client, Server, MSS int
				} `json:"offload"`
				CaptureGap    *bySide  `json:"capture_gap"`
				DSACKSpurious *bySide  `json:"dsack_spurious"`
				Handshake     string   `json:"handshake"`
				Close         string   `json:"close"`
				IRTT          *float64 `json:"irtt_us"`
				History       string   `json:"history"`
				States        struct {
					Client []string `json:"client"`
					Server []string `json:"server"`
				} `json:"states"`
				Calls []struct {
					Side string `json:"side"`
					Call string `json:"call"`
				} `json:"calls"`
			}
			var conns []conn
			rtx, ce := 0, 0
			for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
				if bytes.Contains(line, []byte(`"kind":"retransmission"`)) {
					rtx++
				}
				if bytes.Contains(line, []byte(`"ce":true`)) {
					ce++
				}
				if !bytes.Contains(line, []byte(`"type":"connection"`)) {
					continue
				}
				var c conn
				if err := json.Unmarshal(line, &c); err != nil {
					t.Fatalf("%s: %v", line, err)
				}
				conns = append(conns, c)
			}
			if want := max(tt.conns, 1); len(conns) != want {
				t.Fatalf("%d connections, want %d", len(conns), want)
			}
			c := conns[tt.index]
			var offload [3]int
			if c.Offload != nil {
				offload = [3]int{c.Offload.Client, c.Offload.Server, c.Offload.MSS}
			}
			var gap [2]int64
			if c.CaptureGap != nil {
				gap = [2]int64{c.CaptureGap.Client, c.CaptureGap.Server}
			}
			dsack := 0
			if c.DSACKSpurious != nil {
				dsack = int(c.DSACKSpurious.Client)
			}
			if offload != tt.offload || gap != tt.gap || dsack != tt.dsack {
				t.Errorf("offload %v, capture_gap %v, dsack_spurious %d; want %v, %v, %d", offload, gap, dsack, tt.offload, tt.gap, tt.dsack)
			}
			if rtx != tt.rtx || ce != tt.ce {
				t.Errorf("%d retransmissions, %d marked CE; want %d, %d", rtx, ce, tt.rtx, tt.ce)
			}
			if c.Handshake != tt.handshake || c.Close != tt.close || c.History != tt.history {
				t.Errorf("handshake %s, close %s, history %s; want %s, %s, %s", c.Handshake, c.Close, c.History, tt.handshake, tt.close, tt.history)
			}
			if tt.irtt < 0 && c.IRTT != nil || tt.irtt >= 0 && (c.IRTT == nil || *c.IRTT != tt.irtt) {
				t.Errorf("irtt_us %s, want %v", fmtIRTT(c.IRTT), tt.irtt)
			}
			if !slices.Equal(c.States.Client, tt.states.client) || !slices.Equal(c.States.Server, tt.states.server) {
				t.Errorf("states:\n client %v\n server %v\nwant\n client %v\n server %v", c.States.Client, c.States.Server, tt.states.client, tt.states.server)
			}
			var calls []string
			for _, ev := range c.Calls {
				calls = append(calls, ev.Side+":"+ev.Call)
			}
			if !slices.Equal(calls, tt.calls) {
				t.Errorf("calls %v, want %v", calls, tt.calls)
			}

			out.Reset()
			if code := run([]string{"socktrace", "replay", "--lang", "en", path}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			// Sentences are wrapped: compare with the line breaks and
			// indents taken out.
			text := strings.Join(strings.Fields(out.String()), " ")
			for _, want := range tt.text {
				if !strings.Contains(text, want) {
					t.Errorf("the text report does not say %q", want)
				}
			}
			for _, not := range tt.notText {
				if strings.Contains(text, not) {
					t.Errorf("the text report says %q", not)
				}
			}
		})
	}
}

// The states of a client that shuts down first and a server that answers
// after reading to the end, then closes.
var (
	closeFirstClient = []string{"CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"}
	closeFirstServer = []string{"LISTEN", "SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"}
)

func fmtIRTT(p *float64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatFloat(*p, 'f', -1, 64)
}
