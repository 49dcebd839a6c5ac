package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTunnelCaptures replays the two captures of real VXLAN overlays made
// by scripts/make-tunnel-captures.sh (testdata/README.md says how, and how
// they compare with tcpdump and tshark) and checks what the issue asks of
// tunnels independently of the golden files:
//
//   - tunnel-tenants.pcap: three tenants' connections with the same inner
//     4-tuple, in VXLAN VNI 42 and 43 between one pair of hosts and in
//     VNI 42 between another pair, are three connections, each with its
//     own tunnel and its own 10 segments, 22 and 27 bytes.
//   - tunnel-mirror.pcap: one connection captured on "any" both on the
//     VXLAN device and, encapsulated, on the underlay is one connection of
//     10 segments whose 10 copies are counted as duplicates, once.
func TestTunnelCaptures(t *testing.T) {
	type conn struct {
		tunnel         string
		packets        int
		c2s, s2c       int64
		history, close string
	}
	plain := func(tunnel string) conn { return conn{tunnel, 10, 22, 27, "ShADadFf", "graceful"} }
	tests := []struct {
		file       string
		conns      []conn // sorted by tunnel text
		duplicates int64
		tcp        int64
		text       []string // lines the text report must hold
	}{
		{
			file: "tunnel-tenants.pcap",
			conns: []conn{
				plain("VXLAN VNI 42 between 192.168.100.1 and 192.168.100.2"),
				plain("VXLAN VNI 42 between 192.168.100.3 and 192.168.100.4"),
				plain("VXLAN VNI 43 between 192.168.100.1 and 192.168.100.2"),
			},
			tcp: 30,
			text: []string{
				"  in VXLAN VNI 42 between 192.168.100.1 and 192.168.100.2",
				"  in VXLAN VNI 42 between 192.168.100.3 and 192.168.100.4",
				"  in VXLAN VNI 43 between 192.168.100.1 and 192.168.100.2",
				"  3 connections: 3× three-way handshake, graceful close (FIN both ways)",
			},
		},
		{
			file:       "tunnel-mirror.pcap",
			conns:      []conn{plain("VXLAN VNI 42 between 192.168.100.1 and 192.168.100.2")},
			duplicates: 10,
			tcp:        20,
			text: []string{
				"  in VXLAN VNI 42 between 192.168.100.1 and 192.168.100.2",
				"  1 connection: 1× three-way handshake, graceful close (FIN both ways)",
				"  10 segment(s) seen twice, on two paths (a mirror's copy, or inside and outside a tunnel),",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", tt.file)
			var out, errOut bytes.Buffer
			if code := run([]string{"socktrace", "replay", "--format", "json", path}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			var got []conn
			var sum struct {
				TCP        int64 `json:"tcp"`
				Duplicates int64 `json:"duplicates"`
			}
			segs := map[int]int{}
			sc := bufio.NewScanner(&out)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				var line struct {
					Type     string `json:"type"`
					Conn     int    `json:"conn"`
					Packets  int    `json:"packets"`
					BytesC2S int64  `json:"bytes_c2s"`
					BytesS2C int64  `json:"bytes_s2c"`
					History  string `json:"history"`
					Close    string `json:"close"`
					Tunnel   *struct {
						Kind  string   `json:"kind"`
						ID    int      `json:"id"`
						Outer []string `json:"outer"`
						Text  string   `json:"text"`
					} `json:"tunnel"`
				}
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("not JSON: %q: %v", sc.Text(), err)
				}
				switch line.Type {
				case "segment":
					segs[line.Conn]++
				case "connection":
					if line.Tunnel == nil {
						t.Fatalf("a connection without its tunnel: %s", sc.Text())
					}
					if line.Tunnel.Kind != "VXLAN" || len(line.Tunnel.Outer) != 2 {
						t.Errorf("tunnel %+v: want kind VXLAN and two outer addresses", *line.Tunnel)
					}
					got = append(got, conn{line.Tunnel.Text, line.Packets, line.BytesC2S, line.BytesS2C, line.History, line.Close})
				case "summary":
					if err := json.Unmarshal(sc.Bytes(), &sum); err != nil {
						t.Fatal(err)
					}
				}
			}
			slices.SortFunc(got, func(a, b conn) int { return strings.Compare(a.tunnel, b.tunnel) })
			if !slices.Equal(got, tt.conns) {
				t.Errorf("connections:\n got %+v\nwant %+v", got, tt.conns)
			}
			for id, n := range segs {
				if n != 10 {
					t.Errorf("connection %d has %d segment lines, want 10 (a copy applied twice, or a tenant's segment in another's connection)", id, n)
				}
			}
			if sum.Duplicates != tt.duplicates || sum.TCP != tt.tcp {
				t.Errorf("summary: %d TCP packets, %d duplicates; want %d and %d", sum.TCP, sum.Duplicates, tt.tcp, tt.duplicates)
			}

			out.Reset()
			if code := run([]string{"socktrace", "replay", "--lang", "en", path}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			lines := strings.Split(out.String(), "\n")
			for _, want := range tt.text {
				if !slices.Contains(lines, want) {
					t.Errorf("the text report has no line %q", want)
				}
			}
		})
	}
}

