package filter

import (
	"cmp"
	"fmt"
	"slices"

	"golang.org/x/net/bpf"
)

// Classic BPF opcodes (linux/filter.h). They are spelled out rather than
// assembled from golang.org/x/net/bpf's instruction types because the
// layout below patches jump offsets after the fact.
const (
	opLdW    = 0x20 // ld  [k]
	opLdH    = 0x28 // ldh [k]
	opLdB    = 0x30 // ldb [k]
	opLdIndW = 0x40 // ld  [x + k]
	opLdIndH = 0x48 // ldh [x + k]
	opLdIndB = 0x50 // ldb [x + k]
	opLdxMSH = 0xb1 // ldxb 4*([k]&0xf)
	opAndK   = 0x54 // and #k
	opJA     = 0x05 // ja k
	opJEQ    = 0x15 // jeq #k
	opJGT    = 0x25 // jgt #k
	opJGE    = 0x35 // jge #k
	opJSET   = 0x45 // jset #k
	opRetK   = 0x06 // ret #k
)

// value is what a test compares: size bytes at off (from the start of the
// packet, or from X, the IPv4 header length, when ind is set), then ANDed
// with mask unless mask is 0. Two equal values always load the same number
// from a packet, which is what lets the optimiser reason about them.
type value struct {
	ind  bool
	size uint8
	off  uint32
	mask uint32
}

// test is one conditional jump: value op k.
type test struct {
	v  value
	op uint16
	k  uint32
}

type condKind uint8

const (
	kTrue condKind = iota
	kFalse
	kTest
	kAnd
	kOr
	kNot
)

// cond is a boolean combination of tests, evaluated left to right with
// short circuits, exactly as the generated code will evaluate it.
type cond struct {
	kind condKind
	t    test
	x, y *cond
}

var (
	cTrue  = &cond{kind: kTrue}
	cFalse = &cond{kind: kFalse}
)

func cTest(v value, op uint16, k uint32) *cond {
	return &cond{kind: kTest, t: test{v, op, k}}
}

func cAnd(x, y *cond) *cond {
	switch {
	case x.kind == kFalse || y.kind == kTrue:
		return x
	case x.kind == kTrue:
		return y
	}
	return &cond{kind: kAnd, x: x, y: y}
}

func cOr(x, y *cond) *cond {
	switch {
	case x.kind == kTrue || y.kind == kFalse:
		return x
	case x.kind == kFalse:
		return y
	}
	return &cond{kind: kOr, x: x, y: y}
}

func cNot(x *cond) *cond {
	switch x.kind {
	case kTrue:
		return cFalse
	case kFalse:
		return cTrue
	case kNot:
		return x.x
	}
	return &cond{kind: kNot, x: x}
}

// block is a node of the program's control-flow graph: a test with a
// successor for each outcome, or a return. Blocks are created successors
// first, so every edge goes from a higher id to a lower one and sorting by
// descending id gives a topological order.
type block struct {
	id     int
	ret    bool
	k      uint32 // return value
	t      test
	jt, jf *block

	// scratch for the passes below
	seen  bool
	in    []fact // facts true on every edge into the block
	rep   *block // merged into rep
	aIn   value  // what A holds on entry, when aKnown
	aKnwn bool
	xIn   bool // X holds the IPv4 header length on entry
	start int  // first instruction
	pre   []bpf.RawInstruction
	trT   bool // jt goes through a ja trampoline
	trF   bool
}

type graph struct {
	blocks []*block
}

func (g *graph) newBlock(b *block) *block {
	b.id = len(g.blocks)
	g.blocks = append(g.blocks, b)
	return b
}

// gen builds the blocks for c, jumping to t when it holds and f otherwise,
// and returns the entry block.
func (g *graph) gen(c *cond, t, f *block) *block {
	switch c.kind {
	case kTrue:
		return t
	case kFalse:
		return f
	case kNot:
		return g.gen(c.x, f, t)
	case kAnd:
		return g.gen(c.x, g.gen(c.y, t, f), f)
	case kOr:
		return g.gen(c.x, t, g.gen(c.y, t, f))
	}
	if t == f {
		return t
	}
	return g.newBlock(&block{t: c.t, jt: t, jf: f})
}

// maxBlocks bounds the graph the optimiser works on: it is quadratic in
// the worst case, and a graph this large does not fit in MaxInstructions
// unless most of it is redundant, which real filters are not.
const maxBlocks = 1 << 15

// generate compiles c to a program returning accept for a match.
func generate(c *cond, nl, accept uint32) ([]bpf.RawInstruction, error) {
	g := &graph{}
	rej := g.newBlock(&block{ret: true, k: 0})
	acc := g.newBlock(&block{ret: true, k: accept})
	entry := g.gen(c, acc, rej)
	if len(g.blocks) > maxBlocks {
		return nil, fmt.Errorf("expression needs %d tests before optimisation, more than %d; no program that large fits the kernel's limit of %d instructions", len(g.blocks), maxBlocks, MaxInstructions)
	}
	for range 8 {
		changed := g.thread(entry)
		changed = g.merge(entry) || changed
		if !changed {
			break
		}
		entry = g.resolve(entry)
	}
	return g.layout(entry, nl)
}

