//go:build linux && (amd64 || arm64)

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkRunOverhead measures what `socktrace run` costs a program,
// side by side in each iteration: the program alone, under run --tracer
// ebpf and under run --tracer ptrace (the real binary, capturing on its
// default interface, the report written to /dev/null). Run with
//
//	go test . -run '^$' -bench RunOverhead -benchtime 5x
//
// Metrics per iteration: plain-ms, ebpf-ms and ptrace-ms are wall times,
// ebpf-x and ptrace-x their ratios to plain; the -cpu-ms metrics are
// user+system CPU of everything involved (socktrace and the program:
// fairer than wall times on a machine others use). The cost of run is
// (run − plain): the "true" case is the fixed part (start-up: loading the
// BPF programs or starting the ptrace helper, opening the capture; the
// end: draining it, detaching); the per-connection cost is the rest
// divided by the connections. The prog- metrics are the program's own
// time, measured inside it (ELAPSED_FILE: from its first socket call to
// its last close), so they leave out socktrace's start-up and end and say
// what tracing costs the program while it runs; prog-ebpf-x is the
// overhead issue 12 asks to keep within 1.1×. The prog-*-cpu metrics are
// the CPU the program itself used meanwhile (CPU_FILE; the Go programs
// only), the kernel's work for the capture and the recorder in its
// context included: unlike its wall time, other load barely moves it. The numbers are in
// docs/performance.md.
//
//	true               no connections: the fixed cost
//	go-conns-2000      2000 loopback connections (Go net)
//	python-2000        2000 connections made by Python (the program issue
//	                   12 measured ptrace on; skipped without python3).
//	                   Its client outruns the accepting thread, the
//	                   listen queue (128) overflows and the kernel drops
//	                   SYNs, so its time is mostly 1 s SYN retransmission
//	                   timeouts: bimodal and noisy, traced or not
//	python-2000-reply  the same, but the server sends one byte and the
//	                   client reads it before closing, so at most one
//	                   connection waits to be accepted: its time is the
//	                   sockets' work
//	go-conns-10000-data 10,000 connections, 1 KiB each way
func BenchmarkRunOverhead(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("run needs root here (CAP_NET_RAW, CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE)")
	}
	dir := b.TempDir()
	bin := filepath.Join(dir, "socktrace")
	conns := filepath.Join(dir, "conns")
	for target, pkg := range map[string]string{bin: ".", conns: "./calls/testdata/conns"} {
		if out, err := exec.Command("go", "build", "-o", target, pkg).CombinedOutput(); err != nil {
			b.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip(err)
	}
	b.Run("true", func(b *testing.B) { benchRun(b, bin, truePath) })
	b.Run("go-conns-2000", func(b *testing.B) { benchRun(b, bin, conns, "2000") })
	b.Run("python-2000", func(b *testing.B) {
		py, err := exec.LookPath("python3")
		if err != nil {
			b.Skip("python3 not installed")
		}
		benchRun(b, bin, py, "-c", pythonConns, "2000")
	})
	b.Run("python-2000-reply", func(b *testing.B) {
		py, err := exec.LookPath("python3")
		if err != nil {
			b.Skip("python3 not installed")
		}
		benchRun(b, bin, py, "-c", pythonReply, "2000")
	})
	b.Run("go-conns-10000-data", func(b *testing.B) { benchRun(b, bin, conns, "10000", "data") })
}

// pythonConns makes n loopback connections from Python (calls'
// BenchmarkRecordOverhead runs the same program).
const pythonConns = `
import os, socket, sys, threading, time
n = int(sys.argv[1])
t0 = time.perf_counter()
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(128)
def serve():
    for _ in range(n):
        c, _ = ls.accept(); c.close()
t = threading.Thread(target=serve); t.start()
for _ in range(n):
    c = socket.create_connection(ls.getsockname()); c.close()
t.join(); ls.close()
if os.environ.get("ELAPSED_FILE"):
    open(os.environ["ELAPSED_FILE"], "w").write("%d\n" % int((time.perf_counter() - t0) * 1e9))
`

