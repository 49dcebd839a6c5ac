package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/socktrace/socktrace/internal/gencap"
)

// The two shapes of traffic the replay benchmarks run on, both 100000
// connections and 1M packets (docs/performance.md): reuse, the loopback
// generator's shape (1000 client ports, 16 connections in flight, each
// port used 100 times); parallel, the shape of issue 14 (8 parallel clients
// with ports the kernel spreads over its whole range, so thousands of
// finished connections linger in the table at once).
var benchShapes = []struct {
	name string
	opt  gencap.Options
}{
	{"reuse", gencap.Options{Connections: 100000, Interleave: 16}},
	{"parallel", gencap.Options{Connections: 100000, Interleave: 8, ClientPorts: 28232}},
}

var (
	benchCaptureMu    sync.Mutex
	benchCapturePaths = map[string]string{}
)

// bigCapture writes, once per test binary, the capture of a shape.
func bigCapture(b *testing.B, shape int) string {
	benchCaptureMu.Lock()
	defer benchCaptureMu.Unlock()
	name := benchShapes[shape].name
	if p, ok := benchCapturePaths[name]; ok {
		return p
	}
	dir, err := osMkdirTemp()
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, name+".pcap")
	if err := gencap.WriteFile(p, benchShapes[shape].opt); err != nil {
		b.Fatal(err)
	}
	benchCapturePaths[name] = p
	return p
}

// BenchmarkReplay measures the whole command, `socktrace replay ARGS FILE`
// with the output thrown away, on both shapes and in every format: json,
// text (the shape rule), text with --explain all and none, diagram, and
// json with an --html page. One op is one replay of the file; packets/s
// and allocs/op are the figures that matter.
func BenchmarkReplay(b *testing.B) {
	formats := []struct {
		name string
		args []string
	}{
		{"json", []string{"--format", "json"}},
		{"text", []string{"--format", "text"}},
		{"text-explain-all", []string{"--format", "text", "--explain", "all"}},
		{"text-explain-none", []string{"--format", "text", "--explain", "none"}},
		{"diagram", []string{"--format", "diagram"}},
		{"html", []string{"--format", "json", "--html", filepath.Join(os.TempDir(), fmt.Sprintf("socktrace-bench-%d.html", os.Getpid()))}},
	}
	for shape := range benchShapes {
		for _, f := range formats {
			b.Run(benchShapes[shape].name+"/"+f.name, func(b *testing.B) {
				path := bigCapture(b, shape)
				const packets = 100000 * gencap.PacketsPerConnection
				args := append(append([]string{"socktrace", "replay"}, f.args...), path)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if f.name == "html" {
						os.Remove(args[len(args)-2]) // --html refuses to replace a file
					}
					if code := run(args, io.Discard, io.Discard); code != 0 {
						b.Fatalf("exit code %d", code)
					}
				}
				b.ReportMetric(float64(b.N*packets)/b.Elapsed().Seconds(), "packets/s")
			})
		}
	}
}

// osMkdirTemp makes a directory that outlives one benchmark (b.TempDir is
// removed when the first sub-benchmark ends).
func osMkdirTemp() (string, error) { return os.MkdirTemp("", "socktrace-bench-") }
