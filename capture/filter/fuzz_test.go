package filter

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

// FuzzCompile feeds arbitrary expressions to Parse and Compile. It must
// never panic; an expression that parses must print as one that parses to
// the same thing; and every program Compile returns must pass the checks
// of golang.org/x/net/bpf (it disassembles and its VM builds) and of
// NewMatcher, stay within the kernel's limit, and give the same verdicts
// in both interpreters.
//
//	go test -run '^$' -fuzz FuzzCompile -fuzztime 3m -parallel 1 ./capture/filter
func FuzzCompile(f *testing.F) {
	for _, name := range []string{"testdata/libpcap/expressions.txt", "testdata/libpcap/errors.txt"} {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		for line := range strings.Lines(string(data)) {
			if line = strings.TrimSpace(line); !strings.HasPrefix(line, "#") {
				f.Add(line, uint8(0))
			}
		}
	}
	f.Add("host 10.0.0.1 and (10.0.0.2 or not 10.0.0.3) || ! portrange 1-2", uint8(3))
	f.Add("src or dst net 2001:db8::/32 and dst and src port 0x50", uint8(5))

	var frames [][][]byte
	for _, lt := range linkTypes {
		var fs [][]byte
		for i, p := range generatedL3() {
			if i%23 == 0 {
				fs = append(fs, wrap(lt.lt, p, i%2 == 0, i).data)
			}
		}
		frames = append(frames, fs)
	}

	f.Fuzz(func(t *testing.T, expr string, ltIndex uint8) {
		x, err := Parse(expr)
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%q) error %v is not an *Error", expr, err)
			}
			return
		}
		if x != nil {
			y, err := Parse(x.String())
			if err != nil {
				t.Fatalf("Parse(%q) = %s, which does not parse: %v", expr, x, err)
			}
			if y.String() != x.String() {
				t.Fatalf("Parse(%q) = %s, which reparses as %s", expr, x, y)
			}
		}
		i := int(ltIndex) % len(linkTypes)
		prog, err := CompileExpr(x, linkTypes[i].lt, 262144)
		if err != nil {
			if !strings.Contains(err.Error(), "instructions") {
				t.Fatalf("Compile(%q, %s): unexpected error %v", expr, linkTypes[i].name, err)
			}
			return
		}
		if len(prog) > MaxInstructions {
			t.Fatalf("Compile(%q): %d instructions", expr, len(prog))
		}
		insns, ok := bpf.Disassemble(prog)
		if !ok {
			t.Fatalf("Compile(%q): program does not disassemble:\n%s", expr, dump(prog))
		}
		vm, err := bpf.NewVM(insns)
		if err != nil {
			t.Fatalf("Compile(%q): bpf.NewVM: %v\n%s", expr, err, dump(prog))
		}
		m, err := NewMatcher(prog)
		if err != nil {
			t.Fatalf("Compile(%q): NewMatcher: %v\n%s", expr, err, dump(prog))
		}
		for _, data := range frames[i] {
			n, err := vm.Run(data)
			if err != nil {
				t.Fatalf("Compile(%q): VM: %v", expr, err)
			}
			if (n != 0) != m.Match(data, len(data)) {
				t.Fatalf("Compile(%q): Matcher and VM disagree on % x", expr, data)
			}
		}
	})
}
