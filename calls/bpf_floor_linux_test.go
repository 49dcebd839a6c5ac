//go:build linux && (amd64 || arm64)

package calls

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/capture"
)

// BenchmarkRecordFloor splits what recording costs a program that does
// nothing but make connections into the hooks' share and the recorder's
// work. Each iteration runs the program three times, interleaved:
//
//	plain   alone
//	hooks   with a program that does nothing (return 0) attached at each
//	        of the recorder's hook points: every system call's entry and
//	        exit, every TCP state change, every frame sent and received,
//	        forks, exits, retransmissions, resets, errors
//	record  recorded as run records it: calls, kernel states and the
//	        in-kernel packet capture
//
// hooks is the floor for any recorder built on these hooks: what the
// kernel takes to enter the system call slow path and to call a BPF
// program at each hook, before the program does anything. record-hooks is
// the recorder's own work (lookups, records, clock reads).
//
// The figures are the program's own: its CPU time (user and system, the
// kernel's work in its context included, softirqs of its loopback
// segments too) and its elapsed time, as it measured them. Where taskset
// exists and there are two CPUs or more, the program runs on CPU 0 (Go
// programs with GOMAXPROCS=1) and this process on the others, so that
// the program's CPU is its own work (otherwise the recorder's reader and
// the Go scheduler's spinning move with whatever else runs). Run with
//
//	go test ./calls -run '^$' -bench RecordFloor -benchtime 10x
//
// The numbers are in docs/performance.md.
func BenchmarkRecordFloor(b *testing.B) {
	requireBPF(b)
	conns := testProgram(b, "conns")
	b.Run("python-reply-4000", func(b *testing.B) {
		py, err := exec.LookPath("python3")
		if err != nil {
			b.Skip("python3 not installed")
		}
		benchFloor(b, []string{py, "-c", pythonReplyTimed, "4000"})
	})
	b.Run("conns-4000", func(b *testing.B) { benchFloor(b, []string{conns, "4000"}) })
}

// pythonReplyTimed makes n loopback connections, each answered with one
// byte the client reads before it closes (the client cannot outrun the
// accepting thread), and writes its elapsed and CPU time for them, as
// testdata/conns does.
const pythonReplyTimed = `
import os, socket, sys, threading, time
n = int(sys.argv[1])
t0, c0 = time.perf_counter(), time.process_time()
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(128)
def serve():
    for _ in range(n):
        c, _ = ls.accept(); c.sendall(b"x"); c.close()
t = threading.Thread(target=serve); t.start()
for _ in range(n):
    c = socket.create_connection(ls.getsockname()); c.recv(1); c.close()
t.join(); ls.close()
open(os.environ["ELAPSED_FILE"], "w").write("%d\n" % int((time.perf_counter() - t0) * 1e9))
open(os.environ["CPU_FILE"], "w").write("%d\n" % int((time.process_time() - c0) * 1e9))
`

