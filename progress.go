package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/internal/neutral"
)

// startProgress shows, on stderr when it is a terminal, how far a long
// replay has got: the position in the file, packets per second and the
// time left. It prints nothing for the first second, so short replays stay
// quiet, and nothing at all when stderr is not a terminal. The returned
// function stops it and clears the line.
func startProgress(file string, src *capture.FileReader, packets *atomic.Int64) (stop func()) {
	if !isTerminal(os.Stderr) {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		start := time.Now()
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		shown := false
		for {
			select {
			case <-done:
				if shown {
					fmt.Fprint(os.Stderr, "\r\033[K")
				}
				return
			case now := <-tick.C:
				elapsed := now.Sub(start)
				if elapsed < time.Second {
					continue
				}
				shown = true
				fmt.Fprintf(os.Stderr, "\r\033[K%s", progressLine(file, src.Stats(), packets.Load(), elapsed))
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// progressLine is one line of progress, e.g.
// "big.pcap: 45% (450 MB of 1.0 GB), 3.2M packets/s, 4 s left".
func progressLine(file string, st capture.FileStats, packets int64, elapsed time.Duration) string {
	file = neutral.String(file) // a file name is anyone's choice
	rate := float64(packets) / elapsed.Seconds()
	if st.Size <= 0 {
		return fmt.Sprintf("%s: %s read, %s packets/s", file, bytesText(st.BytesRead), countText(rate))
	}
	frac := float64(st.BytesRead) / float64(st.Size)
	left := "—"
	if frac > 0 {
		left = (time.Duration(float64(elapsed)/frac) - elapsed).Round(time.Second).String()
	}
	return fmt.Sprintf("%s: %.0f%% (%s of %s), %s packets/s, %s left",
		file, 100*frac, bytesText(st.BytesRead), bytesText(st.Size), countText(rate), left)
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d kB", n>>10)
}

func countText(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// isTerminalWriter reports whether w writes to a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok || f.Fd() == ^uintptr(0) {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
