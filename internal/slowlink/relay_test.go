package slowlink

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// seqpacket returns the two ends of a socket pair that keeps message
// boundaries, as a TUN device does.
func seqpacket(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
}

// TestRelay passes numbered packets through a relay with a delay and a
// loss rule that drops every third: the others arrive whole, in order,
// never earlier than the delay after they were sent, and the counts add
// up. It asserts only the lower bound on the delay: a loaded machine can
// only make packets later.
func TestRelay(t *testing.T) {
	for _, delay := range []time.Duration{0, 30 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			inW, inR := seqpacket(t)
			outW, outR := seqpacket(t)
			defer inW.Close()
			defer outR.Close()
			n := 0
			drop := func() bool { n++; return n%3 == 0 }
			var st stats
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() {
				relay(ctx, inR, outW, delay, drop, &st)
				close(done)
			}()
			const packets = 31 // the last one kept, so every drop has happened when it arrives
			sent := make([]time.Time, packets)
			for i := range packets {
				sent[i] = time.Now()
				if _, err := fmt.Fprintf(inW, "packet %d", i); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 100)
			for i := range packets {
				if (i+1)%3 == 0 {
					continue // dropped
				}
				outR.SetReadDeadline(time.Now().Add(10 * time.Second))
				k, err := outR.Read(buf)
				if err != nil {
					t.Fatalf("packet %d: %v", i, err)
				}
				if got, want := string(buf[:k]), fmt.Sprintf("packet %d", i); got != want {
					t.Fatalf("got %q, want %q", got, want)
				}
				if d := time.Since(sent[i]); d < delay {
					t.Errorf("packet %d came after %v, before the delay %v", i, d, delay)
				}
			}
			cancel()
			inR.Close() // wakes the relay's read
			<-done
			outW.Close()
			s := st.snapshot()
			if s.Relayed != packets-packets/3 || s.Lost != packets/3 || s.Overflow != 0 {
				t.Errorf("stats %+v, want %d relayed and %d lost", s, packets-packets/3, packets/3)
			}
			if h := st.held.Load(); h != 0 {
				t.Errorf("%d packets held after all were passed on, want 0 (Link.Settle waits for 0)", h)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{RTT: -1}, {RTT: 2 * time.Minute}, {Loss: -0.1}, {Loss: 1.5}} {
		if c.validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (Config{RTT: 100 * time.Millisecond, Loss: 0.05}).validate(); err != nil {
		t.Error(err)
	}
}

func TestLossFunc(t *testing.T) {
	never, always := lossFunc(0), lossFunc(1)
	for range 1000 {
		if never() || !always() {
			t.Fatal("loss 0 dropped or loss 1 kept a packet")
		}
	}
}
