package filter

import (
	"fmt"
	"strings"
)

// regroup rewrites c into an equivalent condition that compiles to a
// shorter program, the way libpcap's optimiser reshapes its graphs:
//
//   - chains of "or" are flattened;
//   - operands that start with the same guard, And(g, x) or And(g, y),
//     become And(g, Or(x, y)), so "host a or host b" tests the Ethernet
//     type once rather than once per host;
//   - tests of the same value are put next to each other, so the value
//     is loaded once and compared many times ("ld [26]; jeq a; jeq b").
//
// "or" is commutative for a whole packet, so the verdicts do not change.
// On a packet cut short by the snap length they can: a reordered program
// may decide before, or instead of, a load past the end that the original
// would have made (which rejects the packet). libpcap's optimiser does the
// same, and the differential test allows exactly that difference.
func regroup(c *cond) *cond {
	switch c.kind {
	case kAnd:
		return cAnd(regroup(c.x), regroup(c.y))
	case kNot:
		return cNot(regroup(c.x))
	case kOr:
		return regroupOr(flattenOr(c, nil))
	}
	return c
}

func flattenOr(c *cond, out []*cond) []*cond {
	if c.kind == kOr {
		return flattenOr(c.y, flattenOr(c.x, out))
	}
	return append(out, c)
}

// regroupOr builds the disjunction of ops after grouping them by guard
// and ordering them by the value they test.
func regroupOr(ops []*cond) *cond {
	for i, op := range ops {
		ops[i] = regroup(op)
	}
	// Group And(g, x) operands by g, at the place of the first one.
	type group struct {
		guard *cond
		rest  []*cond
	}
	var order []any // *cond or *group
	groups := map[string]*group{}
	for _, op := range ops {
		if op.kind != kAnd {
			order = append(order, op)
			continue
		}
		k := condKey(op.x)
		if g, ok := groups[k]; ok {
			g.rest = append(g.rest, op.y)
			continue
		}
		g := &group{guard: op.x, rest: []*cond{op.y}}
		groups[k] = g
		order = append(order, g)
	}
	var flat []*cond
	for _, o := range order {
		switch o := o.(type) {
		case *cond:
			flat = append(flat, o)
		case *group:
			if len(o.rest) == 1 {
				flat = append(flat, cAnd(o.guard, o.rest[0]))
				continue
			}
			var inner []*cond
			for _, r := range o.rest {
				inner = flattenOr(r, inner)
			}
			flat = append(flat, cAnd(o.guard, regroupOr(inner)))
		}
	}
	// Bring tests of one value together, at the place of the first.
	done := make([]bool, len(flat))
	out := cFalse
	var last *cond
	add := func(c *cond) {
		if last == nil {
			out = c
		} else {
			out = cOr(out, c)
		}
		last = c
	}
	for i, c := range flat {
		if done[i] {
			continue
		}
		done[i] = true
		add(c)
		if c.kind != kTest {
			continue
		}
		for j := i + 1; j < len(flat); j++ {
			if !done[j] && flat[j].kind == kTest && flat[j].t.v == c.t.v {
				done[j] = true
				add(flat[j])
			}
		}
	}
	return out
}

// condKey is a structural key: equal keys, equal conditions.
func condKey(c *cond) string {
	var b strings.Builder
	var walk func(c *cond)
	walk = func(c *cond) {
		switch c.kind {
		case kTrue:
			b.WriteString("T")
		case kFalse:
			b.WriteString("F")
		case kTest:
			fmt.Fprintf(&b, "t%v", c.t)
		case kNot:
			b.WriteString("!(")
			walk(c.x)
			b.WriteString(")")
		case kAnd, kOr:
			b.WriteString([]string{kAnd: "&(", kOr: "|("}[c.kind])
			walk(c.x)
			b.WriteString(",")
			walk(c.y)
			b.WriteString(")")
		}
	}
	walk(c)
	return b.String()
}
