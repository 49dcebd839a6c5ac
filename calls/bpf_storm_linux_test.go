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
// lost are counted (Stats().Dropped), never silently gone. The reader is
// held in its first event while the program makes 500 connections into a
// ring of one page (some twenty records), so the ring must overflow; once
// the program has exited the reader goes on, and the count is there.
func TestRecordCountsDrops(t *testing.T) {
	requireBPF(t)
	storm := testProgram(t, "storm")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var held atomic.Bool
	var evs atomic.Uint64
	rec, err := Record(context.Background(), []string{storm, "500", "2"}, TraceOptions{
		Stdout:         w,
		RingBufferSize: os.Getpagesize(),
		Events: func(Event) {
			evs.Add(1)
			if !held.Swap(true) {
				<-release
			}
		},
	})
	w.Close()
	if errors.Is(err, ErrBPFUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		close(release)
		t.Fatal(err)
	}
	// The program prints its count when it is done: every record it
	// caused has been written, or dropped, by then.
	line, _ := bufio.NewReader(r).ReadString('\n')
	r.Close()
	close(release)
	if code, err := rec.Wait(); code != 0 || err != nil {
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
