//go:build linux

package main

import (
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadNices reads the nice value of each thread of this process
// (/proc/self/task/TID/stat, field 19).
func threadNices(t *testing.T) map[int]int {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	nices := make(map[int]int)
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/stat")
		if err != nil {
			continue // the thread ended
		}
		// The command name, in parentheses, may hold spaces: the
		// fields are counted after its closing parenthesis.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		tid, _ := strconv.Atoi(task.Name())
		nices[tid], _ = strconv.Atoi(f[16]) // field 19 of the whole line
	}
	return nices
}

// waitNices waits until every thread but at most one (the yielder's own)
// has the nice value want.
func waitNices(t *testing.T, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		others := 0
		nices := threadNices(t)
		for _, n := range nices {
			if n != want {
				others++
			}
		}
		if others <= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: thread nice values %v, want %d on all but the yielder's", what, nices, want)
		}
		time.Sleep(yieldEvery / 5) // the yielder acts on its own tick
	}
}

// TestYielding: while yielding, socktrace's threads run at nice 19; a ring
// filling past a quarter gives them their priority back until it has
// drained; stop restores it for good.
func TestYielding(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("taking the priority back needs CAP_SYS_NICE (root)")
	}
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	base := 20 - prio
	if base >= yieldNice {
		t.Skipf("this process already runs at nice %d", base)
	}
	var backlog atomic.Value
	backlog.Store(0.0)
	stop := startYielding(func() float64 { return backlog.Load().(float64) }, nil)
	defer stop()
	waitNices(t, yieldNice, "yielding")
	backlog.Store(0.5)
	waitNices(t, base, "a ring half full")
	backlog.Store(0.1) // still above yieldAgain: not yet
	time.Sleep(3 * yieldEvery)
	waitNices(t, base, "a ring draining")
	backlog.Store(0.0)
	waitNices(t, yieldNice, "the ring drained")
	stop()
	for tid, n := range threadNices(t) {
		if n != base {
			t.Errorf("after stop: thread %d at nice %d, want %d", tid, n, base)
		}
	}
}
