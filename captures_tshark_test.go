package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tsharkStream is one line's stream in testdata/tshark/tcpdump-tests.jsonl,
// recorded once by scripts/tshark-expectations.py.
type tsharkStream struct {
	A, B         string
	Packets      int
	IRTT         *float64 `json:"irtt_us"`
	Completeness int
	SYNFrom      *string `json:"syn_from"`
	FirstFIN     *string `json:"first_fin"`
	FirstRST     *string `json:"first_rst"`
	AckedAB      int64   `json:"acked_ab"`
	AckedBA      int64   `json:"acked_ba"`
	SeenAB       int64   `json:"seen_ab"`
	SeenBA       int64   `json:"seen_ba"`
}

// stConn is what the differential test reads from socktrace's JSON.
type stConn struct {
	Client, Server string
	Handshake      string
	Packets        int
	BytesC2S       int64    `json:"bytes_c2s"`
	BytesS2C       int64    `json:"bytes_s2c"`
	IRTT           *float64 `json:"irtt_us"`
	FirstFIN       *string  `json:"first_fin"`
	RSTFrom        *string  `json:"rst_from"`
	Start          string
	SYNACKMissed   bool    `json:"syn_ack_missed"`
	RSTsIgnored    int     `json:"rsts_ignored"`
	UnseenSide     *string `json:"unseen_side"`
}

