package decode

import (
	"slices"
	"testing"

	"github.com/socktrace/socktrace/calls"
)

// The expected kernel sequences were recorded with the eBPF recorder on
// Linux 6.18 (TestDemoScenariosKernelStates logs them for every demo
// scenario); the inferred ones are what the tracker reports for the same
// connections.
func TestCompareKernelStates(t *testing.T) {
	const (
		cl = calls.TCPClose
		ss = calls.TCPSynSent
		sr = calls.TCPSynRecv
		es = calls.TCPEstablished
		f1 = calls.TCPFinWait1
		f2 = calls.TCPFinWait2
		cw = calls.TCPCloseWait
		la = calls.TCPLastAck
		li = calls.TCPListen
		cg = calls.TCPClosing
	)
	for _, tc := range []struct {
		name     string
		side     Side
		kernel   []calls.TCPState
		inferred []State
		agree    bool
		notes    []KernelNote
	}{
		{"active close", Client, []calls.TCPState{cl, ss, es, f1, f2, cl},
			[]State{Closed, SynSent, Established, FinWait1, FinWait2, TimeWait}, true, []KernelNote{NoteTimeWait}},
		{"passive close", Server, []calls.TCPState{li, sr, es, cw, la, cl},
			[]State{Listen, SynReceived, Established, CloseWait, LastAck, Closed}, true, []KernelNote{NoteRequestSocket}},
		{"refused", Client, []calls.TCPState{cl, ss, cl}, []State{Closed, SynSent, Closed}, true, nil},
		{"self-connect", Client, []calls.TCPState{cl, ss, sr, es, f1, cg, cl},
			[]State{Closed, SynSent, SynReceived, Established, FinWait1, Closing, TimeWait}, true, []KernelNote{NoteTimeWait}},
		{"capture ended first", Client, []calls.TCPState{cl, ss, es, f1}, []State{Closed, SynSent, Established}, true, nil},
		{"reset where the packets show a FIN", Client, []calls.TCPState{cl, ss, es, cl},
			[]State{Closed, SynSent, Established, FinWait1}, false, nil},
		{"unknown kernel state", Client, []calls.TCPState{cl, calls.TCPNewSynRecv}, []State{Closed, SynSent}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agree, notes := compareStates(tc.kernel, tc.inferred, tc.side)
			if agree != tc.agree || !slices.Equal(notes, tc.notes) {
				t.Errorf("compareStates = %v, %v; want %v, %v", agree, notes, tc.agree, tc.notes)
			}
		})
	}
}
