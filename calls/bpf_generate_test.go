package calls

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestBPFObjectUpToDate rebuilds the recorder's BPF object and Go bindings
// with each go:generate command of bpf_generate.go into a temporary
// directory and compares them with the committed ones byte for byte. It
// needs clang at the version the committed object was built with
// (bpf/clang-version; another clang emits different, equally valid code)
// and skips, saying why, otherwise.
func TestBPFObjectUpToDate(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang is not installed: cannot check the committed BPF object")
	}
	out, err := exec.Command(clang, "--version").Output()
	if err != nil {
		t.Skipf("clang --version: %v", err)
	}
	pinned, err := os.ReadFile("bpf/clang-version")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.TrimSpace(string(pinned))
	if m := regexp.MustCompile(`clang version (\S+)`).FindSubmatch(out); m == nil || string(m[1]) != want {
		t.Skipf("clang is not version %s (bpf/clang-version): %s", want, bytes.SplitN(out, []byte("\n"), 2)[0])
	}
	// clang alone is not enough: the program includes libbpf's headers.
	if _, err := os.Stat("/usr/include/bpf/bpf_helpers.h"); err != nil {
		t.Skip("libbpf's headers are not installed (apt-get install libbpf-dev): cannot rebuild the BPF object to check it")
	}
	src, err := os.ReadFile("bpf_generate.go")
	if err != nil {
		t.Fatal(err)
	}
	var gens [][]string
	for _, line := range strings.Split(string(src), "\n") {
		if cmd, ok := strings.CutPrefix(line, "//go:generate "); ok {
			gens = append(gens, strings.Fields(cmd))
		}
	}
	if len(gens) == 0 {
		t.Fatalf("no go:generate line in bpf_generate.go")
	}
	for _, gen := range gens {
		if len(gen) < 3 || gen[0] != "go" || gen[1] != "tool" {
			t.Fatalf("go:generate %s: not a go tool command", strings.Join(gen, " "))
		}
		stem := ""
		for i, arg := range gen {
			if arg == "-output-stem" && i+1 < len(gen) {
				stem = gen[i+1]
			}
		}
		if stem == "" {
			t.Fatalf("go:generate %s: no -output-stem", strings.Join(gen, " "))
		}
		dir := t.TempDir()
		// -output-dir goes before the positional arguments.
		args := append([]string{gen[1], gen[2], "-output-dir", dir}, gen[3:]...)
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "GOPACKAGE=calls")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		for _, name := range []string{stem + "_bpfel.o", stem + "_bpfel.go"} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			committed, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, committed) {
				t.Errorf("calls/%s is stale: bpf/*.c or bpf_generate.go changed since it was generated; run scripts/gen-bpf.sh and commit the result", name)
			}
		}
	}
}