// TestLoneFragmentSummary: a first IP fragment of a TCP segment whose
// other pieces never came (tcpdump's bgp-bgp_capabilities_print-oobr-1)
// is TCP that could not be read whole, not "other (not TCP)": the summary
// says so in both languages and JSON counts it as tcp_fragments.
func TestLoneFragmentSummary(t *testing.T) {
	path := filepath.Join("..", "shared", "captures", "tcpdump-tests", "bgp-bgp_capabilities_print-oobr-1.pcap")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("tcpdump's test captures are not here: %v", err)
	}
	tests := []struct {
		format, lang string
		want         []string
	}{
		{"text", "en", []string{
			"1 packet: 0 TCP, 1 IP fragment(s) of TCP (not reassembled, not shown), 0 other (not TCP, not shown), 0 malformed (skipped)",
			"not decoded, by what stopped the decoder: 1× fragment of TCP (not reassembled)",
		}},
		{"text", "ko", []string{
			"패킷 1개: TCP 0개, TCP의 IP 조각 1개 (재조립되지 않아 표시하지 않음), 기타 0개 (TCP가 아니어서 표시하지 않음), 손상 0개 (건너뜀)",
		}},
		{"json", "en", []string{
			`"tcp":0,"other":0,"malformed":0,`,
			`"tcp_fragments":1,"undecoded":[{"reason":"fragment of TCP (not reassembled)","kind":"fragment","code":6,"packets":1}]`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+tt.lang, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run([]string{"socktrace", "replay", "--format", tt.format, "--lang", tt.lang, path}, &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			// The text report wraps long lines; join them back.
			got := strings.Join(strings.Fields(out.String()), " ")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("no %q in:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestLiveTunnelCaptures builds the overlays of scripts/make-tunnel-captures.sh
// anew (network namespaces of its own, named with its pid, deleted on
// exit), captures them with tcpdump into a temporary directory, and checks
// what does not depend on timing: the three tenants are three connections,
// one per tunnel, with their 22 and 27 bytes; the mirrored flow is one
// connection whose every copy is counted as a duplicate and nothing else
// (TCP packets = the connection's segments + duplicates). It needs root
// (namespaces, capture), ip with VXLAN, tcpdump and python3, and skips
// saying which is missing.
func TestLiveTunnelCaptures(t *testing.T) {
	if testing.Short() {
		t.Skip("builds network namespaces and captures: not in -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN for namespaces and VXLAN devices, CAP_NET_RAW for tcpdump)")
	}
	for _, tool := range []string{"ip", "tcpdump", "python3", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	probe := fmt.Sprintf("stvxprobe%d", os.Getpid())
	if out, err := exec.Command("ip", "link", "add", probe, "type", "vxlan", "id", "1", "dstport", "4789", "local", "127.0.0.1").CombinedOutput(); err != nil {
		t.Skipf("this kernel makes no VXLAN device: %v: %s", err, out)
	}
	exec.Command("ip", "link", "del", probe).Run()

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "scripts/make-tunnel-captures.sh")
	cmd.Env = append(os.Environ(), "OUT_DIR="+dir)
	// On a timeout the script gets SIGTERM, and its trap deletes the
	// namespaces.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make-tunnel-captures.sh: %v\n%s", err, out)
	}

	tenants := replayJSON(t, filepath.Join(dir, "tunnel-tenants.pcap"))
	var tunnels []string
	for _, c := range tenants.conns {
		tunnels = append(tunnels, c.tunnel)
		if c.c2s != 22 || c.s2c != 27 {
			t.Errorf("tenant connection in %s: %d and %d bytes, want 22 and 27", c.tunnel, c.c2s, c.s2c)
		}
	}
	slices.Sort(tunnels)
	want := []string{
		"VXLAN VNI 42 between 192.168.100.1 and 192.168.100.2",
		"VXLAN VNI 42 between 192.168.100.3 and 192.168.100.4",
		"VXLAN VNI 43 between 192.168.100.1 and 192.168.100.2",
	}
	if !slices.Equal(tunnels, want) {
		t.Errorf("tenants' connections are in %q, want %q", tunnels, want)
	}

	mirror := replayJSON(t, filepath.Join(dir, "tunnel-mirror.pcap"))
	if len(mirror.conns) != 1 {
		t.Fatalf("mirror: %d connections, want 1", len(mirror.conns))
	}
	c := mirror.conns[0]
	if c.c2s != 22 || c.s2c != 27 || mirror.duplicates == 0 || mirror.tcp != int64(c.packets)+mirror.duplicates {
		t.Errorf("mirror: %d and %d bytes, %d segments, %d duplicates of %d TCP packets; want 22 and 27 bytes, every copy a duplicate",
			c.c2s, c.s2c, c.packets, mirror.duplicates, mirror.tcp)
	}
}

type tunnelConn struct {
	tunnel   string
	packets  int
	c2s, s2c int64
}

type tunnelReport struct {
	conns           []tunnelConn
	tcp, duplicates int64
}

// replayJSON replays a capture with --format json and keeps the
// connections' tunnels and byte counts and the summary's counts.
func replayJSON(t *testing.T, path string) tunnelReport {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := run([]string{"socktrace", "replay", "--format", "json", path}, &out, &errOut); code != 0 {
		t.Fatalf("replay %s: exit %d: %s", path, code, errOut.String())
	}
	var r tunnelReport
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Type       string `json:"type"`
			Packets    int    `json:"packets"`
			BytesC2S   int64  `json:"bytes_c2s"`
			BytesS2C   int64  `json:"bytes_s2c"`
			TCP        int64  `json:"tcp"`
			Duplicates int64  `json:"duplicates"`
			Tunnel     *struct {
				Text string `json:"text"`
			} `json:"tunnel"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		switch line.Type {
		case "connection":
			c := tunnelConn{packets: line.Packets, c2s: line.BytesC2S, s2c: line.BytesS2C}
			if line.Tunnel != nil {
				c.tunnel = line.Tunnel.Text
			}
			r.conns = append(r.conns, c)
		case "summary":
			r.tcp, r.duplicates = line.TCP, line.Duplicates
		}
	}
	return r
}
