package main

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/socktrace/socktrace/internal/hostilecap"
)

// BenchmarkHostileDoubling replays the adversary's captures at 10k, 20k and
// 40k segments (or calls) in every format and reports the cost per segment:
// a per-segment cost that is O(1) amortised stays flat as the input doubles,
// where the O(n²) SYN counting of old grew fourfold (0.5, 2.6, 10.8 s).
//
//	go test -run '^$' -bench HostileDoubling -benchmem .
func BenchmarkHostileDoubling(b *testing.B) {
	inputs := []struct {
		name  string
		write func(io.Writer, int) error
	}{
		{"syns", hostilecap.SYNRetransmits},
		{"rsts", hostilecap.RSTs},
		{"calls", hostilecap.CommentCalls},
	}
	dir := b.TempDir()
	for _, in := range inputs {
		for _, n := range []int{10_000, 20_000, 40_000} {
			path := filepath.Join(dir, in.name+strconv.Itoa(n)+".pcapng")
			writeHostile(b, path, in.write, n)
			for _, format := range []string{"text", "diagram", "json", "html"} {
				args := []string{"socktrace", "replay", "--format", format, path}
				if format == "html" {
					args = []string{"socktrace", "replay", "--format", "json", "--force", "--html", filepath.Join(dir, "out.html"), path}
				}
				b.Run(in.name+"/"+format+"/n="+strconv.Itoa(n), func(b *testing.B) {
					for b.Loop() {
						if code := run(args, io.Discard, io.Discard); code != 0 {
							b.Fatalf("exit %d", code)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/item")
				})
			}
		}
	}
}

func writeHostile(b *testing.B, path string, write func(io.Writer, int) error, n int) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if err := write(w, n); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}
