package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/socktrace/socktrace/decode"
)

// The JSON writer builds lines by hand for speed. These tests rebuild the
// same lines with encoding/json from what the writer was given and compare
// the two as decoded values, line by line, on every test capture and on
// some of tcpdump's: the schema (README, DESIGN.md) is a public interface,
// and a hand-made line must say exactly what encoding/json would.

// refTime is a time as the schema writes it, or nil for the zero time.
func refTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
}

func refState(s decode.State) any {
	if s == decode.Unknown {
		return nil
	}
	return s.String()
}

func refSides(s decode.Sides) any {
	if s == decode.NoSide {
		return nil
	}
	return s.String()
}

// refSegment is a segment line built with encoding/json.
func refSegment(r *segRec) map[string]any {
	flags := []string{}
	for _, f := range []decode.Flags{decode.SYN, decode.ACK, decode.FIN, decode.RST, decode.PSH, decode.URG, decode.ECE, decode.CWR} {
		if r.flags&f != 0 {
			flags = append(flags, f.Name())
		}
	}
	m := map[string]any{
		"type": "segment", "conn": r.conn, "time": refTime(r.time), "from": r.from.String(), "flags": flags,
		"seq": r.relSeq, "ack": r.relAck, "len": r.len,
		"client_state": refState(r.after[decode.Client]), "server_state": refState(r.after[decode.Server]),
		"kind": r.kind.String(), "abs_seq": r.absSeq, "abs_ack": r.absAck, "window": r.window,
	}
	if r.truncated {
		m["truncated"] = true
	}
	if r.reordered {
		m["reordered"] = true
	}
	if r.ce {
		m["ce"] = true
	}
	if r.fragments > 0 {
		m["fragments"] = r.fragments
	}
	if r.offload {
		m["offload"] = true
	}
	if r.ackedUnseen > 0 {
		m["acked_unseen"] = r.ackedUnseen
	}
	if r.nSACK > 0 {
		m["sack"] = r.sack[:r.nSACK]
	}
	if r.dsack {
		m["dsack"] = true
	}
	if r.dsackSpurious {
		m["dsack_spurious"] = true
	}
	return m
}

// refConnection is the part of a connection line that does not come from
// calls, kernel or tunnel (whose writers have tests of their own), built
// with encoding/json.
func refConnection(c *connRec) map[string]any {
	states := func(s []decode.State) []string {
		out := []string{}
		for _, x := range s {
			out = append(out, x.String())
		}
		return out
	}
	var irtt any
	if c.hasIRTT {
		irtt = float64(c.irtt.Nanoseconds()) / 1e3
	}
	bySide := func(client, server int64) map[string]int64 {
		return map[string]int64{"client": client, "server": server}
	}
	m := map[string]any{
		"type": "connection", "id": c.id, "client": c.client.String(), "server": c.server.String(),
		"start": refTime(c.start), "end": refTime(c.end),
		"handshake": c.handshake.String(), "close": c.close.String(),
		"first_fin": refSides(c.firstFIN), "rst_from": refSides(c.rstFrom), "time_wait": refSides(c.timeWait),
		"half_close": c.halfClose, "syn_retransmits": c.synRetransmits, "irtt_us": irtt,
		"packets": c.packets, "bytes_c2s": c.bytes[decode.Client], "bytes_s2c": c.bytes[decode.Server],
		"conn_state": c.connState, "history": string(c.history[:c.historyLen]),
		"states": map[string]any{"client": states(c.states[decode.Client]), "server": states(c.states[decode.Server])},
	}
	if c.offload != [2]int{} {
		o := map[string]any{"client": c.offload[decode.Client], "server": c.offload[decode.Server], "mss": c.offloadMSS, "largest": c.offloadMax}
		if c.mssEstimated {
			o["mss_estimated"] = true
		}
		m["offload"] = o
	}
	if c.uncaptured != [2]int64{} {
		m["capture_gap"] = bySide(c.uncaptured[decode.Client], c.uncaptured[decode.Server])
	}
	if c.dsackSpurious != [2]int{} {
		m["dsack_spurious"] = bySide(int64(c.dsackSpurious[decode.Client]), int64(c.dsackSpurious[decode.Server]))
	}
	return m
}

// viaJSON turns v into what encoding/json decodes it back to.
func viaJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// recordingJSON writes the report and keeps what each line was made from.
type recordingJSON struct {
	*JSON
	recs jsonRecords
}

func (r *recordingJSON) Segment(c *decode.Connection, st *decode.Step) {
	r.recs.Segment(c, st)
	r.JSON.Segment(c, st)
}

func (r *recordingJSON) Ended(c *decode.Connection) {
	r.recs.Ended(c)
	r.JSON.Ended(c)
}

func TestJSONMatchesEncodingJSON(t *testing.T) {
	files := captures(t)
	for _, name := range []string{"tcp-handshake-nano.pcap", "tfo-5c1fa7f9ae91.pcap", "mptcp-fclose.pcap", "bgp-as-path-oobr.pcap",
		"geneve-gcp.pcap", "ipv6_jumbogram_1.pcap", "tcp_rst_data.pcap", "time_2106_max.pcap", "ssh.pcap"} {
		// tcpdump's captures are not in the repository: skipped when absent.
		p := filepath.Join("..", "..", "shared", "captures", "tcpdump-tests", name)
		if _, err := os.Stat(p); err == nil {
			files = append(files, p)
		}
	}
	lines := 0
	for _, file := range files {
		var out bytes.Buffer
		r := &recordingJSON{JSON: NewJSON(&out)}
		replayInto(t, file, r)
		sc := bufio.NewScanner(&out)
		sc.Buffer(nil, 1<<20)
		var segs, conns int
		for sc.Scan() {
			var got map[string]any
			if err := json.Unmarshal(sc.Bytes(), &got); err != nil {
				t.Fatalf("%s: not JSON: %v\n%s", file, err, sc.Bytes())
			}
			var want map[string]any
			switch got["type"] {
			case "segment":
				want = viaJSON(t, refSegment(&r.recs.segs[segs]))
				segs++
			case "connection":
				want = viaJSON(t, refConnection(&r.recs.conns[conns]))
				conns++
				for k := range got {
					if _, ok := want[k]; !ok {
						delete(got, k) // calls, kernel, tunnel and the facts written when set
					}
				}
			default:
				continue
			}
			lines++
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: line differs from encoding/json's\n got %v\nwant %v", file, got, want)
			}
		}
		if segs != len(r.recs.segs) || conns != len(r.recs.conns) {
			t.Errorf("%s: %d segment and %d connection lines, want %d and %d", file, segs, conns, len(r.recs.segs), len(r.recs.conns))
		}
	}
	if lines == 0 {
		t.Fatal("no lines compared")
	}
	t.Logf("%d lines of %d captures compared", lines, len(files))
}