// reachable lists the blocks reachable from entry in topological order.
func reachable(entry *block) []*block {
	var out []*block
	var walk func(b *block)
	walk = func(b *block) {
		if b.seen {
			return
		}
		b.seen = true
		out = append(out, b)
		if !b.ret {
			walk(b.jt)
			walk(b.jf)
		}
	}
	walk(entry)
	for _, b := range out {
		b.seen = false
	}
	slices.SortFunc(out, func(a, b *block) int { return cmp.Compare(b.id, a.id) })
	return out
}

// fact records the outcome of a test on some path.
type fact struct {
	t   test
	out bool
}

// maxFacts bounds how many facts an edge carries. Dropping facts only
// loses optimisations, never correctness.
const maxFacts = 24

func addFact(fs []fact, f fact) []fact {
	out := make([]fact, 0, len(fs)+1)
	for _, x := range fs {
		if x.t == f.t {
			continue
		}
		out = append(out, x)
	}
	out = append(out, f)
	if len(out) > maxFacts {
		// Drop the oldest negative fact; "value == k" facts are
		// the ones that decide the most later tests.
		for i, x := range out {
			if !(x.t.op == opJEQ && x.out) {
				out = append(out[:i], out[i+1:]...)
				break
			}
		}
		if len(out) > maxFacts {
			out = out[1:]
		}
	}
	return out
}

