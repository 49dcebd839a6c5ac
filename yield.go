//go:build linux

package main

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Yielding the CPU to the program `run` traces.
//
// socktrace's own work while a program runs (reading the capture's and
// the recorder's rings, following each connection) competes for the cores
// with the program it traces, and a traced program that waits for a core
// socktrace holds runs slower for it. So while a program recorded with
// eBPF runs, socktrace lowers its own priority to nice 19: the program
// gets every core it wants, and socktrace works in the time it leaves. On
// two cores, a Go program making 4000 loopback connections ran 1.45× its
// untraced time at socktrace's normal priority and 1.32× yielding (medians
// of 20 interleaved runs at load 3.4; 1.29× and 1.27× at load 2.3, the
// same at load 5, where the machine's other work competes with both:
// docs/performance.md). The kernel's rings hold what socktrace has not
// read yet; when either fills past yieldUntil, socktrace takes its
// priority back until it has caught up (below yieldAgain), so a program
// that keeps every core busy cannot make it lose packets or records.
// Taking the priority back needs CAP_SYS_NICE (or RLIMIT_NICE): socktrace
// tries it first, and does not yield where it cannot (not root, a
// container without the capability). ST_NO_YIELD=1 keeps the normal
// priority (to measure what yielding buys: scripts/measure-run-overhead.sh).
//
// A thread's priority is its own on Linux, and a new thread takes its
// creator's: every yieldEvery, the priority wanted is set on each of
// socktrace's threads (/proc/self/task), those the Go runtime started
// meanwhile included. The program's own threads are not socktrace's and
// keep theirs. The watcher keeps a thread of its own at the normal
// priority and sleeps on it with nanosleep: a Go timer would be fired by
// the runtime's other threads, at nice 19, late (25–124 ms measured beside
// three busy processes, against 3–14 ms).

const (
	yieldNice  = 19
	yieldUntil = 0.25
	yieldAgain = 0.05
	yieldEvery = 50 * time.Millisecond
)

// yieldCPU says whether run may change this process's priority: main sets
// it; tests run socktrace inside the test binary, whose priority is not
// run's to change.
var yieldCPU bool

// startYielding lowers socktrace's priority until stop is called, taking
// it back while any of backlogs (how full a ring is, 0 to 1) is past
// yieldUntil. stop restores the priority and returns once it has.
func startYielding(backlogs ...func() float64) (stop func()) {
	if os.Getenv("ST_NO_YIELD") != "" {
		return func() {}
	}
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		return func() {}
	}
	base := 20 - prio // the raw system call returns 20 - nice
	if base >= yieldNice {
		return func() {}
	}
	var done sync.WaitGroup
	var stopping sync.Mutex // held until stop: the watcher's signal
	stopping.Lock()
	done.Go(func() {
		runtime.LockOSThread() // never unlocked: the thread ends with it
		me := unix.Gettid()
		// Can the priority be taken back? Try on this thread, which
		// ends with the goroutine if it cannot.
		if unix.Setpriority(unix.PRIO_PROCESS, me, base+1) != nil || unix.Setpriority(unix.PRIO_PROCESS, me, base) != nil {
			return
		}
		yielding := true
		// It looks at the rings every yieldEvery, and whether to stop
		// five times as often: stop is called when the program has
		// exited, and socktrace's end should not wait for a tick.
		for i := 0; ; i++ {
			if i%5 == 0 {
				if i > 0 {
					fullest := 0.0
					for _, b := range backlogs {
						if b != nil {
							fullest = max(fullest, b())
						}
					}
					switch {
					case yielding && fullest > yieldUntil:
						yielding = false
					case !yielding && fullest < yieldAgain:
						yielding = true
					}
				}
				nice := base
				if yielding {
					nice = yieldNice
				}
				setThreadsNice(nice, me)
			}
			ts := unix.NsecToTimespec(int64(yieldEvery / 5))
			for unix.Nanosleep(&ts, &ts) == unix.EINTR {
			}
			if stopping.TryLock() {
				restoreThreadsNice(base, me)
				return
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			stopping.Unlock()
			done.Wait()
		})
	}
}

// setThreadsNice sets the nice value of every thread of this process but
// except, and returns the threads it saw.
func setThreadsNice(nice, except int) map[int]bool {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil
	}
	seen := make(map[int]bool, len(tasks))
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil && tid != except {
			unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
			seen[tid] = true
		}
	}
	return seen
}

// restoreThreadsNice sets every thread back to nice, again while a pass
// finds threads the last did not see: a thread still at nice 19 may
// start one during a pass, which takes its priority.
func restoreThreadsNice(nice, except int) {
	seen := setThreadsNice(nice, except)
	for range 10 {
		again := setThreadsNice(nice, except)
		grew := false
		for tid := range again {
			if !seen[tid] {
				grew = true
			}
		}
		if !grew {
			return
		}
		seen = again
	}
}