// TestTsharkDifferential replays every capture of tcpdump's test suite
// that tshark finds TCP in and compares socktrace's connections with
// tshark's streams (testdata/tshark/tcpdump-tests.jsonl): how many, bytes
// each way, iRTT, whether the handshake completed, who sent the first FIN
// and the first RST. Every disagreement must be listed in
// testdata/tshark/disagreements.txt with the reason (where tshark is
// wrong, or where the capture cannot tell); a new one, or a listed one
// that no longer happens, fails the test. Rewrite the list with -update
// after checking each new line by hand.
func TestTsharkDifferential(t *testing.T) {
	dir := filepath.Join("..", "shared", "captures", "tcpdump-tests")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("tcpdump's test captures are not here (%v)", err)
	}
	exp, err := os.Open(filepath.Join("testdata", "tshark", "tcpdump-tests.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	var got []string
	streams, agreeing := 0, 0
	sc := bufio.NewScanner(exp)
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var line struct {
			File    string
			Streams []tsharkStream
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatal(err)
		}
		var out, errOut bytes.Buffer
		run([]string{"socktrace", "replay", "--format", "json", filepath.Join(dir, line.File)}, &out, &errOut)
		conns := readConns(t, out.Bytes())
		d := compareStreams(line.File, line.Streams, conns)
		streams += len(line.Streams)
		if len(d) == 0 {
			agreeing++
		}
		got = append(got, d...)
	}
	listPath := filepath.Join("testdata", "tshark", "disagreements.txt")
	if *update {
		sort.Strings(got)
		var b strings.Builder
		b.WriteString(disagreementsHeader)
		for _, g := range got {
			fmt.Fprintf(&b, "%s\t%s\n", g, reasonFor(g))
		}
		if err := os.WriteFile(listPath, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	listed := map[string]string{}
	raw, err := os.ReadFile(listPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		key, reason, _ := strings.Cut(l, "\t")
		listed[key] = reason
	}
	unexplained := 0
	for _, g := range got {
		reason, ok := listed[g]
		if !ok {
			t.Errorf("new disagreement with tshark: %s", g)
			continue
		}
		if strings.HasPrefix(reason, "unexplained") {
			unexplained++
		}
		delete(listed, g)
	}
	for g := range listed {
		t.Errorf("listed disagreement no longer happens (remove it): %s", g)
	}
	t.Logf("%d streams compared with tshark; %d captures disagree somewhere, %d agree on everything; %d disagreements listed, %d of them not yet explained",
		streams, len(captureNames(got)), agreeing, len(got), unexplained)
}

const disagreementsHeader = `# Where socktrace and tshark disagree on tcpdump's test captures
# (TestTsharkDifferential). One line each: FILE stream N FIELD socktrace=X
# tshark=Y, a tab, and why. Rewritten by go test -run TestTsharkDifferential
# -update; every reason below was checked by hand against the capture.
`

func readConns(t *testing.T, out []byte) []stConn {
	var conns []stConn
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		if !bytes.HasPrefix(sc.Bytes(), []byte(`{"type":"connection"`)) {
			continue
		}
		var c stConn
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	return conns
}

// compareStreams matches tshark's streams with socktrace's connections by
// their endpoints, in order, and lists every disagreement.
func compareStreams(file string, streams []tsharkStream, conns []stConn) []string {
	var out []string
	used := make([]bool, len(conns))
	diff := func(i int, field string, ours, theirs any) {
		out = append(out, fmt.Sprintf("%s stream %d %s socktrace=%v tshark=%v", file, i, field, ours, theirs))
	}
	for i, s := range streams {
		j := -1
		for k, c := range conns {
			if !used[k] && (c.Client == s.A && c.Server == s.B || c.Client == s.B && c.Server == s.A) {
				j = k
				break
			}
		}
		if j < 0 {
			diff(i, "connection", "none", s.A+"-"+s.B)
			continue
		}
		used[j] = true
		c := conns[j]
		aIsClient := c.Client == s.A
		ab, ba := c.BytesC2S, c.BytesS2C
		if !aIsClient {
			ab, ba = ba, ab
		}
		if ab != s.AckedAB || ba != s.AckedBA {
			diff(i, "bytes", fmt.Sprintf("%d/%d", ab, ba), fmt.Sprintf("%d/%d", s.AckedAB, s.AckedBA))
		}
		if c.Packets != s.Packets {
			diff(i, "packets", c.Packets, s.Packets)
		}
		ours, theirs := "null", "null"
		if c.IRTT != nil {
			ours = fmt.Sprintf("%.0f", *c.IRTT)
		}
		if s.IRTT != nil {
			theirs = fmt.Sprintf("%.0f", *s.IRTT)
		}
		if ours != theirs {
			diff(i, "irtt_us", ours, theirs)
		}
		side := func(p *string) string {
			if p == nil {
				return "null"
			}
			switch *p {
			case "client", "server":
				if (*p == "client") == aIsClient {
					return "a"
				}
				return "b"
			}
			return *p
		}
		if f, tf := side(c.FirstFIN), str(s.FirstFIN); f != tf && !(f == "both" && tf != "null") {
			diff(i, "first_fin", f, tf)
		}
		if r, tr := side(c.RSTFrom), str(s.FirstRST); r != tr {
			diff(i, "first_rst", r, tr)
		}
	}
	for k, c := range conns {
		if !used[k] {
			diff(len(streams)+k, "connection", c.Client+"-"+c.Server, "none")
		}
	}
	return out
}

// reasonFor gives the reason for a disagreement, by the rules found when
// each was checked by hand against the capture (tcpdump -v, tshark -V);
// -update writes it next to the disagreement.
func reasonFor(d string) string {
	file, _, _ := strings.Cut(d, " ")
	switch {
	case strings.Contains(file, "geneve") || strings.Contains(file, "vxlan"):
		return "TCP inside a Geneve or VXLAN tunnel: socktrace's fast path does not open tunnels (the tunnel slow path is separate work)"
	case file == "ipoib.pcap" && strings.Contains(d, " bytes "):
		return "only the client's packets are in the capture: its last ACK (2216) acknowledges the server's FIN, which takes one sequence number, not a byte; the expectations script caps ACK coverage at the sender's FIN only when it sees that FIN, so it counts the FIN as data. The server sent 2214 bytes (the client's FIN-ACK acknowledges 2215 = ISN+1+2214)"
	case strings.HasPrefix(file, "arcnet") || strings.HasPrefix(file, "ipoib"):
		return "a link type socktrace does not decode (ARCNET, IP over InfiniBand)"
	case file == "bgp-aigp.pcap" || file == "bgp_vpn_attrset.pcap" || file == "lspping-fec-ldp.pcap":
		return "a link type socktrace does not decode (Juniper, PPP, MPLS over PPP)"
	case strings.HasSuffix(file, "-oobr.pcap") || strings.Contains(file, "-oobr-"):
		return "a first IP fragment (MF set) whose other pieces are not in the capture: no whole segment ever existed; tshark dissects the piece alone"
	case file == "sflow_expanded.pcap":
		return "a TCP header sampled (1 in 1000) inside an sFlow datagram, not a packet on this wire; tshark dissects it as a stream, socktrace counts it as sampled TCP (sampled_tcp 1) and opens no connection"
	case strings.HasPrefix(file, "kday") && strings.Contains(d, " packets "):
		return "one packet's IP length is 768 bytes beyond its frame, which the snap length did not cut: Linux drops it (ip_rcv_core); socktrace counts it malformed"
	case file == "of10_inv_OFPST_FLOW.pcap":
		return "an ACK number 1.6 GB beyond anything sent (a corrupted test capture): socktrace does not let an implausible ACK count bytes"
	case strings.Contains(d, " irtt_us socktrace=null tshark="):
		return "tshark times SYN → RST as an iRTT; the handshake never completed (refused)"
	case strings.Contains(d, " irtt_us ") && strings.Contains(d, "tshark=null"):
		return "the handshake completed; tshark gives no iRTT (it treats time 0 as unset, or it needs a SYN-ACK)"
	case strings.Contains(d, " first_rst socktrace=null"):
		return "the RST is outside what the receiver accepts (RFC 9293 §3.10.7, RFC 5961 §3): the kernel ignores it"
	}
	return "unexplained: not yet checked by hand"
}

func captureNames(ds []string) map[string]bool {
	m := map[string]bool{}
	for _, d := range ds {
		name, _, _ := strings.Cut(d, " ")
		m[name] = true
	}
	return m
}
