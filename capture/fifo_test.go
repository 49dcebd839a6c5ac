package capture

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestOpenFileContextFIFO: a FIFO whose writer never comes, or stalls,
// gives way to the context, and a packet the writer wrote before the
// context ended is still handed out (Ctrl-C must not lose what was read).
func TestOpenFileContextFIFO(t *testing.T) {
	file := newPcap(false, false, false, 1, 65535).packet(1, 2, []byte("frame"), 5).bytes()
	mkfifo := func(t *testing.T) string {
		t.Helper()
		p := filepath.Join(t.TempDir(), "fifo")
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			t.Skipf("no FIFOs here: %v", err)
		}
		return p
	}
	// open returns what OpenFileContext returns, or fails the test after
	// 10 s: a reader that never gives way would hang the test otherwise.
	open := func(t *testing.T, ctx context.Context, p string) (*FileReader, error) {
		t.Helper()
		type result struct {
			r   *FileReader
			err error
		}
		ch := make(chan result, 1)
		go func() {
			r, err := OpenFileContext(ctx, p)
			ch <- result{r, err}
		}()
		select {
		case res := <-ch:
			return res.r, res.err
		case <-time.After(10 * time.Second):
			t.Fatal("OpenFileContext did not return 10 s after the context ended")
			return nil, nil
		}
	}

	t.Run("no writer", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		r, err := open(t, ctx, mkfifo(t))
		if r != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, %v; want context.Canceled", r, err)
		}
	})

	t.Run("writer stalls in the header", func(t *testing.T) {
		p := mkfifo(t)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			w, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				return
			}
			defer w.Close()
			w.Write(file[:10]) // part of the header, then nothing
			cancel()
			<-time.After(20 * time.Second)
		}()
		r, err := open(t, ctx, p)
		if r != nil || !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, %v; want context.Canceled", r, err)
		}
	})

	t.Run("packet written before the end", func(t *testing.T) {
		p := mkfifo(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		written := make(chan *os.File, 1)
		go func() {
			w, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				close(written)
				return
			}
			w.Write(file)
			written <- w // kept open: the writer stalls
		}()
		r, err := open(t, ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		w := <-written
		if w == nil {
			t.Fatal("the writer could not open the FIFO")
		}
		defer w.Close()
		// The header's read took the packet too (one write, one read of
		// a large buffer); the context ends before it is asked for.
		cancel()
		r.Interrupt()
		var pkt Packet
		if err := r.ReadPacket(&pkt); err != nil || string(pkt.Data) != "frame" {
			t.Fatalf("first packet: %q, %v; want the frame written before Ctrl-C", pkt.Data, err)
		}
		if err := r.ReadPacket(&pkt); !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, io.EOF) {
			t.Errorf("second read: %v; want it interrupted", err)
		}
	})
}
