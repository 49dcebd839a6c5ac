package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
)

// TestWriteCallsOnePerPacket: the demo's --write file carries the calls in
// at most one comment per packet, so Wireshark shows one item per packet;
// the calls made before the first packet (the server's socket, bind and
// listen, the client's socket and connect) are in the first packet's
// comment, which says they came before it; every call the live run printed
// is in the file once, and a replay puts them all back. The file also
// says, in its own comment, where the calls are.
//
// Checked by hand once with tshark 4.0 (`tshark -r F -T fields -e
// frame.number -e frame.comment` and `capinfos F`): one comment on frame 1
// listing the five calls before it, one on each later frame that has
// calls, and the capture comment.
func TestWriteCallsOnePerPacket(t *testing.T) {
	needCapture(t)
	pcap := filepath.Join(t.TempDir(), "hs.pcapng")
	r := socktrace(t, "--iface", "lo", "--scenario", "handshake", "--format", "json", "--write", pcap)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	live := countCalls(t, r.stdout)

	f, err := capture.OpenFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var p capture.Packet
	inFile, packets := 0, 0
	for ; f.ReadPacket(&p) == nil; packets++ {
		n := 0
		for _, c := range p.Comments {
			if !strings.HasPrefix(c, calls.CallsCommentPrefix) {
				continue
			}
			n++
			var here []calls.Event
			if ok, err := calls.ParseComments(c, func(ev calls.Event) { here = append(here, ev) }); !ok || err != nil {
				t.Fatalf("packet %d: comment %q does not read: %v", packets+1, c, err)
			}
			inFile += len(here)
			if packets == 0 {
				before := 0
				for _, ev := range here {
					if ev.Enter.Before(p.Timestamp) {
						before++
					}
				}
				if before < 4 || !strings.Contains(strings.SplitN(c, "\n", 2)[0], "before this packet") {
					t.Errorf("first packet's comment %q: want the calls made before the first packet (at least 4), said so", c)
				}
			}
		}
		if n > 1 {
			t.Errorf("packet %d has %d socktrace comments, want at most 1", packets+1, n)
		}
	}
	if packets == 0 || inFile != live {
		t.Errorf("%d packets, %d calls in the file; the live run printed %d calls", packets, inFile, live)
	}
	if c := sectionComment(t, pcap); !strings.Contains(c, calls.CallsCommentPrefix) {
		t.Errorf("the file's own comment %q does not say where the calls are", c)
	}
	if got := countCalls(t, socktrace(t, "replay", "--format", "json", pcap).stdout); got != live {
		t.Errorf("replay gives %d calls, the live run %d", got, live)
	}
}

// sectionComment is the comment of the file's section header, as
// gopacket's pcapgo reads it.
func sectionComment(t *testing.T, path string) string {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewNgReader(fh, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	return r.SectionInfo().Comment
}

// countCalls counts the "call" objects of a --format json report.
func countCalls(t *testing.T, ndjson string) int {
	t.Helper()
	n := 0
	sc := bufio.NewScanner(strings.NewReader(ndjson))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var o struct{ Type string }
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("not JSON: %q: %v", sc.Text(), err)
		}
		if o.Type == "call" {
			n++
		}
	}
	return n
}
