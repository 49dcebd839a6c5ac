package main

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestStepWriter feeds a report through --step's writer and presses
// Enter one line at a time: the first entry shows at once with its
// explanation, each later one only after an Enter.
func TestStepWriter(t *testing.T) {
	report := "Connection 1: a → b\n" +
		"  +0.000000  client           connect(3, 127.0.0.1:80) …\n" +
		"              connect() to 127.0.0.1:80: the kernel sends SYN.\n" +
		"  +0.000100  client → server   SYN      seq=0 len=0\n" +
		"              the SYN.\n" +
		"  +0.000200  server → client   SYN-ACK  seq=0 ack=1 len=0\n" +
		"Summary\n"
	inR, inW := io.Pipe()
	var out, prompt syncBuffer
	sw := newStepWriter(&out, inR, &prompt)
	done := make(chan error, 1)
	go func() {
		_, err := io.WriteString(sw, report)
		if err == nil {
			err = sw.Flush()
		}
		done <- err
	}()
	// waitFor waits until the output holds want (the writer runs on
	// another goroutine); it fails after a generous bound.
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("output never showed %q:\n%s", want, out.String())
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor("the kernel sends SYN.")
	if strings.Contains(out.String(), "SYN      seq=0") {
		t.Fatal("the second entry was written before Enter")
	}
	inW.Write([]byte("\n"))
	waitFor("the SYN.\n")
	if strings.Contains(out.String(), "SYN-ACK") {
		t.Fatal("the third entry was written before the second Enter")
	}
	inW.Write([]byte("\n"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out.String() != report {
		t.Errorf("the report changed:\n%s", out.String())
	}
	if n := strings.Count(prompt.String(), stepPrompt); n != 2 {
		t.Errorf("%d prompts, want 2 (before the second and third entries)", n)
	}
}

// TestStepNeedsTerminal: --step refuses a pipe (as under go test) with a
// usage error, before capturing anything.
func TestStepNeedsTerminal(t *testing.T) {
	for _, args := range [][]string{
		{"socktrace", "--iface", "lo", "--step"},
		{"socktrace", "--iface", "lo", "--step", "--format", "json"},
		{"socktrace", "--step"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "--step") || out.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and a message about --step", args, code, out.String(), errOut.String())
		}
	}
}
