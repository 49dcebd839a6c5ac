package main

import (
	"errors"
	"os"
	"strings"

	"github.com/gopacket/gopacket/layers"
	"github.com/urfave/cli/v2"

	"github.com/socktrace/socktrace/capture"
	"github.com/socktrace/socktrace/capture/filter"
)

// filterExpr is the capture filter: --filter, or the trailing arguments
// that follow the files, as tcpdump takes them.
func filterExpr(c *cli.Context, trailing []string) string {
	parts := trailing
	if f := c.String("filter"); f != "" {
		parts = append([]string{f}, parts...)
		if len(trailing) > 0 {
			// Both given: both must hold.
			return "(" + f + ") and (" + strings.Join(trailing, " ") + ")"
		}
	}
	return strings.Join(parts, " ")
}

// splitFiles separates replay's arguments into capture files and a
// trailing filter: the files come first, and the first argument that is
// not an existing file starts the filter (`socktrace replay a.pcap b.pcap
// tcp port 80`).
func splitFiles(args []string) (files, filterArgs []string) {
	for i, a := range args {
		if _, err := os.Stat(a); err != nil && i > 0 {
			return args[:i], args[i:]
		}
	}
	return args, nil
}

// matchFunc compiles expr once per link type it meets, and returns the
// packet matcher for decode.RunOptions. An empty expression matches
// everything (nil). The expression is checked up front, so that a typo,
// or a filter too large for classic BPF, is a usage error before any file
// is read.
//
// failed returns the first error compiling for a link type met later: a
// program that fits for Ethernet but not for another link type. The
// caller checks it after each file, so that such a filter is an error
// rather than a filter that silently matches nothing.
func matchFunc(expr string) (match func(*capture.Packet) bool, failed func() error, err error) {
	none := func() error { return nil }
	if strings.TrimSpace(expr) == "" {
		return nil, none, nil
	}
	if _, err := filter.Parse(expr); err != nil {
		return nil, none, usagef("%v", err)
	}
	type entry struct {
		m   *filter.Matcher
		err error
	}
	cache := make(map[layers.LinkType]entry)
	var firstErr error
	compile := func(lt layers.LinkType) entry {
		var e entry
		prog, err := filter.Compile(expr, lt, capture.MaxSnapLen)
		if err == nil {
			e.m, e.err = filter.NewMatcher(prog)
		} else {
			e.err = err
		}
		cache[lt] = e
		return e
	}
	if e := compile(layers.LinkTypeEthernet); e.err != nil {
		return nil, none, usagef("%v", e.err)
	}
	match = func(p *capture.Packet) bool {
		e, ok := cache[p.LinkType]
		if !ok {
			e = compile(p.LinkType)
			if e.err != nil && firstErr == nil && !errors.Is(e.err, filter.ErrLinkType) {
				firstErr = e.err
			}
		}
		// A link type the filter cannot read matches nothing, as with
		// libpcap, which refuses to compile for it.
		return e.err == nil && e.m.Match(p.Data, p.Length)
	}
	return match, func() error { return firstErr }, nil
}
