//go:build linux && (amd64 || arm64)

package calls

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stormResult is what testdata/storm printed: connections made, seconds
// taken, dials that failed.
type stormResult struct {
	conns   int64
	seconds float64
	failed  int64
}

func parseStorm(tb testing.TB, line string) stormResult {
	tb.Helper()
	var r stormResult
	if _, err := fmt.Sscan(line, &r.conns, &r.seconds, &r.failed); err != nil {
		tb.Fatalf("storm printed %q: %v", line, err)
	}
	return r
}

// BenchmarkRecordStorm records a storm of loopback connections: eight
// clients connecting to a listener as fast as they can for 3 seconds
// (testdata/storm; about 10,000 connections a second on an idle 2-core
// machine, a few thousand on a loaded one), and reports how many records
// the kernel side wrote and how many it had to drop (ring buffer full:
// counted, never silent), with the storm's rate untraced and traced.
// Run with
//
//	go test ./calls -run '^$' -bench RecordStorm -benchtime 3x
//
// conns/s and plain-conns/s are the storm's rate traced and untraced;
// records and dropped the kernel side's records read and lost per
// iteration, events the calls delivered; recorder-cpu-ms the recorder's
// CPU time (this process) per iteration. The numbers are in
// docs/performance.md.
func BenchmarkRecordStorm(b *testing.B) {
	requireBPF(b)
	storm := testProgram(b, "storm")
	var plainRate, rate float64
	var records, dropped, events, kernel uint64
	var selfCPU time.Duration
	for i := 0; i < b.N; i++ {
		out, err := exec.Command(storm, "3s", "8").Output()
		if err != nil {
			b.Fatal(err)
		}
		p := parseStorm(b, string(out))
		plainRate += float64(p.conns) / p.seconds

		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		var evs, kevs atomic.Uint64
		self := cpuTime(unix.RUSAGE_SELF)
		rec, err := Record(context.Background(), []string{storm, "3s", "8"}, TraceOptions{
			Stdout: w,
			Events: func(Event) { evs.Add(1) },
			Kernel: func(KernelEvent) { kevs.Add(1) },
		})
		w.Close()
		if errors.Is(err, ErrBPFUnavailable) {
			b.Skip(err)
		}
		if err != nil {
			b.Fatal(err)
		}
		line, _ := bufio.NewReader(r).ReadString('\n')
		r.Close()
		if code, err := rec.Wait(); code != 0 || err != nil {
			b.Fatalf("recorded storm: %d, %v", code, err)
		}
		selfCPU += cpuTime(unix.RUSAGE_SELF) - self
		t := parseStorm(b, line)
		rate += float64(t.conns) / t.seconds
		st := rec.Stats()
		records += st.Records
		dropped += st.Dropped
		events += evs.Load()
		kernel += kevs.Load()
	}
	n := float64(b.N)
	b.ReportMetric(plainRate/n, "plain-conns/s")
	b.ReportMetric(rate/n, "conns/s")
	b.ReportMetric(float64(records)/n, "records")
	b.ReportMetric(float64(dropped)/n, "dropped")
	b.ReportMetric(float64(events)/n, "events")
	b.ReportMetric(float64(kernel)/n, "kernel-events")
	b.ReportMetric(float64(selfCPU.Milliseconds())/n, "recorder-cpu-ms")
}

// TestRecordCountsDrops: when the ring buffer has no room, the records
// lost are counted (Stats().Dropped), never silently gone, and recording
// still ends when the program does, though its exit record was lost. The
// reader is held in its first event until the program, which makes 500
// connections into a ring of one page (some twenty records), has exited:
// the ring must overflow, and the exit record cannot fit.
func TestRecordCountsDrops(t *testing.T) {
	requireBPF(t)
	storm := testProgram(t, "storm")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var held sync.Once
	var evs atomic.Uint64
	rec, err := Record(context.Background(), []string{storm, "500", "2"}, TraceOptions{
		Stdout:         w,
		RingBufferSize: os.Getpagesize(),
		Events: func(ev Event) {
			evs.Add(1)
			held.Do(func() { waitExit(t, ev.PID) })
		},
	})
	w.Close()
	if errors.Is(err, ErrBPFUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(r).ReadString('\n')
	r.Close()
	waited := make(chan struct{})
	var code int
	go func() {
		code, err = rec.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(time.Minute):
		// A minute: far past any run; recording never ended.
		t.Fatalf("Wait has not returned a minute after the program ended (%d records read, %d dropped)", rec.Stats().Records, rec.Stats().Dropped)
	}
	if code != 0 || err != nil {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	res := parseStorm(t, strings.TrimSpace(line))
	st := rec.Stats()
	t.Logf("%d connections; %d records read, %d dropped, %d events", res.conns, st.Records, st.Dropped, evs.Load())
	if st.Dropped == 0 {
		t.Errorf("no records counted as dropped with a one-page ring and a stopped reader (%d read)", st.Records)
	}
	if st.Records == 0 {
		t.Errorf("no records read at all")
	}
}

// waitExit waits until process pid has exited (its pidfd becomes
// readable then, zombie or reaped), or is gone already.
func waitExit(t *testing.T, pid int) {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return
	}
	if err != nil {
		t.Errorf("pidfd_open %d: %v", pid, err)
		return
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, 60_000)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			t.Errorf("process %d did not exit in a minute (%v)", pid, err)
		}
		return
	}
}

