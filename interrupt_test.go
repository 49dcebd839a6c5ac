package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInterrupt sends Ctrl-C (SIGINT) to a running socktrace at several
// moments of a demo run: it must stop the scenario, drain the ring, write
// the pcapng file and the summary, and exit 0, leaving no socket behind.
func TestInterrupt(t *testing.T) {
	needCapture(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "socktrace")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, after := range []time.Duration{50 * time.Millisecond, 150 * time.Millisecond, 400 * time.Millisecond} {
		pcap := filepath.Join(dir, "x.pcapng")
		os.Remove(pcap)
		cmd := exec.Command(bin, "--iface", "lo", "--scenario", "all", "--format", "json", "--write", pcap)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// The moments count from when socktrace is capturing (it handles
		// Ctrl-C from before it opens its packet socket): on a loaded
		// machine the first 50 ms after exec can pass before main runs,
		// and a SIGINT then kills it as it kills any program.
		if err := waitCapturing(cmd.Process.Pid, 10*time.Second); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("after %v: %v", after, err)
		}
		time.Sleep(after)
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("after %v: %v: %s", after, err, errOut.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("after %v: still running 10 s after SIGINT", after)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if !strings.HasPrefix(lines[len(lines)-1], `{"type":"summary"`) {
			t.Errorf("after %v: the last line is not the summary: %q", after, lines[len(lines)-1])
		}
		if _, code := replayCode(pcap); code != 0 {
			t.Errorf("after %v: the written file does not replay (exit %d)", after, code)
		}
	}
}

// waitCapturing waits until process pid holds a packet socket: one of its
// descriptors is a socket whose inode /proc/net/packet lists.
func waitCapturing(pid int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if packetSocketOf(pid) {
			return nil
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return fmt.Errorf("process %d ended before it captured: %w", pid, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d opened no packet socket within %v", pid, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// packetSocketOf reports whether pid has an AF_PACKET socket open.
func packetSocketOf(pid int) bool {
	b, err := os.ReadFile("/proc/net/packet")
	if err != nil {
		return false
	}
	inodes := make(map[string]bool)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			inodes[f[len(f)-1]] = true
		}
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, _ := os.ReadDir(dir)
	for _, fd := range fds {
		link, _ := os.Readlink(filepath.Join(dir, fd.Name()))
		if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
			return true
		}
	}
	return false
}

func replayCode(path string) (string, int) {
	var out, errOut bytes.Buffer
	code := run([]string{"socktrace", "replay", "--format", "json", path}, &out, &errOut)
	return errOut.String(), code
}
