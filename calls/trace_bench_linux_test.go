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
//
// Measured 2026-11-25 on a 2-vCPU AMD EPYC VM shared with other jobs
// (Linux 6.18; the numbers move by ±30% from run to run):
//
//	conns          plain 0.73–0.97 s  traced 4.2–4.4 s  4.4–6.0x  112k stops (~11 per connection)
//	noconns        plain 0.21–0.35 s  traced 0.30–0.39 s  1.1x    20 stops, all at start-up
//	noconns-close  plain 0.57–0.59 s  traced 2.9 s      5.0x     100k stops (one per close)
//	start-up       plain 2.1–5.9 ms   traced 5.2–9.6 ms (the helper's extra execve, seize, exec stop)
//
// For scale, strace -f --seccomp-bpf stopping on the same eight calls
// takes 2.4–3.2 s on conns (3–4x). The goal of 1.5x is out of reach for
// any ptrace tracer on this machine: a stop costs 20–40 µs here (two
// context switches, a SIGCHLD, wait4, the resume), and a loopback
// connection whose client and server are both traced makes about eleven
// (socket, connect, accept4 and Go's EAGAIN accept4, two closes: entry
// and exit each). A program making no socket calls runs at full speed;
// one that closes many files pays one stop per close. Getting under 1.5x
// for socket-heavy programs needs kernel-side recording (eBPF on the
// syscall tracepoints), which the original design planned for later.

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
