//go:build linux

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// build386 builds calls/testdata/blocking for 386.
func build386(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "blocking386")
	cmd := exec.Command("go", "build", "-o", bin, "./calls/testdata/blocking")
	cmd.Env = append(os.Environ(), "GOARCH=386", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the 386 test program: %v\n%s", err, out)
	}
	return bin
}

// TestIs32Bit: ELF class 32 is 32-bit, directly or as a script's
// interpreter; this test binary, a script run by sh, and a text file are
// not.
func TestIs32Bit(t *testing.T) {
	dir := t.TempDir()
	prog386 := build386(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path string
		want       bool
	}{
		{"386 ELF", prog386, true},
		{"this test binary", self, false},
		{"script run by a 386 interpreter", write("s386", "#!"+prog386+" -x\necho\n"), true},
		{"script run by sh", write("ssh", "#!/bin/sh\necho\n"), false},
		{"text", write("text", "hello\n"), false},
		{"empty", write("empty", ""), false},
		{"shebang loop", write("loop", "#!"+filepath.Join(dir, "loop")+"\n"), false},
	} {
		got, _ := is32Bit(tc.path)
		if got != tc.want {
			t.Errorf("%s: is32Bit = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRunAuto32BitFallsBackToPtrace: `run` (--tracer auto) of an i386
// program says in one line that eBPF would miss its calls and traces it
// with ptrace, which sees them.
func TestRunAuto32BitFallsBackToPtrace(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("i386 compat is an amd64 matter")
	}
	needCapture(t)
	prog := build386(t)
	_, err := exec.Command(prog).CombinedOutput()
	runs386 := !errors.Is(err, syscall.ENOEXEC)
	var out, errOut bytes.Buffer
	code := run([]string{"socktrace", "run", "--iface", "lo", "--format", "json", "--", prog}, &out, &errOut)
	// Said before anything runs, whether this kernel runs 386 code or not.
	if !strings.Contains(errOut.String(), "is a 32-bit program") || !strings.Contains(errOut.String(), "tracing with ptrace instead") {
		t.Errorf("stderr does not say the 32-bit program is traced with ptrace: %s", errOut.String())
	}
	if !runs386 {
		if code != 126 {
			t.Errorf("exit %d, want 126 (cannot execute): %s", code, errOut.String())
		}
		t.Skipf("this kernel does not run 386 binaries (no IA32 emulation): the fallback is said, the tracing is not checked")
	}
	if code != 3 {
		t.Fatalf("exit %d, want the program's 3: %s", code, errOut.String())
	}
	r := parseReport(t, out.Bytes())
	if len(r.conns) != 1 {
		t.Fatalf("%d connections, want 1", len(r.conns))
	}
	seen := map[string]bool{}
	for _, c := range r.conns[0].Calls {
		if !c.Inferred {
			seen[c.Side+" "+c.Call] = true
		}
	}
	for _, want := range []string{"client connect", "server accept", "server listen"} {
		if !seen[want] {
			t.Errorf("no %s() seen: %v", want, seen)
		}
	}
}
