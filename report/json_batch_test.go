package report

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/internal/gencap"
)

// jsonOf replays a capture into a report made by newReport, with calls
// from packet comments, and returns what it wrote.
func jsonOf(t *testing.T, path string, newReport func(*bytes.Buffer) handler) []byte {
	t.Helper()
	var out bytes.Buffer
	h := newReport(&out)
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	tr := decode.NewTracker(h, decode.TrackerConfig{MaxConnections: 16})
	n, runErr := decode.Run(context.Background(), src, tr, decode.RunOptions{})
	tr.Flush()
	s := Summary{Counts: n, Connections: tr.Stats().Connections}
	if runErr != nil {
		s.Err = runErr.Error()
	}
	if err := h.Summary(s); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestBatchJSONMatchesJSON checks that the JSON written a batch at a time
// is byte for byte the JSON written in line, on every test
// capture and on a generated one of 2000 connections with ports reused and
// a table of 16 (connections evicted, resumed, ended in bursts), whose
// batches fill many times and whose connections reuse the calls lists the
// batches took. Teed with a JSON report after it (as --html is), the
// batches copy the calls instead: both outputs must still be JSON's.
func TestBatchJSONMatchesJSON(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.pcap")
	if err := gencap.WriteFile(big, gencap.Options{Connections: 2000, Interleave: 64, ClientPorts: 200}); err != nil {
		t.Fatal(err)
	}
	files := append(captures(t), big)
	if more, _ := filepath.Glob("../../shared/captures/tcpdump-tests/*.pcap*"); len(more) > 0 && !testing.Short() {
		files = append(files, more...)
	}
	for _, f := range files {
		want := jsonOf(t, f, func(b *bytes.Buffer) handler { return NewJSON(b) })
		got := jsonOf(t, f, func(b *bytes.Buffer) handler { return NewBatchJSON(b) })
		if !bytes.Equal(got, want) {
			t.Errorf("%s: BatchJSON differs from JSON:\n%s", f, firstDiff(got, want))
		}
		var second bytes.Buffer
		got = jsonOf(t, f, func(b *bytes.Buffer) handler { return Tee(NewBatchJSON(b), NewJSON(&second)) })
		if !bytes.Equal(got, want) {
			t.Errorf("%s: BatchJSON in a tee differs from JSON:\n%s", f, firstDiff(got, want))
		}
		if !bytes.Equal(second.Bytes(), want) {
			t.Errorf("%s: the JSON after BatchJSON in a tee differs from JSON alone:\n%s", f, firstDiff(second.Bytes(), want))
		}
	}
}

// firstDiff shows where two outputs part.
func firstDiff(got, want []byte) string {
	lg, lw := bytes.Split(got, []byte("\n")), bytes.Split(want, []byte("\n"))
	for i := range min(len(lg), len(lw)) {
		if !bytes.Equal(lg[i], lw[i]) {
			return fmt.Sprintf("line %d:\ngot  %s\nwant %s", i+1, lg[i], lw[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(lg), len(lw))
}
