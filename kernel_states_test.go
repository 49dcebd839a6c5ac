//go:build linux && (amd64 || arm64)

package main

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/socktrace/socktrace/calls"
	"github.com/socktrace/socktrace/decode"
	"github.com/socktrace/socktrace/demo"
)

// kernelViews collects each ended connection's kernel view.
type kernelViews struct {
	got []kernelSeen
}

type kernelSeen struct {
	scenario       string
	client, server netip.AddrPort
	view           decode.KernelView
	ok             bool
	inferred       [2][]decode.State
}

func (k *kernelViews) Segment(*decode.Connection, *decode.Step) {}
func (k *kernelViews) Ended(c *decode.Connection) {
	v, ok := c.Kernel()
	k.got = append(k.got, kernelSeen{scenario: c.Scenario, client: c.Client, server: c.Server, view: v, ok: ok,
		inferred: [2][]decode.State{append([]decode.State(nil), c.States(decode.Client)...), append([]decode.State(nil), c.States(decode.Server)...)}})
}

// TestDemoScenariosKernelStates runs every demo scenario in this process
// while the eBPF recorder records it (calls.RecordPID on ourselves) and
// the loopback is captured, and checks each connection's states as the
// kernel reported them against the ones inferred from its packets: they
// agree, with only the documented differences (decode.KernelNote).
func TestDemoScenariosKernelStates(t *testing.T) {
	needCapture(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var klog kernelLog
	rec, err := calls.RecordPID(ctx, os.Getpid(), calls.TraceOptions{Kernel: klog.add})
	if errors.Is(err, calls.ErrBPFUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dc, runErr := captureDemo(context.Background(), "", "lo", demo.Names(), demo.Options{}, nil, nil)
	// Every kernel event of the demo's sockets was written before its
	// last packet was captured; stop, and drain the ring.
	cancel()
	rec.Wait()
	if dc == nil || runErr != nil {
		t.Fatalf("demo: %v", runErr)
	}
	if st := rec.Stats(); st.Dropped != 0 {
		t.Fatalf("%d kernel events lost", st.Dropped)
	}
	dc.kernel = klog.take()
	kernelEvents := dc.kernel
	var h kernelViews
	tr := decode.NewTracker(&h, decode.TrackerConfig{})
	feed(tr, dc)
	tr.Flush()
	scenarios := map[string]bool{}
	for _, k := range h.got {
		name := func(side decode.Side) string {
			var ks, is []string
			for _, s := range k.view.States[side] {
				ks = append(ks, s.String())
			}
			for _, s := range k.inferred[side] {
				is = append(is, s.String())
			}
			return side.String() + ": kernel " + strings.Join(ks, ">") + ", inferred " + strings.Join(is, ">")
		}
		t.Logf("%s: agree %v notes %v; %s; %s", k.scenario, k.view.Agree, k.view.Notes, name(decode.Client), name(decode.Server))
		if !k.ok {
			t.Errorf("%s: no kernel states for a connection the demo made", k.scenario)
			continue
		}
		scenarios[k.scenario] = true
		if !k.view.Agree {
			t.Errorf("%s: kernel and inferred states differ beyond the documented differences: %s; %s",
				k.scenario, name(decode.Client), name(decode.Server))
			// What the recorder reported for the connection's ports,
			// in the order it came: for the next who looks at a
			// failure seen once under load (port-in-use, 2026-12-01:
			// a server's FIN_WAIT2 missing).
			for _, e := range kernelEvents {
				if e.Local.Port() == k.client.Port() || e.Local.Port() == k.server.Port() {
					t.Logf("  kernel %v %s %v → %v %v→%v pid %d sock %#x", e.Time.Format("15:04:05.000000"), e.Kind, e.Local, e.Remote, e.From, e.To, e.PID, e.Socket)
				}
			}
		}
	}
	for _, n := range demo.Names() {
		// udp makes no TCP connection: it has no TCP states to compare.
		if sc, _ := demo.Lookup(n); !scenarios[n] && sc.Connections > 0 {
			t.Errorf("scenario %s: no connection with kernel states", n)
		}
	}
	if len(scenarios) == 0 {
		t.Errorf("no scenario's connection had kernel states")
	}
}
