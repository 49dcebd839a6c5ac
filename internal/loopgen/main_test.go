package main

import (
	"context"
	"strings"
	"testing"
)

// TestRun makes a few real loopback connections with the default port
// range (no namespace needed) and checks that every one is counted once.
func TestRun(t *testing.T) {
	cfg := config{N: 200, Addr: "127.0.0.1:0", InFlight: 8, RequestLen: 10, ReplyLen: 20}
	st, err := run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("run: %v (%+v)", err, st)
	}
	if st.Done != 200 || st.Failed != 0 {
		t.Fatalf("done %d failed %d, want 200 and 0", st.Done, st.Failed)
	}
	if st.Ports < 1 || st.MinReuse < 1 || st.MaxReuse < st.MinReuse {
		t.Fatalf("port counts %+v", st)
	}
	if int64(st.Ports)*st.MinReuse > st.Done {
		t.Fatalf("%d ports each used at least %d times, but only %d connections", st.Ports, st.MinReuse, st.Done)
	}
}

// TestRunRate checks the pacer: 50 connections at 500/s take about 0.1 s.
func TestRunRate(t *testing.T) {
	cfg := config{N: 50, Addr: "127.0.0.1:0", Rate: 500, InFlight: 4, RequestLen: 1, ReplyLen: 1}
	st, err := run(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The 50th start is due at 98 ms; allow for a loaded machine above,
	// but never below.
	if st.Elapsed.Seconds() < 0.09 {
		t.Fatalf("50 connections at 500/s took %v, want at least 98 ms", st.Elapsed)
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := run(ctx, config{N: 10, Addr: "127.0.0.1:0", InFlight: 1, RequestLen: 1, ReplyLen: 1}, nil)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("cancelled run: err %v, want interrupted", err)
	}
}

func TestConfigCheck(t *testing.T) {
	for _, c := range []config{
		{N: 0, InFlight: 1, RequestLen: 1, ReplyLen: 1},
		{N: 1, InFlight: 0, RequestLen: 1, ReplyLen: 1},
		{N: 1, InFlight: 1, RequestLen: 0, ReplyLen: 1},
		{N: 1, InFlight: 1, RequestLen: 1, ReplyLen: 1, Rate: -1},
	} {
		if c.check() == nil {
			t.Errorf("%+v: accepted", c)
		}
	}
}
