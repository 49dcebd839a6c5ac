package decode

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/capture"
)

// tcpdumpTests is where tcpdump's test captures are, relative to this
// package's directory (the module root's ../shared/captures).
const tcpdumpTests = "../../shared/captures/tcpdump-tests"

// tsharkDifferences lists the captures where socktrace's connections
// differ from tshark's on purpose, and why. Each is checked to still
// differ, so that the list cannot go stale.
var tsharkDifferences = map[string]string{
	"bgp-bgp_capabilities_print-oobr-1.pcap": frag,
	"bgp-bgp_capabilities_print-oobr-2.pcap": frag,
	"bgp_pmsi_tunnel-oobr.pcap":              frag,
	"rpki-rtr-oobr.pcap":                     frag,
	"sflow_expanded.pcap": "an sFlow sample quotes the first bytes of 1 in 1000 packets a switch forwarded: tshark makes a stream " +
		"of it; socktrace counts it as a sampled TCP segment (summary sampled_tcp) and opens no connection, since none of its " +
		"neighbours was sampled (sflow.go)",
	"kday4.pcap": lengthLies,
	"kday7.pcap": lengthLies,
	"tcp_header_heapoverflow.pcap": "a TCP header of fewer than 14 bytes: tshark names its ports; socktrace needs the flags, " +
		"seq and ack and counts it as malformed",
}

// lengthLies: an IPv4 total length beyond a frame the snap length did not
// cut; Linux drops such a packet (ip_rcv_core), so socktrace counts it as
// malformed, where tshark and gopacket read the TCP header in it.
const lengthLies = "packet 10: the IPv4 total length is longer than the frame, which the snap length did not cut: Linux drops it, socktrace counts it malformed"

const frag = "a lone first IP fragment whose other pieces never came: tshark shows the TCP header in it; socktrace holds it for reassembly (the segment's length is unknown until the datagram is whole) and counts it as a fragment"

// pairCounter counts the segments a Tracker applies per endpoint pair,
// written as scripts/tshark-tcp-expectations.py writes them.
type pairCounter map[string]int

func (pc pairCounter) Segment(c *Connection, st *Step) {
	a, b := c.Client.String(), c.Server.String()
	if b < a {
		a, b = b, a
	}
	pc[a+" "+b]++
}
func (pc pairCounter) Ended(*Connection) {}

// TestSameConnectionsAsTshark replays every tcpdump test capture in which
// tshark 4.0 finds TCP (decode/testdata/tshark-tcp.txt, made by
// scripts/tshark-tcp-expectations.py) and requires socktrace to find the
// same endpoint pairs with the same number of segments, whatever carried
// them (VXLAN, Geneve, GRE, IPoIB, ARCNET, ...).
func TestSameConnectionsAsTshark(t *testing.T) {
	if _, err := os.Stat(tcpdumpTests); err != nil {
		t.Skipf("tcpdump's test captures are not here: %v", err)
	}
	want := readTsharkExpectations(t, "testdata/tshark-tcp.txt")
	for _, name := range slices.Sorted(mapKeys(want)) {
		t.Run(name, func(t *testing.T) {
			got, err := pairsOf(filepath.Join(tcpdumpTests, name))
			if err != nil {
				t.Fatal(err)
			}
			diff := comparePairs(want[name], got)
			why, expected := tsharkDifferences[name]
			switch {
			case diff != "" && !expected:
				t.Errorf("socktrace and tshark differ:\n%s", diff)
			case diff == "" && expected:
				t.Errorf("listed as differing from tshark (%s), but agrees now: drop it from tsharkDifferences", why)
			}
		})
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func pairsOf(path string) (pairCounter, error) {
	src, err := capture.OpenFile(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	pc := pairCounter{}
	tr := NewTracker(pc, TrackerConfig{})
	// A capture cut short (several of tcpdump's are) still counts what
	// came before the cut, as tshark does.
	Run(context.Background(), src, tr, RunOptions{})
	tr.Flush()
	return pc, nil
}

func comparePairs(want, got pairCounter) string {
	var b strings.Builder
	keys := slices.Sorted(mapKeys(want))
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		if want[k] != got[k] {
			fmt.Fprintf(&b, "  %s: tshark %d segments, socktrace %d\n", k, want[k], got[k])
		}
	}
	return b.String()
}

func readTsharkExpectations(t *testing.T, path string) map[string]pairCounter {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all := map[string]pairCounter{}
	var cur pairCounter
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		switch {
		case len(fields) == 2 && !strings.HasPrefix(line, " "):
			cur = pairCounter{}
			all[fields[0]] = cur
		case len(fields) == 3 && cur != nil:
			n, err := strconv.Atoi(fields[2])
			if err != nil {
				t.Fatalf("%s: %q: %v", path, line, err)
			}
			cur[fields[0]+" "+fields[1]] = n
		default:
			t.Fatalf("%s: cannot read %q", path, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return all
}
