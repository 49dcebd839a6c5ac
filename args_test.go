package main

import (
	"io"
	"slices"
	"testing"
)

func TestHoistFlags(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	tests := []struct{ in, want []string }{
		{[]string{"st", "replay", "a.pcap", "--format", "json"}, []string{"st", "replay", "--format", "json", "a.pcap"}},
		{[]string{"st", "replay", "a.pcap", "tcp", "port", "80", "--format=json"}, []string{"st", "replay", "--format=json", "a.pcap", "tcp", "port", "80"}},
		{[]string{"st", "-r", "a.pcap", "port", "80", "--lang", "ko"}, []string{"st", "-r", "a.pcap", "--lang", "ko", "port", "80"}},
		{[]string{"st", "--iface", "lo", "--scenario", "all"}, []string{"st", "--iface", "lo", "--scenario", "all"}},
		{[]string{"st", "replay", "a.pcap", "--", "--format"}, []string{"st", "replay", "a.pcap", "--", "--format"}},
	}
	for _, tt := range tests {
		if got := hoistFlags(app, tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("hoistFlags(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
