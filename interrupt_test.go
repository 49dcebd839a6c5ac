package main

import (
	"bytes"
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

func replayCode(path string) (string, int) {
	var out, errOut bytes.Buffer
	code := run([]string{"socktrace", "replay", "--format", "json", path}, &out, &errOut)
	return errOut.String(), code
}
