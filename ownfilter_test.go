package main

import (
	"bytes"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRunIgnoresUnrelatedBulk traces a program (calls/testdata/blocking,
// one small connection, three seconds in) while an unrelated bulk transfer
// crosses loopback as fast as it can: socktrace must keep the program's packets only,
// holding a bounded amount of the others while it cannot yet tell (it
// used to copy every packet on the interface: 3.6 GiB), and report the
// program's connection.
func TestRunIgnoresUnrelatedBulk(t *testing.T) {
	needCapture(t)
	if testing.Short() {
		t.Skip("moves 256 MiB over loopback; skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "socktrace")
	prog := filepath.Join(dir, "blocking")
	for pkg, out := range map[string]string{".": bin, "./calls/testdata/blocking": prog} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", pkg, err, b)
		}
	}
	// The bulk transfer: a sink and a source on 127.0.0.1, started
	// before socktrace and running through the whole trace.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	src, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	stop := make(chan struct{})
	sent := make(chan int64, 1)
	go func() {
		buf := make([]byte, 1<<20)
		var n int64
		defer func() { sent <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			m, err := src.Write(buf)
			n += int64(m)
			if err != nil {
				return
			}
		}
	}()
	cmd := exec.Command(bin, "run", "--iface", "lo", "--format", "json", "--", "sh", "-c", "sleep 3; "+prog)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	resetPeakRSS(t)
	err = cmd.Run()
	close(stop)
	moved := <-sent
	if strings.Contains(errOut.String(), "ptrace") {
		t.Skipf("ptrace is not permitted here: %s", errOut.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 { // blocking exits 3 on purpose
		t.Fatalf("exit %d (%v), want the program's 3: %s", code, err, errOut.String())
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	t.Logf("%d MiB moved beside the trace; socktrace's peak RSS %.1f MiB; stderr: %s", moved>>20, float64(rss)/(1<<20), errOut.String())
	// The ring is 64 MiB and the packets not yet known to be unrelated
	// at most 8 MiB, plus the garbage of copying them; the old code
	// copied every packet (150 MiB and growing after 2 s) and, its
	// buffer full of them, lost the program's own connection.
	if rss > 136<<20 {
		t.Errorf("peak RSS %.1f MiB with an unrelated transfer on the interface", float64(rss)/(1<<20))
	}
	if n := strings.Count(out.String(), `"type":"connection"`); n != 1 {
		t.Errorf("%d connections reported, want the program's one:\n%s", n, out.String())
	}
}