// pythonReply is pythonConns with a one-byte reply from the server, read
// by the client before it closes: the client cannot outrun the accepting
// thread, so no SYN is dropped and the time is the sockets' work.
const pythonReply = `
import os, socket, sys, threading, time
n = int(sys.argv[1])
t0 = time.perf_counter()
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(128)
def serve():
    for _ in range(n):
        c, _ = ls.accept(); c.sendall(b"x"); c.close()
t = threading.Thread(target=serve); t.start()
for _ in range(n):
    c = socket.create_connection(ls.getsockname()); c.recv(1); c.close()
t.join(); ls.close()
if os.environ.get("ELAPSED_FILE"):
    open(os.environ["ELAPSED_FILE"], "w").write("%d\n" % int((time.perf_counter() - t0) * 1e9))
`

// childrenCPU is the user+system time of the children reaped so far.
func childrenCPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_CHILDREN, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timed runs argv to its end and returns its wall and CPU times, and the
// program's own time and own CPU as it wrote them to ELAPSED_FILE and
// CPU_FILE (0 when it did not).
func timed(b *testing.B, argv ...string) (wall, cpu, own, ownCPU time.Duration) {
	b.Helper()
	elapsed := filepath.Join(b.TempDir(), "elapsed")
	cpuFile := filepath.Join(b.TempDir(), "cpu")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "ELAPSED_FILE="+elapsed, "CPU_FILE="+cpuFile)
	cmd.Stderr = os.Stderr
	before := childrenCPU()
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v", argv[0], err)
	}
	wall, cpu = time.Since(start), childrenCPU()-before
	for _, f := range []struct {
		path string
		d    *time.Duration
	}{{elapsed, &own}, {cpuFile, &ownCPU}} {
		if text, err := os.ReadFile(f.path); err == nil {
			ns, err := strconv.ParseInt(strings.TrimSpace(string(text)), 10, 64)
			if err != nil {
				b.Fatalf("%s: %s: %v", argv[0], f.path, err)
			}
			*f.d = time.Duration(ns)
		}
	}
	return wall, cpu, own, ownCPU
}

func benchRun(b *testing.B, bin string, argv ...string) {
	var wall, cpu, own, ownCPU [3]time.Duration // plain, ebpf, ptrace
	for i := 0; i < b.N; i++ {
		for k, prefix := range [][]string{
			nil,
			{bin, "run", "--tracer", "ebpf", "--"},
			{bin, "run", "--tracer", "ptrace", "--"},
		} {
			w, c, o, oc := timed(b, append(prefix, argv...)...)
			wall[k] += w
			cpu[k] += c
			own[k] += o
			ownCPU[k] += oc
		}
	}
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / n }
	b.ReportMetric(ms(wall[0]), "plain-ms")
	b.ReportMetric(ms(wall[1]), "ebpf-ms")
	b.ReportMetric(ms(wall[2]), "ptrace-ms")
	b.ReportMetric(float64(wall[1])/float64(wall[0]), "ebpf-x")
	b.ReportMetric(float64(wall[2])/float64(wall[0]), "ptrace-x")
	b.ReportMetric(ms(cpu[0]), "plain-cpu-ms")
	b.ReportMetric(ms(cpu[1]), "ebpf-cpu-ms")
	b.ReportMetric(ms(cpu[2]), "ptrace-cpu-ms")
	if own[0] > 0 {
		b.ReportMetric(ms(own[0]), "prog-plain-ms")
		b.ReportMetric(ms(own[1]), "prog-ebpf-ms")
		b.ReportMetric(ms(own[2]), "prog-ptrace-ms")
		b.ReportMetric(float64(own[1])/float64(own[0]), "prog-ebpf-x")
		b.ReportMetric(float64(own[2])/float64(own[0]), "prog-ptrace-x")
	}
	if ownCPU[0] > 0 {
		b.ReportMetric(ms(ownCPU[0]), "prog-plain-cpu-ms")
		b.ReportMetric(ms(ownCPU[1]), "prog-ebpf-cpu-ms")
		b.ReportMetric(float64(ownCPU[1])/float64(ownCPU[0]), "prog-ebpf-cpu-x")
	}
}
