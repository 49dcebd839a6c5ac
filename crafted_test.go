package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/socktrace/socktrace/internal/craftcap"
)

// TestCrafted replays the captures of testdata/crafted, written packet by
// packet by internal/craftcap for the classes of issue 10 (reordering,
// loss before the capture point, forged RSTs, fragments, one direction,
// midstream starts, Zeek's edge cases), and checks three things: the
// committed files are what the generator writes; the text and JSON reports
// match their goldens in testdata/crafted/golden (checked by hand against
// tcpdump -nn and tshark once, see testdata/crafted/README.md); and the
// facts each capture was made to show, asserted below independently of
// the goldens. Regenerate both with: go test -run TestCrafted -update
func TestCrafted(t *testing.T) {
	dir := filepath.Join("testdata", "crafted")
	if *update {
		if err := os.MkdirAll(filepath.Join(dir, "golden"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := craftcap.WriteAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range craftcap.All() {
		t.Run(c.Name, func(t *testing.T) {
			path := filepath.Join(dir, c.Name+".pcap")
			var want bytes.Buffer
			if err := craftcap.Write(&want, c); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil || !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("%s is not what internal/craftcap writes (%v): go test -run TestCrafted -update", path, err)
			}
			outputs := map[string][]byte{}
			for _, format := range []string{"text", "json"} {
				var out, errOut bytes.Buffer
				args := []string{"socktrace", "replay", "--format", format, "--lang", "en", "--ephemeral-ports", "32768-60999", path}
				if code := run(args, &out, &errOut); code != 0 {
					t.Fatalf("exit %d: %s", code, errOut.String())
				}
				outputs[format] = out.Bytes()
				golden := filepath.Join(dir, "golden", c.Name+map[string]string{"text": ".txt", "json": ".json"}[format])
				if *update {
					if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				wantOut, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(out.Bytes(), wantOut) {
					t.Errorf("%s differs (if right: go test -run TestCrafted -update)\n%s", golden, firstDiff(string(wantOut), out.String()))
				}
			}
			checkCraftedFacts(t, c.Name, outputs["json"], outputs["text"])
		})
	}
}

// craftedFacts are the facts each crafted capture was made to show, in
// the JSON report's words: connection fields (by connection, 1-based) and
// segment kinds in order.
var craftedFacts = map[string]struct {
	conns []map[string]any
	kinds []string // of connection 1's segments; nil: not checked
	text  []string // phrases the text report must hold
}{
	"a1-gap-fill": {
		conns: []map[string]any{{"handshake": "three-way", "close": "graceful", "bytes_c2s": 1.0, "bytes_s2c": 7849.0}},
		kinds: []string{"syn", "syn-ack", "handshake-ack", "data", "data", "out-of-order", "out-of-order", "ack",
			"spurious-retransmission", "data", "ack", "fin", "out-of-order", "ack", "fin", "ack"},
		text: []string{"fill a gap", "spurious retransmission"},
	},
	"a2-no-synack": {
		conns: []map[string]any{{"handshake": "three-way", "close": "graceful", "irtt_us": 27.0, "syn_ack_missed": true,
			"bytes_c2s": 41.0, "bytes_s2c": 59.0, "conn_state": "SF"}},
		text: []string{"the SYN-ACK is not in the capture"},
	},
	"a3-synack-data": {
		conns: []map[string]any{{"handshake": "three-way", "close": "graceful", "bytes_s2c": 110.0, "conn_state": "SF"}},
	},
	"a3-tfo": {
		conns: []map[string]any{{"handshake": "three-way", "close": "graceful", "bytes_c2s": 20.0, "bytes_s2c": 30.0, "fast_open": "client"}},
		text:  []string{"TCP Fast Open with a 8-byte cookie", "20 bytes of data"},
	},
	"a4-syn-rst-retry": {
		conns: []map[string]any{{"handshake": "refused", "syn_retransmits": 2.0, "conn_state": "REJ", "history": "Sr"}},
	},
	"a5-synack-before-syn": {
		conns: []map[string]any{{"handshake": "three-way", "close": "graceful", "reordered": true}},
		text:  []string{"timestamps are out of order"},
	},
	"a6-forged-rst": {
		conns: []map[string]any{{"handshake": "three-way", "close": "graceful", "rsts_ignored": 3.0, "rst_from": nil}},
		kinds: []string{"syn", "rst-ignored", "rst-ignored", "syn-ack", "handshake-ack", "data", "ack", "rst-ignored", "fin", "fin", "ack"},
		text:  []string{"forged or stale RST the kernel ignores"},
	},
	"a7-fragments": {
		conns: []map[string]any{{"bytes_c2s": 3000.0, "close": "graceful"}, {"bytes_c2s": 2500.0, "close": "graceful"}},
		text:  []string{"It arrived in 3 IP fragments", "It arrived in 2 IP fragments"},
	},
	"a8-midstream": {
		conns: []map[string]any{{"handshake": "midstream", "close": "graceful", "bytes_c2s": 100.0, "bytes_s2c": 1000.0,
			"states": map[string]any{"client": []any{"ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT"},
				"server": []any{"ESTABLISHED", "CLOSE_WAIT", "LAST_ACK", "CLOSED"}}}},
	},
	"a9-one-direction": {
		conns: []map[string]any{{"handshake": "three-way", "unseen_side": "server", "bytes_c2s": 22.0, "bytes_s2c": 27.0}},
		text:  []string{"only one direction"},
	},
	"a10-zeek-states": {
		conns: []map[string]any{
			{"conn_state": "SH", "history": "Q"},
			{"conn_state": "OTH", "history": "SaFR"},
			{"conn_state": "SF", "history": "DaFfA"},
			{"conn_state": "S1", "history": "^hAD"},
		},
	},
	"a11-self-addressed": {
		conns: []map[string]any{{"handshake": "midstream"}},
	},
}

func checkCraftedFacts(t *testing.T, name string, jsonOut, textOut []byte) {
	t.Helper()
	want, ok := craftedFacts[name]
	if !ok {
		t.Fatalf("no facts listed for %s", name)
	}
	var conns []map[string]any
	var kinds []string
	sc := bufio.NewScanner(bytes.NewReader(jsonOut))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		switch m["type"] {
		case "connection":
			conns = append(conns, m)
		case "segment":
			if m["conn"] == 1.0 {
				kinds = append(kinds, m["kind"].(string))
			}
		}
	}
	if len(conns) != len(want.conns) {
		t.Fatalf("%d connections, want %d", len(conns), len(want.conns))
	}
	for i, w := range want.conns {
		for k, v := range w {
			if fmt.Sprint(conns[i][k]) != fmt.Sprint(v) {
				t.Errorf("connection %d: %s = %v, want %v", i+1, k, conns[i][k], v)
			}
		}
	}
	if want.kinds != nil && fmt.Sprint(kinds) != fmt.Sprint(want.kinds) {
		t.Errorf("segment kinds\n got %v\nwant %v", kinds, want.kinds)
	}
	for _, phrase := range want.text {
		if !bytes.Contains(bytes.Join(bytes.Fields(textOut), []byte(" ")), []byte(phrase)) {
			t.Errorf("the text report does not say %q", phrase)
		}
	}
}
