package hostilecap

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTcpdumpReadsThem checks the generated files are well-formed pcapng
// that tcpdump reads, with correct checksums (tcpdump -vv says "incorrect"
// otherwise) and the flags the generator meant.
func TestTcpdumpReadsThem(t *testing.T) {
	tcpdump, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed")
	}
	tests := []struct {
		name    string
		write   func(*bytes.Buffer) error
		packets int
		want    string
	}{
		{"syns", func(b *bytes.Buffer) error { return SYNRetransmits(b, 5) }, 5, "Flags [S]"},
		{"rsts", func(b *bytes.Buffer) error { return RSTs(b, 4) }, 7, "Flags [R]"},
		{"calls", func(b *bytes.Buffer) error { return CommentCalls(b, 2500) }, 9, "Flags [P.]"},
		{"hostile", func(b *bytes.Buffer) error { return HostileStrings(b, []string{"\x1b[2J", "ok"}) }, 10, "Flags [F.]"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := tt.write(&b); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		path := filepath.Join(t.TempDir(), tt.name+".pcapng")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(tcpdump, "-nn", "-vv", "-r", path).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: tcpdump: %v\n%s", tt.name, err, out)
		}
		s := string(out)
		if n := strings.Count(s, "IP (tos"); n != tt.packets {
			t.Errorf("%s: tcpdump read %d packets, want %d\n%s", tt.name, n, tt.packets, s)
		}
		if strings.Contains(s, "incorrect") {
			t.Errorf("%s: tcpdump finds a bad checksum\n%s", tt.name, s)
		}
		if !strings.Contains(s, tt.want) {
			t.Errorf("%s: no %q in tcpdump's output\n%s", tt.name, tt.want, s)
		}
	}
}
