package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxShebangHops bounds how many "#!" interpreters is32Bit follows (the
// kernel itself follows at most 4).
const maxShebangHops = 4

// is32Bit reports whether the program at path runs as 32-bit code on a
// 64-bit kernel (an i386 program on amd64, 32-bit ARM on arm64): an ELF
// file of class ELFCLASS32, or a script whose "#!" interpreter is one.
// Such a program makes its system calls through the compat entry, which
// the eBPF recorder does not decode (its numbers are another
// architecture's), so `run --tracer auto` traces it with ptrace instead.
// A file that is neither (unreadable, another format) is not 32-bit: the
// exec will say what is wrong with it.
func is32Bit(path string) (bool, error) {
	for range maxShebangHops + 1 {
		f, err := os.Open(path)
		if err != nil {
			return false, err
		}
		head := make([]byte, 256)
		n, _ := io.ReadFull(f, head)
		f.Close()
		head = head[:n]
		switch {
		case bytes.HasPrefix(head, []byte(elf.ELFMAG)):
			return len(head) > elf.EI_CLASS && elf.Class(head[elf.EI_CLASS]) == elf.ELFCLASS32, nil
		case bytes.HasPrefix(head, []byte("#!")):
			line, _ := bufio.NewReader(bytes.NewReader(head[2:])).ReadString('\n')
			fields := strings.Fields(line)
			if len(fields) == 0 {
				return false, nil
			}
			path = fields[0]
		default:
			return false, nil
		}
	}
	return false, fmt.Errorf("%s: more than %d interpreters", path, maxShebangHops)
}
