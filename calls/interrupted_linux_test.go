//go:build linux && (amd64 || arm64)

package calls

import (
	"context"
	"slices"
	"strconv"
	"testing"
)

// TestInterruptedAccept: a blocking accept4 interrupted three times by a
// signal (handled with SA_RESTART, so the kernel enters the call again) is
// one accept for both tracers, with the client's address and a new
// descriptor. The eBPF recorder once took rt_sigreturn's exit for the
// pending accept's and reported accept → 288, accept4's own number: the
// interrupted call's register, restored.
func TestInterruptedAccept(t *testing.T) {
	prog := testProgram(t, "signaled")
	for _, tracer := range []string{"ptrace", "ebpf"} {
		t.Run(tracer, func(t *testing.T) {
			var r *traced
			switch tracer {
			case "ptrace":
				requireTracing(t)
				r = runTraced(t, context.Background(), []string{prog}, nil)
			case "ebpf":
				r = runRecorded(t, context.Background(), []string{prog}, nil).traced
			}
			if r.err != nil || r.code != 0 {
				t.Fatalf("Wait = %d, %v; want 0, nil", r.code, r.err)
			}
			srv, cli := r.addr(t, "server"), r.addr(t, "client")
			accept := r.one(t, "accept", func(e *Event) bool { return e.Call == Accept })
			if accept.Result < 0 || accept.Errno != 0 || accept.Local != srv || accept.Remote != cli {
				t.Errorf("accept: %+v; want a new descriptor for the client %v on %v", accept, cli, srv)
			}
			for _, want := range []string{"interrupted 3", "accepted " + strconv.Itoa(accept.Result)} {
				if !slices.Contains(r.lines, want) {
					t.Errorf("the program did not print %q: %q", want, r.lines)
				}
			}
		})
	}
}
