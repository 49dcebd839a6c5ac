package filter

import (
	"encoding/binary"
	"fmt"

	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// Matcher runs a classic BPF program over packets in user space, the way
// the kernel would run it on a socket. It is safe for concurrent use and
// allocates nothing per packet.
type Matcher struct {
	prog []bpf.RawInstruction
}

// Classic BPF instruction classes and fields (linux/filter.h).
const (
	clsLD   = 0x00
	clsLDX  = 0x01
	clsST   = 0x02
	clsSTX  = 0x03
	clsALU  = 0x04
	clsJMP  = 0x05
	clsRET  = 0x06
	clsMISC = 0x07

	modeIMM = 0x00
	modeABS = 0x20
	modeIND = 0x40
	modeMEM = 0x60
	modeLEN = 0x80
	modeMSH = 0xa0

	srcX = 0x08

	scratchSize = 16
)

// NewMatcher checks prog the way the kernel's classic BPF checker does
// (known opcodes, jumps inside the program, scratch slots in range, no
// division by a zero constant, a return at the end) and returns a Matcher
// for it. Programs that read the kernel's ancillary data (negative load
// offsets) are refused: a capture file has no such data.
func NewMatcher(prog []bpf.RawInstruction) (*Matcher, error) {
	if len(prog) == 0 || len(prog) > MaxInstructions {
		return nil, fmt.Errorf("filter: program has %d instructions; want 1 to %d", len(prog), MaxInstructions)
	}
	for pc, ins := range prog {
		bad := func(why string) error {
			return fmt.Errorf("filter: instruction %d (op %#x, k %d): %s", pc, ins.Op, ins.K, why)
		}
		switch ins.Op & 0x07 {
		case clsLD, clsLDX:
			mode := ins.Op & 0xe0
			size := ins.Op & 0x18
			switch {
			case ins.Op&0x07 == clsLD && (mode == modeABS || mode == modeIND) && size != 0x18:
				if int32(ins.K) < 0 {
					return nil, bad("ancillary data loads are not supported")
				}
			case ins.Op == clsLDX|modeMSH|0x10:
				if int32(ins.K) < 0 {
					return nil, bad("ancillary data loads are not supported")
				}
			case mode == modeIMM && size == 0, mode == modeLEN && size == 0:
			case mode == modeMEM && size == 0:
				if ins.K >= scratchSize {
					return nil, bad("scratch slot out of range")
				}
			default:
				return nil, bad("unknown load")
			}
		case clsST, clsSTX:
			if ins.Op&0xf8 != 0 {
				return nil, bad("unknown store")
			}
			if ins.K >= scratchSize {
				return nil, bad("scratch slot out of range")
			}
		case clsALU:
			switch ins.Op & 0xf0 {
			case 0x00, 0x10, 0x20, 0x40, 0x50, 0x60, 0x70, 0xa0: // add sub mul or and lsh rsh xor
			case 0x30, 0x90: // div mod
				if ins.Op&srcX == 0 && ins.K == 0 {
					return nil, bad("division by zero")
				}
			case 0x80: // neg
			default:
				return nil, bad("unknown ALU operation")
			}
		case clsJMP:
			switch ins.Op & 0xf0 {
			case 0x00: // ja
				if ins.Op != clsJMP || uint64(pc)+1+uint64(ins.K) >= uint64(len(prog)) {
					return nil, bad("jump out of range")
				}
			case 0x10, 0x20, 0x30, 0x40:
				if pc+1+int(max(ins.Jt, ins.Jf)) >= len(prog) {
					return nil, bad("jump out of range")
				}
			default:
				return nil, bad("unknown jump")
			}
		case clsRET:
			if ins.Op != clsRET && ins.Op != clsRET|0x10 {
				return nil, bad("unknown return")
			}
		case clsMISC:
			if ins.Op != clsMISC && ins.Op != clsMISC|0x80 {
				return nil, bad("unknown misc operation")
			}
		}
	}
	if last := prog[len(prog)-1].Op; last != clsRET && last != clsRET|0x10 {
		return nil, fmt.Errorf("filter: program does not end with a return")
	}
	return &Matcher{prog: append([]bpf.RawInstruction(nil), prog...)}, nil
}

// NewMatcherExpr compiles expr for linkType and returns its Matcher.
func NewMatcherExpr(expr string, linkType layers.LinkType) (*Matcher, error) {
	prog, err := Compile(expr, linkType, 262144)
	if err != nil {
		return nil, err
	}
	return NewMatcher(prog)
}

// Match reports whether the program accepts a packet: data holds the
// captured bytes, origLen its length on the wire (what "len" loads). As in
// the kernel, a load past the captured bytes rejects the packet.
func (m *Matcher) Match(data []byte, origLen int) bool {
	return m.Run(data, origLen) != 0
}

// Run runs the program and returns what it returned: the number of bytes
// to keep, 0 to drop the packet.
func (m *Matcher) Run(data []byte, origLen int) uint32 {
	k, _ := m.run(data, origLen)
	return k
}

// run is Run that also reports whether the program ended because it
// loaded past the captured bytes. The tests use that to tell a real
// disagreement with libpcap from one about truncated packets, which
// libpcap's optimiser does not preserve (it reorders loads).
func (m *Matcher) run(data []byte, origLen int) (uint32, bool) {
	var a, x uint32
	var mem [scratchSize]uint32
	prog := m.prog
	n := uint64(len(data))
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		k := ins.K
		switch ins.Op {
		case clsLD | modeABS | 0x00: // ld [k]
			if uint64(k)+4 > n {
				return 0, true
			}
			a = binary.BigEndian.Uint32(data[k:])
		case clsLD | modeABS | 0x08: // ldh [k]
			if uint64(k)+2 > n {
				return 0, true
			}
			a = uint32(binary.BigEndian.Uint16(data[k:]))
		case clsLD | modeABS | 0x10: // ldb [k]
			if uint64(k) >= n {
				return 0, true
			}
			a = uint32(data[k])
		case clsLD | modeIND | 0x00:
			off := uint64(x) + uint64(k)
			if off+4 > n {
				return 0, true
			}
			a = binary.BigEndian.Uint32(data[off:])
		case clsLD | modeIND | 0x08:
			off := uint64(x) + uint64(k)
			if off+2 > n {
				return 0, true
			}
			a = uint32(binary.BigEndian.Uint16(data[off:]))
		case clsLD | modeIND | 0x10:
			off := uint64(x) + uint64(k)
			if off >= n {
				return 0, true
			}
			a = uint32(data[off])
		case clsLD | modeIMM:
			a = k
		case clsLD | modeLEN:
			a = uint32(origLen)
		case clsLD | modeMEM:
			a = mem[k&(scratchSize-1)]
		case clsLDX | modeMSH | 0x10:
			if uint64(k) >= n {
				return 0, true
			}
			x = uint32(data[k]&0xf) * 4
		case clsLDX | modeIMM:
			x = k
		case clsLDX | modeLEN:
			x = uint32(origLen)
		case clsLDX | modeMEM:
			x = mem[k&(scratchSize-1)]
		case clsST:
			mem[k&(scratchSize-1)] = a
		case clsSTX:
			mem[k&(scratchSize-1)] = x
		case clsJMP: // ja
			pc += int(k)
		case clsJMP | 0x10: // jeq #k
			pc += jump(a == k, ins)
		case clsJMP | 0x20:
			pc += jump(a > k, ins)
		case clsJMP | 0x30:
			pc += jump(a >= k, ins)
		case clsJMP | 0x40:
			pc += jump(a&k != 0, ins)
		case clsJMP | 0x10 | srcX:
			pc += jump(a == x, ins)
		case clsJMP | 0x20 | srcX:
			pc += jump(a > x, ins)
		case clsJMP | 0x30 | srcX:
			pc += jump(a >= x, ins)
		case clsJMP | 0x40 | srcX:
			pc += jump(a&x != 0, ins)
		case clsRET:
			return k, false
		case clsRET | 0x10:
			return a, false
		case clsMISC: // tax
			x = a
		case clsMISC | 0x80: // txa
			a = x
		default:
			if ins.Op&0x07 != clsALU {
				return 0, false // NewMatcher admits no other opcode
			}
			operand := k
			if ins.Op&srcX != 0 {
				operand = x
			}
			var ok bool
			if a, ok = alu(ins.Op&0xf0, a, operand); !ok {
				return 0, false
			}
		}
	}
	return 0, false
}

func jump(cond bool, ins bpf.RawInstruction) int {
	if cond {
		return int(ins.Jt)
	}
	return int(ins.Jf)
}

// alu applies an ALU operation; division by zero ends the program with 0,
// as in the kernel.
func alu(op uint16, a, b uint32) (uint32, bool) {
	switch op {
	case 0x00:
		return a + b, true
	case 0x10:
		return a - b, true
	case 0x20:
		return a * b, true
	case 0x30:
		if b == 0 {
			return 0, false
		}
		return a / b, true
	case 0x40:
		return a | b, true
	case 0x50:
		return a & b, true
	case 0x60:
		if b >= 32 {
			return 0, true
		}
		return a << b, true
	case 0x70:
		if b >= 32 {
			return 0, true
		}
		return a >> b, true
	case 0x80:
		return -a, true
	case 0x90:
		if b == 0 {
			return 0, false
		}
		return a % b, true
	case 0xa0:
		return a ^ b, true
	}
	return 0, false
}