func benchFloor(b *testing.B, argv []string) {
	pinned := false
	if taskset, err := exec.LookPath("taskset"); err == nil && runtime.NumCPU() >= 2 {
		restore, err := keepOffCPU0()
		if err != nil {
			b.Fatal(err)
		}
		defer restore()
		argv = append([]string{taskset, "-c", "0"}, argv...)
		pinned = true
	}
	dir := b.TempDir()
	elapsedFile, cpuFile := filepath.Join(dir, "elapsed"), filepath.Join(dir, "cpu")
	env := append(os.Environ(), "ELAPSED_FILE="+elapsedFile, "CPU_FILE="+cpuFile)
	if pinned {
		env = append(env, "GOMAXPROCS=1")
	}
	var wall, cpu [3][]time.Duration // plain, hooks, record
	for i := 0; i < b.N; i++ {
		for k := range 3 {
			os.Remove(elapsedFile)
			os.Remove(cpuFile)
			switch k {
			case 0, 1:
				detach := func() {}
				if k == 1 {
					var err error
					if detach, err = attachEmptyHooks(); err != nil {
						b.Fatal(err)
					}
				}
				cmd := exec.Command(argv[0], argv[1:]...)
				cmd.Env, cmd.Stderr = env, os.Stderr
				err := cmd.Run()
				detach()
				if err != nil {
					b.Fatalf("%s: %v", argv, err)
				}
			case 2:
				opts := TraceOptions{Events: func(Event) {}, Kernel: func(KernelEvent) {}, Packets: func(*capture.Packet) {}, Env: env}
				r, err := Record(context.Background(), argv, opts)
				skipOrFail(b, err)
				if code, err := r.Wait(); code != 0 || err != nil {
					b.Fatalf("recorded run: %d, %v", code, err)
				}
				if s := r.Stats(); s.Dropped != 0 || s.PacketsDropped != 0 {
					b.Fatalf("recorded run dropped %d records, %d packets", s.Dropped, s.PacketsDropped)
				}
			}
			wall[k] = append(wall[k], readNanos(b, elapsedFile))
			cpu[k] = append(cpu[k], readNanos(b, cpuFile))
		}
	}
	// Medians: a benchmark run on a shared machine has outliers.
	ms := func(d []time.Duration) float64 { return float64(median(d).Microseconds()) / 1000 }
	ratio := func(d, base []time.Duration) float64 { return float64(median(d)) / float64(median(base)) }
	b.ReportMetric(ms(cpu[0]), "plain-cpu-ms")
	b.ReportMetric(ratio(cpu[1], cpu[0]), "hooks-cpu-x")
	b.ReportMetric(ratio(cpu[2], cpu[0]), "record-cpu-x")
	b.ReportMetric(ms(wall[0]), "plain-ms")
	b.ReportMetric(ratio(wall[1], wall[0]), "hooks-x")
	b.ReportMetric(ratio(wall[2], wall[0]), "record-x")
	if pinned {
		b.ReportMetric(1, "pinned")
	}
}

func readNanos(b *testing.B, path string) time.Duration {
	b.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		b.Fatalf("the program wrote no time: %v", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(text)), 10, 64)
	if err != nil {
		b.Fatalf("%s: %v", path, err)
	}
	return time.Duration(n)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// attachEmptyHooks attaches, at each of the recorder's hook points, a
// program that returns at once.
func attachEmptyHooks() (detach func(), err error) {
	spec, err := loadRecorder()
	if err != nil {
		return nil, err
	}
	var links []link.Link
	var progs []*ebpf.Program
	detach = func() {
		for _, l := range links {
			l.Close()
		}
		for _, p := range progs {
			p.Close()
		}
	}
	for _, ps := range spec.Programs {
		p, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: ps.Name, Type: ps.Type, AttachType: ps.AttachType, AttachTo: ps.AttachTo, License: ps.License,
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
		})
		if err != nil {
			detach()
			return nil, fmt.Errorf("empty %s: %w", ps.Name, err)
		}
		progs = append(progs, p)
		l, err := link.AttachTracing(link.TracingOptions{Program: p, AttachType: ps.AttachType})
		if err != nil {
			detach()
			return nil, fmt.Errorf("attach empty %s: %w", ps.Name, err)
		}
		links = append(links, l)
	}
	return detach, nil
}

// keepOffCPU0 moves this process's threads (and so the threads they
// start) off CPU 0, where the measured program runs.
func keepOffCPU0() (restore func(), err error) {
	var all, others unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return nil, fmt.Errorf("sched_getaffinity: %w", err)
	}
	others = all
	others.Clear(0)
	if others.Count() == 0 {
		return func() {}, nil
	}
	set := func(s *unix.CPUSet) error {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, s); err != nil && err != unix.ESRCH {
				return fmt.Errorf("sched_setaffinity %d: %w", tid, err)
			}
		}
		return nil
	}
	if err := set(&others); err != nil {
		return nil, err
	}
	return func() { set(&all) }, nil
}
