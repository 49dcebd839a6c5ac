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
//
// But /proc/kallsyms lists data symbols only with CONFIG_KALLSYMS_ALL: a
// kernel without it lists neither variable, randomized or not (this
// machine's: CONFIG_RANDOMIZE_MEMORY, yet no page_offset_base). There the
// constants are taken only when the layout cannot have moved: no
// kernel_randomize_memory (a text symbol, listed either way), or the
// kernel's text at its unrandomized address (KASLR did not run, and the
// memory layout is randomized only when it did). Else they would compute
// the address of some other memory, whose bytes the capture would give as
// a segment's payload. (KASLR's choice can be the unrandomized slot, one
// in some 500: then the constants are taken, wrongly.)
func readMemoryLayout(path string) (memoryLayout, error) {
	f, err := os.Open(path)
	if err != nil {
		return memoryLayout{}, fmt.Errorf("calls: %w", err)
	}
	defer f.Close()
	var l memoryLayout
	var found int
	var text uint64
	var randomizer bool
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
		case "_text":
			text, _ = strconv.ParseUint(string(line[:sp]), 16, 64)
			continue
		case "kernel_randomize_memory":
			randomizer = true
			continue
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
	case found == 0 && (!randomizer || text == unrandomizedText):
		l.ready = 1
	case found == 0:
		l = memoryLayout{} // randomized, perhaps, with the variables unlisted
	case l.pageOffset != 0 && l.pageArray != 0:
		l.ready = 2
	default:
		l = memoryLayout{} // hidden addresses, or only one of the two
	}
	return l, nil
}

// unrandomizedText is where an x86-64 kernel's text starts when KASLR has
// not moved it: __START_KERNEL_map plus the default CONFIG_PHYSICAL_START
// (another start reads as moved: no payload from fragments, never a
// wrong one).
const unrandomizedText = 0xffffffff81000000
