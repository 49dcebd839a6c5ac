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
// socktrace holds runs slower for it. On two cores, a Go program making
// 4000 loopback connections ran 1.48× its untraced time under run at
// socktrace's normal priority and 1.28× with socktrace at nice 19 (medians
// of 10 interleaved runs; docs/performance.md). So while a program
// recorded with eBPF runs, socktrace lowers its own priority to nice 19:
// the program gets every core it wants, and socktrace works in the time
// it leaves. The kernel's rings hold what socktrace has not read yet; when
// either fills past yieldUntil, socktrace takes its priority back until
// it has caught up (below yieldAgain), so a program that keeps every core
// busy cannot make it lose packets or records. Taking the priority back
// needs CAP_SYS_NICE: without it (not root), socktrace does not yield.
//
// A thread's priority is its own on Linux, and a new thread takes its
// creator's: every yieldEvery, the priority wanted is set on each of
// socktrace's threads (/proc/self/task), those the Go runtime started
// meanwhile included. The program's own threads are not socktrace's and
// keep theirs.

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
	// ST_NO_YIELD keeps the normal priority, to measure what yielding
	// buys (scripts/measure-run-overhead.sh).
	base, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil || os.Geteuid() != 0 || os.Getenv("ST_NO_YIELD") != "" {
		return func() {}
	}
	// The raw system call returns 20 - nice.
	base = 20 - base
	if base >= yieldNice {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		// This goroutine keeps a thread of its own, at the normal
		// priority, so that it sees a ring fill however busy the
		// program keeps the cores (a thread at nice 19 among busy ones
		// gets the CPU for a few milliseconds in hundreds).
		runtime.LockOSThread() // never unlocked: the thread ends with it
		me := unix.Gettid()
		tick := time.NewTicker(yieldEvery)
		defer tick.Stop()
		yielding := true
		for {
			nice := base
			if yielding {
				nice = yieldNice
			}
			setThreadsNice(nice, me)
			select {
			case <-done:
				setThreadsNice(base, me)
				return
			case <-tick.C:
			}
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
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

// setThreadsNice sets the nice value of every thread of this process
// but except.
func setThreadsNice(nice, except int) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return
	}
	for _, t := range tasks {
		if tid, err := strconv.Atoi(t.Name()); err == nil && tid != except {
			unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
		}
	}
}
