//go:build linux && (amd64 || arm64)

package calls

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/capture/filter"
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

// Overhead of the eBPF recorder and of the ptrace tracer, measured side
// by side with the plain program in each iteration (benchmarks, never
// timed tests). Run with
//
//	go test ./calls -run '^$' -bench RecordOverhead -benchtime 3x
//
// plain-ms, ebpf-ms and ptrace-ms are wall times of the whole run (from
// before Record, Trace or starting the program to the end of Wait);
// ebpf-x and ptrace-x their ratios to plain. setup-ms is what Record
// itself took before the program ran (loading and attaching the BPF
// programs, starting the helper), included in ebpf-ms. The -cpu-ms
// metrics are user+system CPU time: the program's and this process's (the
// recorder or tracer), less noisy than wall times on a loaded machine.
// dropped counts records the ring buffer had no room for (0: nothing was
// lost). With --pid, the process is started by the benchmark and its own
// context switches are reported (plain-csw, ebpf-csw: from its rusage,
// voluntary and not): a process the recorder never stops switches as
// often as running plainly; under ptrace it is stopped ptrace-stops
// times, each a switch out and back.
// The numbers are in docs/performance.md.
//
//	true               no connections: the fixed cost of recording
//	conns-2000         2000 loopback connections (Go net)
//	conns-10000-data   10,000 connections, 1 KiB each way
//	python-2000        2000 connections made by a Python program (the
//	                   issue's measurement; skipped without python3)
//	pid-conns-10000    RecordPID (Attach for ptrace) on a running program
func benchRecord(b *testing.B, argv []string, byPID bool) {
	requireBPF(b)
	kinds := 3
	if *benchNoPtrace {
		kinds = 2
	}
	var wall, cpu [3]time.Duration // plain, ebpf, ptrace
	var csw [3]int64
	var setup time.Duration
	var stats TraceStats
	var stops uint64
	for i := 0; i < b.N; i++ {
		for k := range kinds {
			children := cpuTime(unix.RUSAGE_CHILDREN)
			self := cpuTime(unix.RUSAGE_SELF)
			start := time.Now()
			var child *exec.Cmd
			if byPID || k == 0 {
				child = exec.Command(argv[0], argv[1:]...)
				child.Stderr = os.Stderr
				if err := child.Start(); err != nil {
					b.Fatal(err)
				}
			}
			var wait func() (int, error)
			var stat func() TraceStats
			switch {
			case k == 1 && byPID:
				r, err := RecordPID(context.Background(), child.Process.Pid, TraceOptions{Events: func(Event) {}})
				skipOrFail(b, err)
				setup += time.Since(start)
				wait, stat = r.Wait, r.Stats
			case k == 1:
				r, err := Record(context.Background(), argv, TraceOptions{Events: func(Event) {}, Kernel: func(KernelEvent) {}})
				skipOrFail(b, err)
				setup += time.Since(start)
				wait, stat = r.Wait, r.Stats
			case k == 2 && byPID:
				t, err := Attach(context.Background(), child.Process.Pid, TraceOptions{Events: func(Event) {}})
				skipOrFail(b, err)
				wait, stat = t.Wait, t.Stats
			case k == 2:
				t, err := Trace(context.Background(), argv, TraceOptions{Events: func(Event) {}})
				skipOrFail(b, err)
				wait, stat = t.Wait, t.Stats
			}
			if child != nil && k < 2 {
				// Ours to reap: its exit code and rusage are cmd.Wait's;
				// the recorder's Wait ends when it sees the process exit.
				// (Under ptrace the tracer, this process too, reaps it.)
				if err := child.Wait(); err != nil {
					b.Fatal(err)
				}
				ru := child.ProcessState.SysUsage().(*syscall.Rusage)
				csw[k] += ru.Nvcsw + ru.Nivcsw
			}
			if wait != nil {
				if code, err := wait(); code != 0 || err != nil {
					b.Fatalf("traced run: %d, %v", code, err)
				}
			}
			wall[k] += time.Since(start)
			cpu[k] += cpuTime(unix.RUSAGE_CHILDREN) - children + cpuTime(unix.RUSAGE_SELF) - self
			switch k {
			case 1:
				stats = stat()
			case 2:
				stops = stat().Stops
			}
		}
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	b.ReportMetric(ms(wall[0]), "plain-ms")
	b.ReportMetric(ms(wall[1]), "ebpf-ms")
	b.ReportMetric(ms(wall[2]), "ptrace-ms")
	b.ReportMetric(ms(setup), "setup-ms")
	b.ReportMetric(float64(wall[1])/float64(wall[0]), "ebpf-x")
	b.ReportMetric(float64(wall[2])/float64(wall[0]), "ptrace-x")
	b.ReportMetric(ms(cpu[0]), "plain-cpu-ms")
	b.ReportMetric(ms(cpu[1]), "ebpf-cpu-ms")
	b.ReportMetric(ms(cpu[2]), "ptrace-cpu-ms")
	if byPID {
		b.ReportMetric(float64(csw[0])/n, "plain-csw")
		b.ReportMetric(float64(csw[1])/n, "ebpf-csw")
	}
	b.ReportMetric(float64(stats.Events), "events")
	b.ReportMetric(float64(stats.Dropped), "dropped")
	b.ReportMetric(float64(stops), "ptrace-stops")
}

// benchNoPtrace leaves the ptrace tracer out of BenchmarkRecordOverhead
// (-bench-no-ptrace): when working on the eBPF recorder, its runs are
// most of the benchmark's time.
var benchNoPtrace = flag.Bool("bench-no-ptrace", false, "BenchmarkRecordOverhead: measure plain and eBPF only")

func skipOrFail(b testing.TB, err error) {
	b.Helper()
	if errors.Is(err, ErrBPFUnavailable) || errors.Is(err, ErrPtraceNotPermitted) {
		b.Skip(err)
	}
	if err != nil {
		b.Fatal(err)
	}
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
	b.Run("true", func(b *testing.B) {
		t, err := exec.LookPath("true")
		if err != nil {
			b.Skip(err)
		}
		benchRecord(b, []string{t}, false)
	})
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

// BenchmarkRecordPerCall measures what the eBPF recorder costs one system
// call, apart from its fixed cost: testdata/percall times getppid (a call
// the recorder does not record, but whose entry and exit its programs see,
// as they see every process's) and a 1-byte write and read on a loopback
// connection (two recorded calls) in a loop of 100,000, plain and
// recorded, side by side in each iteration. Run with
//
//	go test ./calls -run '^$' -bench RecordPerCall -benchtime 5x
//
// The metrics are nanoseconds per getppid and per write+read pair, as the
// program itself measured them, and the recorded/plain differences; then
// the same recorded with the packet capture on (TraceOptions.Packets:
// the data segments, and the ACKs the kernel sends for them, recorded
// too), what it adds per write+read and per segment recorded.
func BenchmarkRecordPerCall(b *testing.B) {
	requireBPF(b)
	prog := testProgram(b, "percall")
	var plain, recorded, captured, afpacket [2]float64 // getppid, write+read
	var packets float64
	for i := 0; i < b.N; i++ {
		for k := range 4 {
			out, err := os.CreateTemp(b.TempDir(), "percall")
			if err != nil {
				b.Fatal(err)
			}
			argv := []string{prog, "100000"}
			if k == 0 {
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Stdout, cmd.Stderr = out, os.Stderr
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
			} else {
				opts := TraceOptions{Events: func(Event) {}, Kernel: func(KernelEvent) {}, Stdout: out}
				if k == 2 {
					opts.Packets = func(*capture.Packet) {}
				}
				stop := func() {}
				if k == 3 {
					// A packet socket on every interface, as run
					// --capture afpacket opens, read as fast as it
					// fills.
					stop = capturePacketSocket(b)
				}
				r, err := Record(context.Background(), argv, opts)
				skipOrFail(b, err)
				code, err := r.Wait()
				stop()
				if code != 0 || err != nil {
					b.Fatalf("recorded run: %d, %v", code, err)
				}
				if k == 2 {
					packets += float64(r.Stats().Packets)
				}
			}
			out.Close()
			text, err := os.ReadFile(out.Name())
			if err != nil {
				b.Fatal(err)
			}
			var getppid, writeRead float64
			if _, err := fmt.Sscanf(string(text), "getppid %g\nwriteread %g\n", &getppid, &writeRead); err != nil {
				b.Fatalf("percall printed %q: %v", text, err)
			}
			sums := &plain
			switch k {
			case 1:
				sums = &recorded
			case 2:
				sums = &captured
			case 3:
				sums = &afpacket
			}
			sums[0] += getppid
			sums[1] += writeRead
		}
	}
	n := float64(b.N)
	b.ReportMetric(plain[0]/n, "plain-getppid-ns")
	b.ReportMetric(recorded[0]/n, "ebpf-getppid-ns")
	b.ReportMetric((recorded[0]-plain[0])/n, "added-getppid-ns")
	b.ReportMetric(plain[1]/n, "plain-writeread-ns")
	b.ReportMetric(recorded[1]/n, "ebpf-writeread-ns")
	b.ReportMetric((recorded[1]-plain[1])/n, "added-writeread-ns")
	b.ReportMetric((captured[1]-recorded[1])/n, "capture-added-writeread-ns")
	// Segments per write+read (100,000 of them a run), and what each cost.
	perPair := packets / n / 100000
	b.ReportMetric(perPair, "segments/writeread")
	if perPair > 0 {
		b.ReportMetric((captured[1]-recorded[1])/n/perPair, "capture-added-ns/segment")
		b.ReportMetric((afpacket[1]-recorded[1])/n/perPair, "afpacket-added-ns/segment")
	}
}

// capturePacketSocket captures TCP on every interface with a packet
// socket, reading everything, until stop.
func capturePacketSocket(b *testing.B) (stop func()) {
	linkType, err := capture.LiveFilterLinkType(capture.AnyInterface)
	if err != nil {
		b.Fatal(err)
	}
	prog, err := filter.Compile("tcp", linkType, capture.DefaultSnapLen)
	if err != nil {
		b.Fatal(err)
	}
	src, err := capture.OpenLive(capture.AnyInterface, capture.LiveOptions{Filter: prog})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var p capture.Packet
		for src.ReadPacket(&p) == nil {
		}
	}()
	return func() {
		src.Stop()
		<-done
		src.Close()
	}
}
