//go:build linux && (amd64 || arm64)

package calls

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Overhead benchmarks: each runs a program plainly and under Trace, and
// reports the time of both and their ratio ("x"). Run them with
//
//	go test ./calls -run '^$' -bench TraceOverhead -benchtime 3x
//
// conns: 10,000 loopback connections (socket, connect, accept, close on
// both ends: every call stops). noconns: 100,000 rounds of getpid, write
// and read, none of which stops. noconns-close: the same plus an open and
// close of /dev/null per round: the close stops (seccomp cannot tell a
// socket from a file), so this is the worst case for a program that makes
// no socket calls.

func benchOverhead(b *testing.B, prog string, args ...string) {
	requireTracing(b)
	bin := testProgram(b, prog)
	argv := append([]string{bin}, args...)
	var plain, traced time.Duration
	var stats TraceStats
	for i := 0; i < b.N; i++ {
		start := time.Now()
		cmd := exec.Command(bin, args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		plain += time.Since(start)

		start = time.Now()
		tr, err := Trace(context.Background(), argv, TraceOptions{Events: func(Event) {}})
		if errors.Is(err, ErrPtraceNotPermitted) {
			b.Skip(err)
		}
		if err != nil {
			b.Fatal(err)
		}
		if code, err := tr.Wait(); code != 0 || err != nil {
			b.Fatalf("traced run: %d, %v", code, err)
		}
		traced += time.Since(start)
		stats = tr.Stats()
	}
	b.ReportMetric(float64(plain.Milliseconds())/float64(b.N), "plain-ms")
	b.ReportMetric(float64(traced.Milliseconds())/float64(b.N), "traced-ms")
	b.ReportMetric(float64(traced)/float64(plain), "x")
	b.ReportMetric(float64(stats.Stops), "stops")
	b.ReportMetric(float64(stats.Events), "events")
}

func BenchmarkTraceOverhead(b *testing.B) {
	b.Run("conns", func(b *testing.B) { benchOverhead(b, "conns", "10000") })
	b.Run("noconns", func(b *testing.B) { benchOverhead(b, "noconns", "100000") })
	b.Run("noconns-close", func(b *testing.B) { benchOverhead(b, "noconns", "100000", "close") })
}

// BenchmarkTraceStartup measures what Trace adds to starting a program
// (the exec helper's extra execve of this binary, seize, the exec stop).
func BenchmarkTraceStartup(b *testing.B) {
	requireTracing(b)
	bin := testProgram(b, "noconns")
	b.Run("plain", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := exec.Command(bin, "0").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("traced", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			tr, err := Trace(context.Background(), []string{bin, "0"}, TraceOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if code, err := tr.Wait(); code != 0 || err != nil {
				b.Fatal(code, err)
			}
		}
	})
}