func intersect(a, b []fact) []fact {
	out := a[:0:0]
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// decide reports the outcome of t when the facts determine it.
func decide(fs []fact, t test) (out, ok bool) {
	for _, f := range fs {
		if f.t.v != t.v {
			continue
		}
		if f.t.op == t.op && f.t.k == t.k {
			return f.out, true
		}
		if f.t.op == opJEQ && f.out {
			x := f.t.k
			switch t.op {
			case opJEQ:
				return x == t.k, true
			case opJGT:
				return x > t.k, true
			case opJGE:
				return x >= t.k, true
			case opJSET:
				return x&t.k != 0, true
			}
		}
	}
	return false, false
}

// thread redirects every edge whose target's test is already decided by
// the tests on the way to it (libpcap's jump threading): after
// "ethertype == IPv4" has succeeded, "ethertype == ARP" can only fail. It
// also skips blocks whose two successors are the same.
func (g *graph) thread(entry *block) bool {
	changed := false
	order := reachable(entry)
	for _, b := range order {
		b.in, b.seen = nil, false
	}
	for _, b := range order {
		if b.ret {
			continue
		}
		for _, branch := range []bool{true, false} {
			succ := b.jf
			if branch {
				succ = b.jt
			}
			ef := addFact(b.in, fact{b.t, branch})
			for !succ.ret {
				if succ.jt == succ.jf {
					succ = succ.jt
					continue
				}
				out, ok := decide(ef, succ.t)
				if !ok {
					break
				}
				if out {
					succ = succ.jt
				} else {
					succ = succ.jf
				}
			}
			if branch {
				changed = changed || b.jt != succ
				b.jt = succ
			} else {
				changed = changed || b.jf != succ
				b.jf = succ
			}
			if !succ.seen {
				succ.seen, succ.in = true, ef
			} else {
				succ.in = intersect(succ.in, ef)
			}
		}
	}
	for _, b := range order {
		b.seen, b.in = false, nil
	}
	return changed
}

// merge makes identical blocks (same test, same successors) one, keeping
// the one latest in the program so that every jump still goes forward.
func (g *graph) merge(entry *block) bool {
	type key struct {
		ret    bool
		k      uint32
		t      test
		jt, jf *block
	}
	order := reachable(entry)
	slices.Reverse(order) // successors first
	seen := make(map[key]*block, len(order))
	changed := false
	for _, b := range order {
		b.rep = nil
		if !b.ret {
			b.jt, b.jf = rep(b.jt), rep(b.jf)
		}
		if !b.ret && b.jt == b.jf {
			b.rep = b.jt
			changed = true
			continue
		}
		kk := key{ret: b.ret, k: b.k, t: b.t, jt: b.jt, jf: b.jf}
		if b.ret {
			kk.t, kk.jt, kk.jf = test{}, nil, nil
		}
		if r, ok := seen[kk]; ok {
			b.rep = r
			changed = true
			continue
		}
		seen[kk] = b
	}
	return changed
}

func rep(b *block) *block {
	for b.rep != nil {
		b = b.rep
	}
	return b
}

// resolve follows merges from entry and clears them.
func (g *graph) resolve(entry *block) *block {
	entry = rep(entry)
	for _, b := range reachable(entry) {
		b.rep = nil
	}
	return entry
}

func loadOp(v value) uint16 {
	switch {
	case v.ind && v.size == 4:
		return opLdIndW
	case v.ind && v.size == 2:
		return opLdIndH
	case v.ind:
		return opLdIndB
	case v.size == 4:
		return opLdW
	case v.size == 2:
		return opLdH
	}
	return opLdB
}

// layout places the blocks in topological order and emits them. Loads
// are skipped where A (or X) already holds the value on every path in.
//
// Conditional jumps reach at most 255 instructions ahead. A test that
// decides the verdict far from the end jumps to a copy of the return
// instead: "islands" of "ret" placed between blocks (nothing falls through
// from one block into the next, so any boundary will do) and shared by
// every test in range. Any other long jump goes through an unconditional
// "ja" (32-bit offset) placed right after the test.
func (g *graph) layout(entry *block, nl uint32) ([]bpf.RawInstruction, error) {
	order := reachable(entry)
	// Returns go last: a reject and an accept shared by every test.
	slices.SortStableFunc(order, func(a, b *block) int {
		switch {
		case a.ret && !b.ret:
			return 1
		case !a.ret && b.ret:
			return -1
		}
		return 0
	})
	for _, b := range order {
		b.seen = false
	}
	for _, b := range order {
		if b.ret {
			continue
		}
		if !b.seen { // entry: nothing known
			b.aKnwn, b.xIn = false, false
		}
		b.pre = b.pre[:0]
		if b.t.v.ind && !b.xIn {
			b.pre = append(b.pre, bpf.RawInstruction{Op: opLdxMSH, K: nl})
		}
		if !b.aKnwn || b.aIn != b.t.v {
			b.pre = append(b.pre, bpf.RawInstruction{Op: loadOp(b.t.v), K: b.t.v.off})
			if b.t.v.mask != 0 {
				b.pre = append(b.pre, bpf.RawInstruction{Op: opAndK, K: b.t.v.mask})
			}
		}
		xOut := b.xIn || b.t.v.ind
		for _, s := range []*block{b.jt, b.jf} {
			if s.ret {
				continue
			}
			if !s.seen {
				s.seen, s.aKnwn, s.aIn, s.xIn = true, true, b.t.v, xOut
				continue
			}
			if s.aIn != b.t.v {
				s.aKnwn = false
			}
			s.xIn = s.xIn && xOut
		}
	}

	items := order
	size := func(b *block) int {
		if b.ret {
			return 1
		}
		n := len(b.pre) + 1
		if b.trT {
			n++
		}
		if b.trF {
			n++
		}
		return n
	}
	// target returns where the jump of items[i] to s lands: s itself, or
	// for a return the first copy of it after items[i].
	target := func(i int, s *block) *block {
		if !s.ret {
			return s
		}
		for _, c := range items[i+1:] {
			if c.ret && c.k == s.k {
				return c
			}
		}
		return s
	}
	for restarts := 0; ; restarts++ {
		pos := 0
		for _, b := range items {
			b.start = pos
			pos += size(b)
		}
		if pos > MaxInstructions {
			return nil, fmt.Errorf("program needs %d instructions, more than the kernel's limit of %d", pos, MaxInstructions)
		}
		grew := false
	scan:
		for i, b := range items {
			if b.ret {
				continue
			}
			next := b.start + len(b.pre) + 1
			for _, isT := range []bool{true, false} {
				s := b.jf
				if isT {
					s = b.jt
				}
				if t := target(i, s); t.start-next <= 255 || (isT && b.trT) || (!isT && b.trF) {
					continue
				}
				if !s.ret {
					if isT {
						b.trT = true
					} else {
						b.trF = true
					}
					grew = true
					continue
				}
				// Put a copy of the return at the last block boundary
				// in reach, to serve the tests after this one too.
				j := i + 1
				for j+1 < len(items) && items[j+1].start-next <= 255 {
					j++
				}
				island := &block{ret: true, k: s.k}
				items = slices.Insert(items, j, island)
				grew = true
				break scan
			}
		}
		if !grew {
			break
		}
	}

	var prog []bpf.RawInstruction
	for i, b := range items {
		if b.ret {
			prog = append(prog, bpf.RawInstruction{Op: opRetK, K: b.k})
			continue
		}
		prog = append(prog, b.pre...)
		jmp := len(prog)
		next := jmp + 1
		jt, jf := target(i, b.jt), target(i, b.jf)
		ins := bpf.RawInstruction{Op: b.t.op, K: b.t.k}
		var tramp []bpf.RawInstruction
		if b.trT {
			ins.Jt = uint8(len(tramp))
			tramp = append(tramp, bpf.RawInstruction{Op: opJA, K: uint32(jt.start - (next + len(tramp) + 1))})
		}
		if b.trF {
			ins.Jf = uint8(len(tramp))
			tramp = append(tramp, bpf.RawInstruction{Op: opJA, K: uint32(jf.start - (next + len(tramp) + 1))})
		}
		if !b.trT {
			ins.Jt = uint8(jt.start - next)
		}
		if !b.trF {
			ins.Jf = uint8(jf.start - next)
		}
		prog = append(prog, ins)
		prog = append(prog, tramp...)
		if len(prog) != b.start+size(b) {
			return nil, fmt.Errorf("internal error: layout drifted at instruction %d", jmp)
		}
	}
	return prog, nil
}
