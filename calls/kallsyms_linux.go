package calls

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// memoryLayout is where x86-64 kernels keep the bases of their direct map
// and page array, which the packet capture needs to read the payload in a
// segment's page fragments (recorder.bpf.c, page_address).
type memoryLayout struct {
	ready                 uint32 // 1: not randomized (constants); 2: the variables below
	pageOffset, pageArray uint64 // the addresses of page_offset_base and vmemmap_base
}

// readMemoryLayout finds page_offset_base and vmemmap_base in
// /proc/kallsyms. A kernel that does not randomize its layout has neither
// (the constants then hold); one that hides addresses (kptr_restrict) or
// has only one of them is not read (ready 0: no payload from fragments).
func readMemoryLayout(path string) (memoryLayout, error) {
	f, err := os.Open(path)
	if err != nil {
		return memoryLayout{}, fmt.Errorf("calls: %w", err)
	}
	defer f.Close()
	var l memoryLayout
	var found int
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 4096)
	for sc.Scan() && found < 2 {
		// "ffffffff8300c0d8 D page_offset_base": data symbols only.
		line := sc.Bytes()
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 || len(line) < sp+3 || line[sp+2] != ' ' {
			continue
		}
		var dst *uint64
		switch string(line[sp+3:]) {
		case "page_offset_base":
			dst = &l.pageOffset
		case "vmemmap_base":
			dst = &l.pageArray
		default:
			continue
		}
		if t := line[sp+1]; t != 'D' && t != 'd' && t != 'B' && t != 'b' {
			continue
		}
		addr, err := strconv.ParseUint(string(line[:sp]), 16, 64)
		if err != nil {
			return memoryLayout{}, fmt.Errorf("calls: %s: %q: %w", path, line, err)
		}
		*dst = addr
		found++
	}
	if err := sc.Err(); err != nil {
		return memoryLayout{}, fmt.Errorf("calls: read %s: %w", path, err)
	}
	switch {
	case found == 0:
		l.ready = 1
	case l.pageOffset != 0 && l.pageArray != 0:
		l.ready = 2
	default:
		l = memoryLayout{} // hidden addresses, or only one of the two
	}
	return l, nil
}