// TestRingBufferSizeChecked: a ring buffer size that is not a power of two
// of at least a page is refused, not rounded.
func TestRingBufferSizeChecked(t *testing.T) {
	requireBPF(t)
	for _, n := range []int{100, os.Getpagesize() + 1, 3 * os.Getpagesize()} {
		r, err := Record(context.Background(), []string{"true"}, TraceOptions{RingBufferSize: n})
		if errors.Is(err, ErrBPFUnavailable) {
			t.Skip(err)
		}
		if err == nil {
			r.Wait()
			t.Errorf("RingBufferSize %d accepted", n)
			continue
		}
		if !strings.Contains(err.Error(), "power of two") {
			t.Errorf("RingBufferSize %d: %v", n, err)
		}
	}
}

// TestRecordPIDEndsAfterLostExit: RecordPID ends when its process exits,
// though the exit record was lost and the process stays a zombie (its
// parent, this test, reaps it only after Wait). The reader is held until
// the process has exited, its 500 connections overflowing a one-page ring.
func TestRecordPIDEndsAfterLostExit(t *testing.T) {
	requireBPF(t)
	storm := testProgram(t, "storm")
	// The program waits for a line on stdin before its storm, so that
	// recording starts first.
	cmd := exec.Command("sh", "-c", `read go && exec "$0" 500 2`, storm)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	var held sync.Once
	rec, err := RecordPID(context.Background(), cmd.Process.Pid, TraceOptions{
		RingBufferSize: os.Getpagesize(),
		Events:         func(ev Event) { held.Do(func() { waitExit(t, ev.PID) }) },
	})
	if errors.Is(err, ErrBPFUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	in.Write([]byte("go\n"))
	in.Close()
	waited := make(chan struct{})
	go func() {
		rec.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-time.After(time.Minute):
		t.Fatalf("Wait has not returned a minute after the process exited, a zombie (%d records read, %d dropped)", rec.Stats().Records, rec.Stats().Dropped)
	}
	st := rec.Stats()
	t.Logf("%d records read, %d dropped", st.Records, st.Dropped)
	if st.Dropped == 0 {
		t.Errorf("no records counted as dropped with a one-page ring and a stopped reader (%d read)", st.Records)
	}
}

// TestPreloaded: a preloaded recorder records as Record does (the
// program's connects, accepts and the kernel's states), once; a second
// use is refused, as is a ring buffer size other than the one loaded,
// and an unused one is released by Close.
func TestPreloaded(t *testing.T) {
	requireBPF(t)
	conns := testProgram(t, "conns")
	pre := Preload(0)
	defer pre.Close()
	var mu sync.Mutex
	count := map[Call]int{}
	var states int
	// With data: each connection waits for the server's echo, so the
	// server has accepted every one before the program ends (without it,
	// the program may exit with connections still in the accept queue:
	// the test once saw 1 accept of 3).
	rec, err := pre.Record(context.Background(), []string{conns, "3", "data"}, TraceOptions{
		Events: func(ev Event) {
			mu.Lock()
			count[ev.Call]++
			mu.Unlock()
		},
		Kernel: func(k KernelEvent) {
			mu.Lock()
			if k.Kind == KernelState {
				states++
			}
			mu.Unlock()
		},
	})
	if errors.Is(err, ErrBPFUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if code, err := rec.Wait(); code != 0 || err != nil {
		t.Fatalf("Wait = %d, %v", code, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if count[Connect] < 3 || count[Accept] < 3 || states < 3*4 {
		t.Errorf("3 connections recorded as %v and %d kernel state changes", count, states)
	}
	if _, err := pre.Record(context.Background(), []string{conns, "1"}, TraceOptions{}); err == nil || !strings.Contains(err.Error(), "preloaded recorder is used") {
		t.Errorf("second use of a preloaded recorder: %v", err)
	}
	other := Preload(0)
	if _, err := other.RecordPID(context.Background(), os.Getpid(), TraceOptions{RingBufferSize: 1 << 20}); err == nil || !strings.Contains(err.Error(), "ring buffer") {
		t.Errorf("a preloaded recorder with another ring buffer size: %v", err)
	}
	other.Close()
	Preload(0).Close()
}
