package main

import (
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/socktrace/socktrace/internal/gencap"
)

var (
	bigCaptureOnce sync.Once
	bigCapturePath string
	bigCaptureErr  error
)

// bigCapture writes, once per test binary, a capture of 100000 loopback
// connections (1M packets) whose client ports are reused 100 times each.
func bigCapture(b *testing.B) string {
	bigCaptureOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			bigCaptureErr = err
			return
		}
		bigCapturePath = filepath.Join(dir, "1M.pcap")
		bigCaptureErr = gencap.WriteFile(bigCapturePath, gencap.Options{Connections: 100000, Interleave: 16})
	})
	if bigCaptureErr != nil {
		b.Fatal(bigCaptureErr)
	}
	return bigCapturePath
}

// BenchmarkReplay measures the whole command, `socktrace replay
// --format F FILE` with the output thrown away, on a 1M-packet capture.
// One op is one replay of the file; packets/s and allocs/packet are the
// figures that matter.
func BenchmarkReplay(b *testing.B) {
	for _, format := range []string{"json", "text"} {
		b.Run(format, func(b *testing.B) {
			path := bigCapture(b)
			const packets = 100000 * gencap.PacketsPerConnection
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if code := run([]string{"socktrace", "replay", "--format", format, path}, io.Discard, io.Discard); code != 0 {
					b.Fatalf("exit code %d", code)
				}
			}
			b.ReportMetric(float64(b.N*packets)/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

// osMkdirTemp makes a directory that outlives one benchmark (b.TempDir is
// removed when the first sub-benchmark ends).
func osMkdirTemp() (string, error) { return os.MkdirTemp("", "socktrace-bench-") }
