package main

import (
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
// everything (nil). The expression is checked up front, so that a typo is
// a usage error before any file is read.
func matchFunc(expr string) (func(*capture.Packet) bool, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil
	}
	if _, err := filter.Parse(expr); err != nil {
		return nil, usagef("%v", err)
	}
	type entry struct {
		m   *filter.Matcher
		err error
	}
	cache := make(map[layers.LinkType]entry)
	return func(p *capture.Packet) bool {
		e, ok := cache[p.LinkType]
		if !ok {
			prog, err := filter.Compile(expr, p.LinkType, capture.MaxSnapLen)
			if err == nil {
				e.m, e.err = filter.NewMatcher(prog)
			} else {
				e.err = err
			}
			cache[p.LinkType] = e
		}
		// A link type the filter cannot read matches nothing, as with
		// libpcap, which refuses to compile for it.
		return e.err == nil && e.m.Match(p.Data, p.Length)
	}, nil
}
