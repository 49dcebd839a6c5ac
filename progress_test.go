package main

import (
	"testing"
	"time"

	"github.com/socktrace/socktrace/capture"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		st      capture.FileStats
		packets int64
		elapsed time.Duration
		want    string
	}{
		{capture.FileStats{BytesRead: 450 << 20, Size: 1000 << 20}, 6_400_000, 2 * time.Second, "f.pcap: 45% (450 MB of 1000 MB), 3.2M packets/s, 2s left"},
		{capture.FileStats{BytesRead: 3 << 30, Size: 4 << 30}, 30_000_000, 10 * time.Second, "f.pcap: 75% (3.0 GB of 4.0 GB), 3.0M packets/s, 3s left"},
		{capture.FileStats{BytesRead: 512 << 10, Size: -1}, 5000, time.Second, "f.pcap: 512 kB read, 5k packets/s"},
	}
	for _, tt := range tests {
		if got := progressLine("f.pcap", tt.st, tt.packets, tt.elapsed); got != tt.want {
			t.Errorf("progressLine = %q, want %q", got, tt.want)
		}
	}
}
