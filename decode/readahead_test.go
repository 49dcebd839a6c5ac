package decode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/internal/gencap"
)

// runLog writes down everything a tracker hands its handler, in order, as
// text: segments, ended connections, calls and datagrams.
type runLog struct{ bytes.Buffer }

func (l *runLog) Segment(c *Connection, st *Step) {
	s := st.Segment
	fmt.Fprintf(&l.Buffer, "seg %d %v %v %s %d %d %d %v %x\n", c.ID, s.Time.UnixNano(), st.From, st.Kind, st.RelSeq, st.RelAck, s.Len, st.After, s.Payload)
}

func (l *runLog) Ended(c *Connection) {
	fmt.Fprintf(&l.Buffer, "conn %d %s %s %s %s %v %v %d calls %d\n", c.ID, c.Client, c.Server, c.ConnState(), c.History(), c.States(Client), c.States(Server), c.Packets, len(c.Calls))
	if tun := c.Tunnel(); tun != nil {
		fmt.Fprintf(&l.Buffer, "  tunnel %+v\n", *tun)
	}
}

func (l *runLog) Call(c *Connection, ev *calls.Event) {
	id := 0
	if c != nil {
		id = c.ID
	}
	fmt.Fprintf(&l.Buffer, "call %d %s %s %d\n", id, ev.Side, ev.Call, ev.FD)
}

func (l *runLog) Datagram(d *Datagram) {
	fmt.Fprintf(&l.Buffer, "datagram %+v\n", *d)
}

// countingSource counts the packets it hands out and, when cancel is
// set, cancels after the stop-th.
type countingSource struct {
	capture.Source
	read   int64
	stop   int64
	cancel context.CancelFunc
}

func (s *countingSource) ReadPacket(p *capture.Packet) error {
	if err := s.Source.ReadPacket(p); err != nil {
		return err
	}
	s.read++
	if s.cancel != nil && s.read == s.stop {
		s.cancel()
	}
	return nil
}

// replayLog runs a capture through a tracker, with or without ReadAhead,
// and returns what the handler was given, the counts and the error.
func replayLog(t *testing.T, path string, readAhead bool, match func(*capture.Packet) bool, cancelAt int64) (string, Counts, error, int64) {
	t.Helper()
	f, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &countingSource{Source: f}
	if cancelAt > 0 {
		src.stop, src.cancel = cancelAt, cancel
	}
	var l runLog
	tr := NewTracker(&l, TrackerConfig{MaxConnections: 64})
	n, runErr := Run(ctx, src, tr, RunOptions{Match: match, ReadAhead: readAhead})
	tr.Flush()
	fmt.Fprintf(&l, "stats %+v\n", tr.Stats())
	return l.String(), n, runErr, src.read
}

// TestReadAheadMatchesRun replays every test capture (testdata, tcpdump's
// tests: tunnels, fragments, datagrams, packet comments with socket
// calls, damaged files) and a generated one of 5000 connections (many
// batches) with and without RunOptions.ReadAhead, and requires the same
// segments, connections, calls, datagrams, counts and error, and, with a
// filter, the same again. Run it with -race.
func TestReadAheadMatchesRun(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.pcap")
	if err := gencap.WriteFile(big, gencap.Options{Connections: 5000, Interleave: 16, ClientPorts: 300}); err != nil {
		t.Fatal(err)
	}
	files := []string{big}
	for _, glob := range []string{"../testdata/*.pcap*", "../report/testdata/*.pcapng", filepath.Join(tcpdumpTests, "*.pcap*")} {
		m, _ := filepath.Glob(glob)
		files = append(files, m...)
	}
	if testing.Short() {
		files = files[:min(len(files), 40)]
	}
	// Every other packet: a filter that splits connections.
	var odd bool
	everyOther := func(*capture.Packet) bool { odd = !odd; return odd }
	for _, path := range files {
		if _, err := capture.OpenFile(path); err != nil {
			continue // not a capture the reader takes: nothing to compare
		}
		for _, match := range []func(*capture.Packet) bool{nil, everyOther} {
			odd = false
			wantLog, wantN, wantErr, _ := replayLog(t, path, false, match, 0)
			odd = false
			gotLog, gotN, gotErr, _ := replayLog(t, path, true, match, 0)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("%s (filter %v): error %v with ReadAhead, %v without", path, match != nil, gotErr, wantErr)
			}
			if !reflect.DeepEqual(gotN, wantN) {
				t.Errorf("%s (filter %v): counts %+v with ReadAhead, %+v without", path, match != nil, gotN, wantN)
			}
			if gotLog != wantLog {
				t.Errorf("%s (filter %v): the tracker was given something else with ReadAhead:\n%s", path, match != nil, firstLineDiff(gotLog, wantLog))
			}
		}
	}
}

func firstLineDiff(got, want string) string {
	g, w := bytes.Split([]byte(got), []byte("\n")), bytes.Split([]byte(want), []byte("\n"))
	for i := range min(len(g), len(w)) {
		if !bytes.Equal(g[i], w[i]) {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, g[i], w[i])
		}
	}
	return fmt.Sprintf("%d lines, want %d", len(g), len(w))
}

// TestReadAheadKeepsEverythingRead checks the two ways a read-ahead run
// ends early: cancelled (Ctrl-C) after packet k, every packet read by then
// was applied, none lost in a batch; and a file cut short in the middle
// of a packet, every packet before the damage was applied and the error
// is returned.
func TestReadAheadKeepsEverythingRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gen.pcap")
	if err := gencap.WriteFile(path, gencap.Options{Connections: 1000, Interleave: 8}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []int64{1, 1500, 4096, 7000} {
		_, n, err, read := replayLog(t, path, true, nil, k)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled after packet %d: error %v, want context.Canceled", k, err)
		}
		if n.Packets != read || read < k {
			t.Errorf("cancelled after packet %d: %d packets read, %d applied", k, read, n.Packets)
		}
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.pcap")
	if err := os.WriteFile(cut, whole[:len(whole)*2/3+7], 0o644); err != nil {
		t.Fatal(err)
	}
	wantLog, wantN, wantErr, _ := replayLog(t, cut, false, nil, 0)
	gotLog, gotN, gotErr, read := replayLog(t, cut, true, nil, 0)
	if gotErr == nil || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Errorf("file cut short: error %v with ReadAhead, %v without", gotErr, wantErr)
	}
	if gotN.Packets != read || gotN.Packets < 5000 || !reflect.DeepEqual(gotN, wantN) {
		t.Errorf("file cut short: %d packets read, counts %+v with ReadAhead, %+v without", read, gotN, wantN)
	}
	if gotLog != wantLog {
		t.Errorf("file cut short: %s", firstLineDiff(gotLog, wantLog))
	}
}
