//go:build linux && (amd64 || arm64)

package calls

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cpuTime is the user+system time of who (RUSAGE_SELF, RUSAGE_CHILDREN:
// the children reaped so far).
func cpuTime(who int) time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(who, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Overhead of the eBPF recorder, measured side by side with the plain
// program in each iteration (benchmarks, never timed tests). Run with
//
//	go test ./calls -run '^$' -bench RecordOverhead -benchtime 5x
//
// plain-ms and recorded-ms are wall times of the whole run; x is their
// ratio; setup-ms is what Record itself took before the program ran
// (loading and attaching the BPF programs, starting the helper), included
// in recorded-ms; run-x leaves it out. dropped counts records the ring
// buffer had no room for (0 means nothing was lost). The numbers are in
// docs/performance.md.
//
//	conns-2000         2000 loopback connections (Go net)
//	conns-10000-data   10,000 connections, 1 KiB each way
//	python-2000        2000 connections made by a Python program (the
//	                   issue's measurement; skipped without python3)
//	pid-conns-10000    RecordPID on a running program: it is never stopped
func benchRecord(b *testing.B, argv []string, byPID bool) {
	requireBPF(b)
	var plain, recorded, setup time.Duration
	var plainCPU, progCPU, selfCPU time.Duration
	var stats TraceStats
	for i := 0; i < b.N; i++ {
		start := time.Now()
		children := cpuTime(unix.RUSAGE_CHILDREN)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		plain += time.Since(start)
		plainCPU += cpuTime(unix.RUSAGE_CHILDREN) - children
		children = cpuTime(unix.RUSAGE_CHILDREN)
		self := cpuTime(unix.RUSAGE_SELF)

		start = time.Now()
		var r *Recorder
		var err error
		var child *exec.Cmd
		if byPID {
			child = exec.Command(argv[0], argv[1:]...)
			child.Stderr = os.Stderr
			if err := child.Start(); err != nil {
				b.Fatal(err)
			}
			r, err = RecordPID(context.Background(), child.Process.Pid, TraceOptions{Events: func(Event) {}})
		} else {
			r, err = Record(context.Background(), argv, TraceOptions{Events: func(Event) {}, Kernel: func(KernelEvent) {}})
		}
		if errors.Is(err, ErrBPFUnavailable) {
			b.Skip(err)
		}
		if err != nil {
			b.Fatal(err)
		}
		setup += time.Since(start)
		if byPID {
			// Our child: its exit code is cmd.Wait's; Wait ends when the
			// recorder sees the process exit.
			if err := child.Wait(); err != nil {
				b.Fatal(err)
			}
			recorded += time.Since(start)
			r.Wait()
		} else {
			if code, err := r.Wait(); code != 0 || err != nil {
				b.Fatalf("recorded run: %d, %v", code, err)
			}
			recorded += time.Since(start)
		}
		stats = r.Stats()
		progCPU += cpuTime(unix.RUSAGE_CHILDREN) - children
		selfCPU += cpuTime(unix.RUSAGE_SELF) - self
	}
	b.ReportMetric(float64(plain.Milliseconds())/float64(b.N), "plain-ms")
	b.ReportMetric(float64(recorded.Milliseconds())/float64(b.N), "recorded-ms")
	b.ReportMetric(float64(setup.Milliseconds())/float64(b.N), "setup-ms")
	b.ReportMetric(float64(recorded)/float64(plain), "x")
	b.ReportMetric(float64(recorded-setup)/float64(plain), "run-x")
	// CPU times (user+sys), less noisy than wall on a loaded machine:
	// the program's own, traced and not (the BPF programs run in its
	// system calls and count there), and the recorder's (this process:
	// reading the ring buffer, loading the programs).
	b.ReportMetric(float64(plainCPU.Milliseconds())/float64(b.N), "plain-cpu-ms")
	b.ReportMetric(float64(progCPU.Milliseconds())/float64(b.N), "prog-cpu-ms")
	b.ReportMetric(float64(selfCPU.Milliseconds())/float64(b.N), "recorder-cpu-ms")
	b.ReportMetric(float64(progCPU+selfCPU)/float64(plainCPU), "cpu-x")
	b.ReportMetric(float64(stats.Events), "events")
	b.ReportMetric(float64(stats.Dropped), "dropped")
}

// pythonConns makes n loopback connections from Python, the program the
// issue measured ptrace on.
const pythonConns = `
import socket, sys, threading
n = int(sys.argv[1])
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(128)
def serve():
    for _ in range(n):
        c, _ = ls.accept(); c.close()
t = threading.Thread(target=serve); t.start()
for _ in range(n):
    c = socket.create_connection(ls.getsockname()); c.close()
t.join(); ls.close()
`

func BenchmarkRecordOverhead(b *testing.B) {
	conns := testProgram(b, "conns")
	b.Run("conns-2000", func(b *testing.B) { benchRecord(b, []string{conns, "2000"}, false) })
	b.Run("conns-10000-data", func(b *testing.B) { benchRecord(b, []string{conns, "10000", "data"}, false) })
	b.Run("python-2000", func(b *testing.B) {
		py, err := exec.LookPath("python3")
		if err != nil {
			b.Skip("python3 not installed")
		}
		benchRecord(b, []string{py, "-c", pythonConns, "2000"}, false)
	})
	b.Run("pid-conns-10000", func(b *testing.B) { benchRecord(b, []string{conns, "10000"}, true) })
}
